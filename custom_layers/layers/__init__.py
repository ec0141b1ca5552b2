"""Custom layers written from the notes' formulas."""

from custom_layers.layers.dense import Dense

__all__ = ["Dense"]
