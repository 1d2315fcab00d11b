"""Graph Agreement Models for semi-supervised node classification."""

__version__ = "0.1.0"

from gam.graph_regularization import GraphRegularizationModel  # pylint: disable=g-import-not-at-top

__all__ = ["GraphRegularizationModel"]
