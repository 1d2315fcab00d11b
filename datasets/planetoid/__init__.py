"""The `planetoid` TFDS builder (Cora, Citeseer, Pubmed)."""

from gam_datasets.planetoid.planetoid_dataset_builder import Planetoid, PlanetoidConfig

__all__ = ["Planetoid", "PlanetoidConfig"]
