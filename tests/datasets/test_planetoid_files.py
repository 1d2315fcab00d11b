"""Tests for the Planetoid loader, on the real Cora files and tiny fakes."""

import collections
import os
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from graph_models.graph import UNLABELED
from gam_datasets.planetoid_files import (PLANETOID_FILES, PLANETOID_NAMES,
                                    PlanetoidError, PlanetoidFilesNotFoundError,
                                    load_planetoid, planetoid_paths)
from gam_datasets.safe_pickle import (CorruptFileError, UnsafePickleError,
                                      load_pickle)


def _write_planetoid(directory, name="tiny", **parts):
  """Writes ind.<name>.* files the way Planetoid did (pickle protocol 2)."""
  directory.mkdir(parents=True, exist_ok=True)
  for suffix, value in parts.items():
    if suffix == "test_index":
      text = "".join(f"{i}\n" for i in value) if not isinstance(
          value, str) else value
      (directory / f"ind.{name}.test.index").write_text(text)
    else:
      with open(directory / f"ind.{name}.{suffix}", "wb") as file:
        pickle.dump(value, file, protocol=2)
  return directory


def _tiny_parts():
  """10 nodes, 2 classes; Citeseer-like: test.index skips node 7.

  Node i has feature i + 1 in column i % 3, so rows can be traced. Nodes
  0-1 train, 2-3 val (num_val=2), 0-5 in allx (node 4 has no label), test
  nodes listed out of order as 9, 6, 8.
  """
  def features(nodes):
    rows = np.zeros((len(nodes), 3), dtype=np.float32)
    for row, node in enumerate(nodes):
      rows[row, node % 3] = node + 1
    return sp.csr_matrix(rows)

  node_labels = {0: 0, 1: 1, 2: 1, 3: 0, 5: 1, 6: 0, 8: 1, 9: 1}

  def one_hot(nodes):
    rows = np.zeros((len(nodes), 2), dtype=np.int32)
    for row, node in enumerate(nodes):
      if node in node_labels:
        rows[row, node_labels[node]] = 1
    return rows

  test_index = [9, 6, 8]
  graph = collections.defaultdict(list)
  graph[0].extend([1, 1, 2])  # duplicate edge
  graph[1].append(0)
  graph[3].extend([3, 9])     # self-loop, and an edge listed one way only
  graph[6].append(8)
  graph[8].append(6)
  graph[7]                    # pylint: disable=pointless-statement
  return dict(x=features([0, 1]), y=one_hot([0, 1]),
              allx=features(range(6)), ally=one_hot(range(6)),
              tx=features(test_index), ty=one_hot(test_index),
              graph=graph, test_index=test_index)


@pytest.fixture
def tiny_dir(tmp_path):
  return _write_planetoid(tmp_path / "tiny", **_tiny_parts())


@pytest.fixture(scope="module")
def cora(cora_dir):
  return load_planetoid(cora_dir, "cora")


# Real Cora --------------------------------------------------------------------


def test_cora_sizes(cora):
  assert cora.name == "cora"
  assert cora.num_nodes == 2708
  assert cora.num_features == 1433
  assert cora.num_classes == 7
  assert sp.issparse(cora.features) and cora.features.format == "csr"
  assert cora.features.dtype == np.float32
  np.testing.assert_array_equal(np.unique(cora.features.data), [1.0])


def test_cora_split(cora, cora_dir):
  np.testing.assert_array_equal(cora.split_nodes("train"), np.arange(140))
  np.testing.assert_array_equal(cora.split_nodes("val"), np.arange(140, 640))
  test_index = np.loadtxt(cora_dir / "ind.cora.test.index", dtype=np.int64)
  np.testing.assert_array_equal(cora.split_nodes("test"), np.sort(test_index))
  assert cora.split_nodes("test").size == 1000
  # Every Cora node has a label, 20 training nodes per class.
  assert (cora.labels != UNLABELED).all()
  np.testing.assert_array_equal(np.bincount(cora.labels[cora.train_mask]),
                                [20] * 7)
  np.testing.assert_array_equal(np.bincount(cora.labels),
                                [351, 217, 418, 818, 426, 298, 180])


