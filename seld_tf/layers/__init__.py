"""Registered custom Keras layers (import them from their modules)."""
