"""Writes the tiny Planetoid-format graphs of `dummy_data/`.

One graph per config name (`ind.cora.*`, `ind.citeseer.*`, `ind.pubmed.*`),
in the format of the original files: `x`, `tx` and `allx` are pickled
float32 `scipy.sparse.csr_matrix`es, `y`, `ty` and `ally` pickled int32
one-hot numpy arrays, `graph` a pickled `collections.defaultdict(list)` of
adjacency lists (symmetric, with a repeated entry and a self-loop as in the
real files) and `test.index` one node id per line, in shuffled order.
Pickles use protocol 2 like the originals, but name the classes by the
module paths of today's numpy and scipy, where Python 2 wrote
`numpy.core.multiarray` and `scipy.sparse.csr`; the reader accepts both.
The feature and class counts are those of the real datasets, which the
builder's feature spec fixes.

Validation is the 500 nodes after the training nodes, as in the real split,
so each graph has 527 nodes: 12 train, 500 validation, 10 test and 5
unlabeled; every name has the same split sizes so that one builder test
covers the three. Citeseer's `test.index` skips two ids, like the real one
skips 15, and those two nodes are its unlabeled nodes past `allx`.
Running the script again rewrites the same files.

Usage:
  python datasets/planetoid/make_dummy_data.py
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import pathlib
import pickle
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp

from gam_datasets.planetoid_files import NUM_VAL

PathLike = Union[str, "os.PathLike[str]"]

DUMMY_DATA_DIR = pathlib.Path(__file__).resolve().parent / "dummy_data"
# Words a node draws from its class's block of the vocabulary, and at random.
CLASS_WORDS, RANDOM_WORDS = 3, 2
NEIGHBOURS = 2


@dataclasses.dataclass(frozen=True)
class DummySpec:
  """One dummy graph.

  Attributes:
    name: the `ind.<name>.*` prefix.
    num_features: feature columns.
    num_classes: label columns.
    num_train: training nodes (the rows of `x` and `y`).
    num_rest: nodes of `allx` after the validation nodes.
    num_test: rows of `tx` and lines of `test.index`.
    test_gaps: offsets past `allx` that `test.index` skips.
    binary: 0/1 word features (Cora, Citeseer) rather than TF-IDF (Pubmed).
    seed: seed of the numpy generator.
  """
  name: str
  num_features: int
  num_classes: int
  num_train: int = 12
  num_rest: int = 5
  num_test: int = 10
  test_gaps: Tuple[int, ...] = ()
  binary: bool = True
  seed: int = 0

  @property
  def num_before_test(self) -> int:
    return self.num_train + NUM_VAL + self.num_rest

  @property
  def num_nodes(self) -> int:
    return self.num_before_test + self.num_test + len(self.test_gaps)


SPECS = (
    DummySpec("cora", num_features=1433, num_classes=7, seed=1),
    DummySpec("citeseer", num_features=3703, num_classes=6, num_rest=3,
              test_gaps=(3, 7), seed=2),
    DummySpec("pubmed", num_features=500, num_classes=3, binary=False,
              seed=3),
)


@dataclasses.dataclass(frozen=True)
class DummyGraph:
  """What `write_planetoid_files` wrote, to compare a reader against."""
  features: sp.csr_matrix  # rows of node ids; zero rows at test gaps
  labels: np.ndarray  # class per node, -1 at test gaps
  test_index: np.ndarray
  adjacency: Dict[int, list]


def _features(spec: DummySpec, labels: np.ndarray,
              rng: np.random.Generator) -> sp.csr_matrix:
  block = spec.num_features // spec.num_classes
  rows, cols = [], []
  for node, label in enumerate(labels):
    if label < 0:
      continue
    words = np.concatenate([
        label * block + rng.choice(block, CLASS_WORDS, replace=False),
        rng.choice(spec.num_features, RANDOM_WORDS, replace=False)])
    words = np.unique(words)
    rows.extend([node] * words.size)
    cols.extend(words.tolist())
  if spec.binary:
    values = np.ones(len(rows), dtype=np.float32)
  else:
    values = np.round(rng.uniform(0.01, 0.2, len(rows)), 4).astype(np.float32)
  return sp.csr_matrix((values, (rows, cols)),
                       shape=(labels.size, spec.num_features),
                       dtype=np.float32)


def _adjacency(labels: np.ndarray,
               rng: np.random.Generator) -> Dict[int, list]:
  """Links each labelled node to random others of its class, both ways."""
  # Every node has an entry, as in the real files.
  graph: Dict[int, list] = collections.defaultdict(
      list, {node: [] for node in range(labels.size)})
  for node, label in enumerate(labels):
    if label < 0:
      continue
    peers = np.flatnonzero((labels == label) & (np.arange(labels.size) != node))
    for peer in rng.choice(peers, NEIGHBOURS, replace=False).tolist():
      if peer not in graph[node]:
        graph[node].append(peer)
        graph[peer].append(node)
  # The real files repeat some entries (Cora) and have self-loops (Citeseer,
  # Pubmed); the reader drops both.
  peer = graph[1][0]
  graph[1].append(peer)
  graph[peer].append(1)
  graph[0].append(0)
  return graph


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
  one_hot = np.zeros((labels.size, num_classes), dtype=np.int32)
  labelled = labels >= 0
  one_hot[labelled, labels[labelled]] = 1
  return one_hot


def _dump(value, path: pathlib.Path) -> None:
  with open(path, "wb") as file:
    pickle.dump(value, file, protocol=2)


def write_planetoid_files(directory: PathLike, spec: DummySpec) -> DummyGraph:
  """Writes the eight `ind.<spec.name>.*` files of a random graph.

  Returns:
    The graph written, in node-id order.
  """
  rng = np.random.default_rng(spec.seed)
  labels = rng.integers(spec.num_classes, size=spec.num_nodes)
  # Every class is trained on.
  labels[:spec.num_train] = np.arange(spec.num_train) % spec.num_classes
  gaps = spec.num_before_test + np.asarray(spec.test_gaps, dtype=np.int64)
  labels[gaps] = -1
  features = _features(spec, labels, rng)
  adjacency = _adjacency(labels, rng)
  test_ids = np.setdiff1d(np.arange(spec.num_before_test, spec.num_nodes),
                          gaps)
  test_index = rng.permutation(test_ids)
  one_hot = _one_hot(labels, spec.num_classes)

  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  before_test = slice(0, spec.num_before_test)
  train = slice(0, spec.num_train)
  for suffix, value in (
      ("x", features[train]), ("y", one_hot[train]),
      ("allx", features[before_test]), ("ally", one_hot[before_test]),
      ("tx", features[test_index]), ("ty", one_hot[test_index]),
      ("graph", adjacency)):
    _dump(value, directory / f"ind.{spec.name}.{suffix}")
  (directory / f"ind.{spec.name}.test.index").write_text(
      "".join(f"{node}\n" for node in test_index.tolist()))
  return DummyGraph(features=features, labels=labels.astype(np.int64),
                    test_index=test_index, adjacency=dict(adjacency))


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--directory", default=str(DUMMY_DATA_DIR),
                      help="where to write the files")
  args = parser.parse_args(argv)
  for spec in SPECS:
    graph = write_planetoid_files(args.directory, spec)
    print(f"wrote ind.{spec.name}.* to {args.directory}: "
          f"{graph.labels.size} nodes, {graph.features.nnz} feature entries")


if __name__ == "__main__":
  main()
