"""Recipes: load YAML safely with positions, validate against the schema, build a Recipe."""

from runner.recipe.build import load_recipe
from runner.recipe.loader import LoadedDocument, load_yaml, load_yaml_file
from runner.recipe.validate import recipe_schema, validate

__all__ = [
    "LoadedDocument",
    "load_recipe",
    "load_yaml",
    "load_yaml_file",
    "recipe_schema",
    "validate",
]
