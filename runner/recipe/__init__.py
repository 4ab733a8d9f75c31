"""Recipes: load YAML safely with positions, validate against the schema, build a Recipe.

Import from the modules (runner.recipe.build, .loader, .validate): this package stays empty so
that importing runner.recipe.model, as every later stage does, loads no YAML or JSON Schema code.
"""