def test_cora_edges(cora):
  adjacency = cora.adjacency
  # The file lists 10858 neighbour entries; 302 are repeats, leaving 10556
  # directed edges = 5278 undirected ones, all listed both ways.
  assert adjacency.nnz == 10556
  assert adjacency.nnz // 2 == 5278
  assert adjacency.diagonal().sum() == 0
  assert (adjacency != adjacency.T).nnz == 0
  np.testing.assert_array_equal(adjacency.data, 1.0)


def test_cora_matches_kipf_load_data(cora, cora_dir):
  """Recomputes features and labels exactly as gcn/utils.py load_data."""
  parts = {s: load_pickle(cora_dir / f"ind.cora.{s}")
           for s in ("tx", "ty", "allx", "ally")}
  test_idx_reorder = np.loadtxt(cora_dir / "ind.cora.test.index",
                                dtype=np.int64)
  test_idx_range = np.sort(test_idx_reorder)
  features = sp.vstack((parts["allx"], parts["tx"])).tolil()
  features[test_idx_reorder, :] = features[test_idx_range, :]
  labels = np.vstack((parts["ally"], parts["ty"]))
  labels[test_idx_reorder, :] = labels[test_idx_range, :]
  assert (cora.features != features.tocsr()).nnz == 0
  np.testing.assert_array_equal(cora.labels, labels.argmax(axis=1))
  # test.index is not sorted, so the reordering matters.
  assert not (test_idx_reorder == test_idx_range).all()
  assert (cora.features[test_idx_reorder[0]] != parts["tx"][0]).nnz == 0


def test_cora_adjacency_matches_networkx(cora, cora_dir):
  nx = pytest.importorskip("networkx")
  graph = nx.from_dict_of_lists(load_pickle(cora_dir / "ind.cora.graph"))
  expected = nx.adjacency_matrix(graph, nodelist=range(2708))
  assert (cora.adjacency != expected).nnz == 0


