"""One way in for every graph: `load_graph(name)`.

Names:
- `flickr_synthetic`, `flickr_synthetic_small`, `flickr_synthetic_large`: the
  Flickr-like generator (`synthetic`) at the sizes of `SYNTHETIC_SIZES`,
  generated in memory from `seed`. No TFDS build: a seed reproduces the graph
  in a fraction of a second, and the command line varies the seed and the
  share of cross-class edges, which TFDS configs fix
  (`flickr_cooccurrence/synthetic*` store the seed-0 graphs for `tfds.load`).
- Every TFDS name of this package's builders, e.g. `planetoid/cora` or
  `flickr_cooccurrence/graphsaint`: built once by the builder into
  `data_dir` (TFDS's default, `TFDS_DATA_DIR` or `~/tensorflow_datasets`),
  then read back from it.

The command line, the examples and the benchmarks all load through here:

  >>> graph = gam_datasets.load_graph("planetoid/cora", row_normalize=True)
  >>> graph = gam_datasets.load_graph("flickr_synthetic", seed=3)
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import numpy as np
import scipy.sparse as sp
import tensorflow_datasets as tfds

from gam_datasets import graph_records
from gam_datasets.planetoid.planetoid_dataset_builder import bundled_dir
from gam_datasets.planetoid_files import (PLANETOID_NAMES,
                                          check_planetoid_dir,
                                          planetoid_fingerprint)
from gam_datasets.synthetic import (SYNTHETIC_SIZES, FlickrLikeConfig,
                                    generate_flickr_like)
from gam_datasets.synthetic_multilabel import generate_multilabel_flickr_like
from graph_models.graph import Graph

PLANETOID_GRAPHS = tuple(f"planetoid/{name}" for name in PLANETOID_NAMES)
# The names the command line offers (any TFDS name of the builders loads too).
GRAPH_NAMES = tuple(SYNTHETIC_SIZES) + PLANETOID_GRAPHS


def load_graph(name: str, data_dir: Optional[os.PathLike] = None,
               manual_dir: Optional[os.PathLike] = None,
               download: bool = True, multilabel: bool = False, *,
               seed: int = 0,
               cross_class_edge_fraction: Optional[float] = None,
               num_concepts: int = 24, row_normalize: bool = False) -> Graph:
  """The graph called `name` (see the module docstring for the names).

  Args:
    name: a generated graph's name or a TFDS name.
    data_dir: the TFDS data directory (default: TFDS's).
    manual_dir: where a builder's manually downloaded files are; for
      Planetoid, the directory of the `ind.<name>.*` files (default: the
      package's own copy for Cora, else a download).
    download: prepare a TFDS dataset that is not built yet.
    multilabel: label each node with its multi-hot concepts: the generated
      graphs' `num_concepts` concepts per image, or the tag datasets'
      (`nus_wide`, `mirflickr`) `concepts`, instead of one class.
    seed: the generator's seed (generated graphs only).
    cross_class_edge_fraction: the generator's share of cross-class edges
      (generated graphs only; default: the generator's).
    num_concepts: concepts per generated multi-label graph.
    row_normalize: divide each node's features by their sum, as Kipf &
      Welling's GCN preprocesses Planetoid's bag of words (Planetoid only:
      the other graphs' features are not counts and come as stored).

  Raises:
    ValueError: an unknown name, or an option the graph does not take.
    PlanetoidFilesNotFoundError: `manual_dir` lacks Planetoid files.
  """
  if name in SYNTHETIC_SIZES:
    return _generated(name, multilabel, seed, cross_class_edge_fraction,
                      num_concepts)
  if "/" not in name:
    raise ValueError(f"unknown dataset {name!r}; choose one of "
                     f"{list(GRAPH_NAMES)} or a TFDS name of gam_datasets")
  if cross_class_edge_fraction is not None:
    raise ValueError("cross_class_edge_fraction applies to the generated "
                     f"graphs only, not {name}")
  if name.startswith("planetoid/"):
    if multilabel:
      raise ValueError(f"{name} has one label per node; multilabel is for "
                       "the generated and the tag graphs")
    graph = _planetoid(name, data_dir, manual_dir, download)
    return graph.row_normalized_features() if row_normalize else graph
  return _from_tfds(name, data_dir, manual_dir, download, multilabel)


def _generated(name: str, multilabel: bool, seed: int,
               cross_class_edge_fraction: Optional[float],
               num_concepts: int) -> Graph:
  options = dict(SYNTHETIC_SIZES[name], seed=seed)
  if cross_class_edge_fraction is not None:
    options["cross_class_edge_fraction"] = cross_class_edge_fraction
  config = FlickrLikeConfig(**options)
  if multilabel:
    return generate_multilabel_flickr_like(config, num_concepts)[0]
  return generate_flickr_like(config)


def _planetoid(name: str, data_dir: Optional[os.PathLike],
               manual_dir: Optional[os.PathLike], download: bool) -> Graph:
  """A Planetoid graph through its builder, rebuilt when the files it was
  built from are not the ones given now (TFDS alone would reuse it)."""
  config = name.split("/", 1)[1].split(":", 1)[0]
  if manual_dir is not None:
    check_planetoid_dir(manual_dir, config)
  files = manual_dir if manual_dir is not None else bundled_dir(config)
  builder = tfds.builder(name, data_dir=data_dir)
  mode = None
  if (files is not None and builder.is_prepared() and
      builder.info.metadata.get("source_sha256") !=
      planetoid_fingerprint(files, config)):
    mode = tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS
  graph = _from_tfds(name, data_dir, manual_dir, download, False, mode)
  # Bag-of-words features are 1-2% non-zero: they come back sparse, as the
  # files hold them and as the GCN's sparse first product wants them.
  return graph.replace(features=sp.csr_matrix(graph.features))


def _from_tfds(name: str, data_dir: Optional[os.PathLike],
               manual_dir: Optional[os.PathLike], download: bool,
               multilabel: bool,
               mode: Optional[tfds.download.GenerateMode] = None) -> Graph:
  table, info = graph_records.load_node_table(
      name, data_dir, manual_dir, download, mode=mode,
      extra_keys=("concepts",) if multilabel else ())
  if not multilabel:
    return table.to_graph(int(info.metadata["num_classes"]),
                          name=info.full_name)
  concepts = table.extra["concepts"].reshape(table.labels.size, -1)
  table = dataclasses.replace(table, labels=concepts.astype(np.int8))
  return table.to_graph(concepts.shape[1], name=info.full_name)
