"""Dataset readers, writers and label converters."""
