"""Delivery: export the approved results, named, resized per channel, zipped, with a manifest."""
