"""The JSON Schemas we publish (package data), and the generator of their registry-fed parts."""
