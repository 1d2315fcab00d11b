"""Writes the tiny GraphSAINT-format graph of `dummy_data/graphsaint/`.

The four files have the layout and encoding of GraphSAINT's Flickr files
(`gam_datasets.graphsaint_files` describes them): a CSR matrix written by
`scipy.sparse.save_npz`, float32 features written by `np.save`, and JSON with
string node ids as keys. The graph is small enough to keep in the repository
and deterministic: running this script again rewrites the same files.

Nodes of a class link to each other and share a feature centroid, so a model
trained on the dummy data can beat chance.

Usage:
  python datasets/flickr_cooccurrence/make_graphsaint_dummy_data.py
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp

PathLike = Union[str, "os.PathLike[str]"]

DUMMY_DATA_DIR = pathlib.Path(__file__).resolve().parent / "dummy_data"
GRAPHSAINT_DUMMY_DIR = DUMMY_DATA_DIR / "graphsaint"


class GraphSAINTArrays(NamedTuple):
  """What `write_graphsaint_files` wrote, to compare a reader against."""

  adjacency: sp.csr_matrix
  features: np.ndarray
  labels: np.ndarray
  roles: Dict[str, List[int]]


def _class_edges(labels: np.ndarray, degree: int,
                 rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
  """Links each node to `degree` random other nodes of its class."""
  senders, receivers = [], []
  for node, label in enumerate(labels):
    peers = np.flatnonzero((labels == label) & (np.arange(labels.size) != node))
    picked = rng.choice(peers, size=min(degree, peers.size), replace=False)
    senders.extend([node] * picked.size)
    receivers.extend(picked.tolist())
  return np.asarray(senders), np.asarray(receivers)


def _symmetric_adjacency(senders: np.ndarray, receivers: np.ndarray,
                         num_nodes: int) -> sp.csr_matrix:
  pairs = sp.coo_matrix((np.ones(senders.size), (senders, receivers)),
                        shape=(num_nodes, num_nodes)).tocsr()
  adjacency = (pairs + pairs.T).tocsr()
  # An edge drawn from both ends is still one edge of weight 1.
  adjacency.data[:] = 1.0
  adjacency.sort_indices()
  return adjacency


def _roles(num_nodes: int, split_sizes: Sequence[int],
           rng: np.random.Generator) -> Dict[str, List[int]]:
  if sum(split_sizes) > num_nodes:
    raise ValueError(f"split sizes {tuple(split_sizes)} add up to more than "
                     f"the {num_nodes} nodes")
  order = rng.permutation(num_nodes)
  ends = np.cumsum(split_sizes)
  return {key: sorted(order[end - size:end].tolist())
          for key, size, end in zip(("tr", "va", "te"), split_sizes, ends)}


def write_graphsaint_files(directory: PathLike, num_nodes: int = 40,
                           num_classes: int = 7, num_features: int = 8,
                           split_sizes: Sequence[int] = (14, 10, 16),
                           degree: int = 2, seed: int = 0) -> GraphSAINTArrays:
  """Writes a random class-structured graph as the four GraphSAINT files.

  Args:
    directory: created if missing; its GraphSAINT files are overwritten.
    num_nodes: number of nodes, at least `num_classes` so every class occurs.
    num_classes: classes, spread evenly over the nodes.
    num_features: columns of `feats.npy`.
    split_sizes: sizes of the 'tr', 'va' and 'te' lists of `role.json`.
    degree: same-class neighbours drawn per node (before symmetrising).
    seed: seed of the numpy generator.

  Returns:
    The arrays written: `adjacency[i, j] == 1` for each edge of the symmetric
    graph, float32 features, the class of each node and the role lists.
  """
  if num_nodes < num_classes:
    raise ValueError(f"{num_nodes} nodes cannot cover {num_classes} classes")
  rng = np.random.default_rng(seed)
  labels = rng.permutation(np.arange(num_nodes) % num_classes)
  adjacency = _symmetric_adjacency(*_class_edges(labels, degree, rng),
                                   num_nodes)
  centroids = rng.normal(size=(num_classes, num_features))
  features = (centroids[labels] + 0.5 * rng.normal(
      size=(num_nodes, num_features))).astype(np.float32)
  roles = _roles(num_nodes, split_sizes, rng)

  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  sp.save_npz(directory / "adj_full.npz", adjacency)
  np.save(directory / "feats.npy", features)
  class_map = {str(node): int(label) for node, label in enumerate(labels)}
  (directory / "class_map.json").write_text(json.dumps(class_map))
  (directory / "role.json").write_text(json.dumps(roles))
  return GraphSAINTArrays(adjacency=adjacency, features=features,
                          labels=labels.astype(np.int64), roles=roles)


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--directory", default=str(GRAPHSAINT_DUMMY_DIR),
                      help="where to write the four files")
  args = parser.parse_args(argv)
  arrays = write_graphsaint_files(args.directory)
  print(f"wrote {args.directory}: {arrays.labels.size} nodes, "
        f"{arrays.adjacency.nnz} adjacency entries, "
        f"{arrays.features.shape[1]} features")


if __name__ == "__main__":
  main()
