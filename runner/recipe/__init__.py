"""Recipes: load YAML safely with positions, validate against the schema, build a Recipe."""
