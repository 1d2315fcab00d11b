"""Graph Agreement Models for semi-supervised node classification."""

__version__ = "0.1.0"
