"""Runnable recipes: one per task type, custom_layers vs Keras built-ins."""
