"""The `planetoid` TFDS builder (Cora, Citeseer, Pubmed)."""

from gam_datasets.planetoid.planetoid_builder import Planetoid, PlanetoidConfig

__all__ = ["Planetoid", "PlanetoidConfig"]