def test_truncated_cora_file(tmp_path, cora_dir):
  # The real files are linked, not copied; only the damaged one is a copy.
  for suffix in PLANETOID_FILES:
    (tmp_path / f"ind.cora.{suffix}").symlink_to(cora_dir /
                                                  f"ind.cora.{suffix}")
  damaged = tmp_path / "ind.cora.graph"
  data = damaged.read_bytes()
  damaged.unlink()
  damaged.write_bytes(data[:len(data) // 3])
  with pytest.raises(CorruptFileError,
                     match=r"ind\.cora\.graph: truncated or corrupt pickle"):
    load_planetoid(tmp_path, "cora")


# Citeseer-style gaps and label handling --------------------------------------


def test_tiny_dataset_layout(tiny_dir):
  graph = load_planetoid(tiny_dir, "tiny", num_val=2)
  assert graph.name == "tiny" and graph.num_nodes == 10
  assert graph.num_classes == 2
  np.testing.assert_array_equal(graph.split_nodes("train"), [0, 1])
  np.testing.assert_array_equal(graph.split_nodes("val"), [2, 3])
  np.testing.assert_array_equal(graph.split_nodes("test"), [6, 8, 9])
  # tx rows went to the nodes test.index names, not to sorted positions.
  dense = graph.dense_features()
  for node in (0, 1, 2, 3, 4, 5, 6, 8, 9):
    expected = np.zeros(3, dtype=np.float32)
    expected[node % 3] = node + 1
    np.testing.assert_array_equal(dense[node], expected)
  np.testing.assert_array_equal(
      graph.labels, [0, 1, 1, 0, UNLABELED, 1, 0, UNLABELED, 1, 1])


def test_tiny_dataset_padded_node(tiny_dir):
  graph = load_planetoid(tiny_dir, "tiny", num_val=2)
  # Node 7 is missing from test.index (as Citeseer's isolated test nodes):
  # kept, with zero features, no label and in no split.
  assert graph.labels[7] == UNLABELED
  assert graph.features[7].nnz == 0
  assert not (graph.train_mask[7] or graph.val_mask[7] or graph.test_mask[7])


def test_tiny_dataset_edges(tiny_dir):
  graph = load_planetoid(tiny_dir, "tiny", num_val=2)
  adjacency = graph.adjacency.toarray()
  expected = np.zeros((10, 10), dtype=np.float32)
  for a, b in ((0, 1), (0, 2), (3, 9), (6, 8)):
    expected[a, b] = expected[b, a] = 1
  np.testing.assert_array_equal(adjacency, expected)


def test_all_zero_training_label_is_an_error(tmp_path):
  parts = _tiny_parts()
  parts["ally"][1] = 0
  directory = _write_planetoid(tmp_path, **parts)
  with pytest.raises(PlanetoidError, match=r"ind\.tiny\.ally.*\[1\]"):
    load_planetoid(directory, "tiny", num_val=2)


# Errors name their files ------------------------------------------------------


def test_missing_directory(tmp_path):
  with pytest.raises(PlanetoidFilesNotFoundError, match="nowhere"):
    load_planetoid(tmp_path / "nowhere", "cora")


def test_missing_files_are_all_named(tiny_dir):
  (tiny_dir / "ind.tiny.ty").unlink()
  (tiny_dir / "ind.tiny.test.index").unlink()
  with pytest.raises(FileNotFoundError) as raised:
    load_planetoid(tiny_dir, "tiny", num_val=2)
  message = str(raised.value)
  assert "ind.tiny.ty" in message and "ind.tiny.test.index" in message
  assert str(tiny_dir) in message
  assert "ind.tiny.tx" not in message


def test_wrong_name_names_the_files(tiny_dir):
  with pytest.raises(PlanetoidFilesNotFoundError, match=r"ind\.cora\.x\b"):
    load_planetoid(tiny_dir, "cora")


def test_graph_with_unknown_node(tmp_path):
  parts = _tiny_parts()
  parts["graph"][2].extend([42, 10])
  directory = _write_planetoid(tmp_path, **parts)
  with pytest.raises(PlanetoidError,
                     match=r"ind\.tiny\.graph.*\[0, 10\).*\[10, 42\]"):
    load_planetoid(directory, "tiny", num_val=2)


def test_errors_name_the_directory(tmp_path):
  parts = _tiny_parts()
  parts["graph"][2].append(42)
  directory = _write_planetoid(tmp_path / "somewhere", **parts)
  with pytest.raises(PlanetoidError, match=rf"\(in {directory}\)$"):
    load_planetoid(directory, "tiny", num_val=2)


def test_bad_num_val(tiny_dir):
  with pytest.raises(ValueError, match="num_val"):
    load_planetoid(tiny_dir, "tiny", num_val=-1)


def test_graph_with_unknown_key(tmp_path):
  parts = _tiny_parts()
  parts["graph"][-1].append(0)
  directory = _write_planetoid(tmp_path, **parts)
  with pytest.raises(PlanetoidError, match=r"ind\.tiny\.graph.*\[-1\]"):
    load_planetoid(directory, "tiny", num_val=2)


@pytest.mark.parametrize("graph, match", [
    ([[1], [0]], "expected a dict"),
    ({0: ["1"]}, "neighbour ids must be integers"),
    ({0: [1.5]}, "neighbour ids must be integers"),
    ({"a": [1]}, "node id 'a' is not an integer"),
    ({0: 1}, "the neighbours of node 0 are int"),
    ({0: [2**70]}, "neighbour ids must be integers"),
    ({2**70: [1]}, "node ids do not fit in 64 bits"),
])
def test_malformed_graph(tmp_path, graph, match):
  directory = _write_planetoid(tmp_path, **{**_tiny_parts(), "graph": graph})
  with pytest.raises(PlanetoidError, match=rf"ind\.tiny\.graph: {match}"):
    load_planetoid(directory, "tiny", num_val=2)


@pytest.mark.parametrize("suffix, other, rows, other_rows", [
    ("y", "x", 1, 2), ("ally", "allx", 5, 6), ("ty", "tx", 2, 3)])
def test_mismatched_rows(tmp_path, suffix, other, rows, other_rows):
  parts = _tiny_parts()
  parts[suffix] = parts[suffix][:rows]
  directory = _write_planetoid(tmp_path, **parts)
  with pytest.raises(PlanetoidError) as raised:
    load_planetoid(directory, "tiny", num_val=2)
  message = str(raised.value)
  assert f"ind.tiny.{other} has {other_rows} rows" in message
  assert f"ind.tiny.{suffix} has {rows}" in message


def test_tx_rows_disagree_with_test_index(tmp_path):
  directory = _write_planetoid(tmp_path, **{**_tiny_parts(),
                                            "test_index": [9, 6]})
  with pytest.raises(PlanetoidError,
                     match=r"ind\.tiny\.tx has 3 rows.*test\.index has 2"):
    load_planetoid(directory, "tiny", num_val=2)


def test_feature_widths_disagree(tmp_path):
  parts = _tiny_parts()
  parts["tx"] = sp.csr_matrix(np.ones((3, 4), dtype=np.float32))
  directory = _write_planetoid(tmp_path, **parts)
  with pytest.raises(PlanetoidError, match=r"ind\.tiny\.tx has 4"):
    load_planetoid(directory, "tiny", num_val=2)


def _corrupt(matrix, **fields):
  """`matrix` with raw fields replaced, as unpickling garbage leaves it."""
  matrix = matrix.copy()
  vars(matrix).update(fields)
  return matrix


@pytest.mark.parametrize("fields, match", [
    # A flipped high bit in one column index of Cora's tx crashed scipy.
    (dict(indices=np.array([0, 268436764, 2])),
     r"indices \[268436764\] at entries \[1\] are outside \[0, 3\)"),
    (dict(indptr=np.array([0, 2, 1, 3])), "non-decreasing offsets"),
    (dict(indices=np.array([0.0, 1.0, 2.0])), "`indices` is not a 1-D "
                                              "integer array"),
    (dict(_shape=(3, -1)), "shape .* is not two non-negative integers"),
])
def test_corrupt_sparse_features_are_refused_before_scipy_reads_them(
    tmp_path, fields, match):
  parts = _tiny_parts()
  parts["tx"] = _corrupt(sp.csr_matrix(np.eye(3, dtype=np.float32)), **fields)
  directory = _write_planetoid(tmp_path, **parts)
  with pytest.raises(PlanetoidError, match=r"ind\.tiny\.tx: corrupt sparse "
                                           r"matrix: .*" + match):
    load_planetoid(directory, "tiny", num_val=2)


@pytest.mark.parametrize("text, match", [
    ("9\n6\nabc\n", r"line 3 is 'abc'"),
    ("9\n6.5\n8\n", r"line 2 is '6\.5'"),
    ("", "names no test nodes"),
    ("9\n6\n9\n", r"node ids listed more than once: \[9\]"),
    ("9\n-6\n8\n", r"negative node ids \[-6\]"),
])
def test_bad_test_index(tmp_path, text, match):
  directory = _write_planetoid(tmp_path, **{**_tiny_parts(),
                                            "test_index": text})
  with pytest.raises(PlanetoidError, match=rf"ind\.tiny\.test\.index: {match}"):
    load_planetoid(directory, "tiny", num_val=2)


def test_test_index_must_follow_allx(tmp_path):
  directory = _write_planetoid(tmp_path, **{**_tiny_parts(),
                                            "test_index": [9, 7, 8]})
  with pytest.raises(PlanetoidError,
                     match=r"test\.index.*first test node is 7.*allx has 6"):
    load_planetoid(directory, "tiny", num_val=2)


def test_validation_set_must_fit_before_test_nodes(tiny_dir):
  # The default 500 validation nodes do not exist in a 10-node graph.
  with pytest.raises(PlanetoidError, match=r"500 validation nodes.*allx"):
    load_planetoid(tiny_dir, "tiny")


def test_unsafe_pickle_in_dataset(tmp_path):
  marker = tmp_path / "executed"

  class RunsShell:
    def __reduce__(self):
      return (os.system, (f"touch {marker}",))

  directory = _write_planetoid(tmp_path / "data",
                               **{**_tiny_parts(), "ty": RunsShell()})
  with pytest.raises(UnsafePickleError, match=r"ind\.tiny\.ty: refused"):
    load_planetoid(directory, "tiny", num_val=2)
  assert not marker.exists()


def test_bad_names(tiny_dir):
  with pytest.raises(ValueError, match="plain prefix"):
    load_planetoid(tiny_dir, "")
  with pytest.raises(ValueError, match="plain prefix"):
    load_planetoid(tiny_dir, "../tiny")


def test_constants_and_paths(tmp_path):
  assert PLANETOID_NAMES == ("cora", "citeseer", "pubmed")
  assert len(PLANETOID_FILES) == 8 and "test.index" in PLANETOID_FILES
  paths = planetoid_paths(tmp_path, "cora")
  assert paths[0] == os.path.join(str(tmp_path), "ind.cora.x")
  assert paths[-1].endswith("ind.cora.test.index")
