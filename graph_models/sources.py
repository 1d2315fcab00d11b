"""Graphs by name: the embedded Flickr-like default and Planetoid directories.

Names: `flickr_synthetic` (generated, no download; `flickr_synthetic_small`
and `flickr_synthetic_large` for other sizes) and `planetoid/<name>` (read from
`data_dir` holding the `ind.<name>.*` files). The synthetic graphs also come
as a multi-label task (`task="multilabel"`: concept sets per image, see
`synthetic_multilabel`).
"""

from __future__ import annotations

import os
from typing import Optional

from graph_models.graph import Graph
from graph_models.planetoid import PLANETOID_NAMES, load_planetoid
from graph_models.synthetic import FlickrLikeConfig, generate_flickr_like
from graph_models.synthetic_multilabel import generate_multilabel_flickr_like

TASKS = ("single", "multilabel")

SYNTHETIC_SIZES = {
    "flickr_synthetic_small": dict(num_nodes=600, num_val=100, num_test=200,
                                   num_features=32),
    "flickr_synthetic": {},
    "flickr_synthetic_large": dict(num_nodes=100_000, num_features=128),
}
GRAPH_NAMES = tuple(SYNTHETIC_SIZES) + tuple(f"planetoid/{name}"
                                             for name in PLANETOID_NAMES)


def load_graph(name: str, data_dir: Optional[os.PathLike] = None,
               seed: int = 0, cross_class_edge_fraction: Optional[float] = None,
               task: str = "single", num_concepts: int = 24,
               row_normalize: bool = True) -> Graph:
  """Loads graph `name` (see `GRAPH_NAMES`).

  Planetoid bag-of-words features are row-normalised, as in Kipf's GCN,
  unless `row_normalize` is false (the GAM reference reads them raw).

  Args:
    name: `flickr_synthetic[_small|_large]` or `planetoid/<name>`.
    data_dir: directory of the Planetoid files (required for Planetoid).
    seed: generator seed of the synthetic graphs.
    cross_class_edge_fraction: share of noisy edges of the synthetic graphs
      (default: the generator's).
    task: "single" (one class per node) or "multilabel" (synthetic graphs:
      `num_concepts` concepts per image).
  """
  if task not in TASKS:
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")
  if name in SYNTHETIC_SIZES:
    options = dict(SYNTHETIC_SIZES[name], seed=seed)
    if cross_class_edge_fraction is not None:
      options["cross_class_edge_fraction"] = cross_class_edge_fraction
    config = FlickrLikeConfig(**options)
    if task == "multilabel":
      return generate_multilabel_flickr_like(config, num_concepts)[0]
    return generate_flickr_like(config)
  if task != "single":
    raise ValueError(f"{name} has one label per node; task={task!r} is "
                     "available for the synthetic graphs")
  if name.startswith("planetoid/"):
    if cross_class_edge_fraction is not None:
      raise ValueError("cross_class_edge_fraction applies to the synthetic "
                       "graphs only")
    if data_dir is None:
      raise ValueError(f"{name} needs data_dir: the directory holding the "
                       f"ind.{name.split('/', 1)[1]}.* files")
    graph = load_planetoid(data_dir, name.split("/", 1)[1])
    return graph.row_normalized_features() if row_normalize else graph
  raise ValueError(f"unknown dataset {name!r}; choose one of "
                   f"{list(GRAPH_NAMES)}")
