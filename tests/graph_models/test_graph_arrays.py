"""Graphs saved as `.npy` arrays and memory-mapped back."""

import json
import mmap

import numpy as np
import pytest
import scipy.sparse as sp

from graph_models import neighbor_packing
from graph_models.errors import InputError
from graph_models.graph_arrays import load_arrays, save_arrays
from tests.graph_models.random_graphs import random_graph


def _mapped(array) -> bool:
  """Whether `array` is a view of a memory map."""
  while array is not None and not isinstance(array, (np.memmap, mmap.mmap)):
    array = getattr(array, "base", None)
  return array is not None


def _assert_same_graph(got, expected):
  assert (got.name, got.num_classes) == (expected.name, expected.num_classes)
  np.testing.assert_array_equal(got.dense_features(),
                                expected.dense_features())
  assert (got.adjacency != expected.adjacency).nnz == 0
  for field in ("labels", "train_mask", "val_mask", "test_mask"):
    np.testing.assert_array_equal(getattr(got, field), getattr(expected, field))


@pytest.mark.parametrize("sparse", [False, True])
def test_a_saved_graph_maps_back_equal(tmp_path, sparse):
  graph = random_graph(20)
  if sparse:
    graph = graph.replace(features=sp.csr_matrix(graph.features))
  loaded = load_arrays(save_arrays(graph, tmp_path / "g"))
  _assert_same_graph(loaded, graph)
  assert sp.issparse(loaded.features) == sparse
  # Memory-mapped, not read in: the arrays are views of the files' maps.
  assert _mapped(loaded.features.data if sparse else loaded.features)
  assert _mapped(loaded.adjacency.indices)


def test_a_mapped_graph_packs_the_same_batches(tmp_path):
  graph = random_graph(20)
  loaded = load_arrays(save_arrays(graph, tmp_path / "g"))
  batches = [next(iter(neighbor_packing.packed_dataset(g, range(6), 3, 6)))
             for g in (graph, loaded)]
  for key, value in batches[0][0].items():
    np.testing.assert_array_equal(batches[1][0][key], value, err_msg=key)


def test_loading_names_the_missing_or_malformed_file(tmp_path):
  directory = save_arrays(random_graph(20), tmp_path / "g")
  (directory / "val_mask.npy").unlink()
  with pytest.raises(InputError, match=r"val_mask\.npy: missing"):
    load_arrays(directory)
  np.save(directory / "adjacency_indptr.npy", np.zeros(3, np.int32))
  with pytest.raises(InputError, match=r"adjacency_indptr\.npy: expected 21"):
    load_arrays(directory)
  (directory / "graph.json").write_text(json.dumps({"name": "g"}))
  with pytest.raises(InputError, match=r"graph\.json: malformed"):
    load_arrays(directory)
  (directory / "graph.json").unlink()
  with pytest.raises(InputError, match=r"graph\.json: missing"):
    load_arrays(directory)
  (tmp_path / "h").mkdir()
  np.save(tmp_path / "h" / "x.npy", np.zeros(1))
  save_arrays(random_graph(20), tmp_path / "h")
  (tmp_path / "h" / "labels.npy").write_bytes(b"not an array")
  with pytest.raises(InputError, match=r"labels\.npy: not a NumPy array"):
    load_arrays(tmp_path / "h")


def test_a_save_interrupted_over_an_earlier_graph_does_not_load(
    tmp_path, monkeypatch):
  directory = save_arrays(random_graph(20), tmp_path / "g")
  def interrupted(path, array):
    raise KeyboardInterrupt
  monkeypatch.setattr(np, "save", interrupted)
  with pytest.raises(KeyboardInterrupt):
    save_arrays(random_graph(30), directory)
  monkeypatch.undo()
  with pytest.raises(InputError, match=r"graph\.json: missing"):
    load_arrays(directory)
