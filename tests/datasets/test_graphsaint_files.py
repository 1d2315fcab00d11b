"""Tests for the GraphSAINT file reader, on the shipped dummy data and fakes."""

from __future__ import annotations

import json
import os
import pathlib
import re
from typing import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from gam_datasets.flickr_cooccurrence.make_graphsaint_dummy_data import (
    GRAPHSAINT_DUMMY_DIR, main, write_graphsaint_files)
from gam_datasets.graphsaint_files import (
    FLICKR_GOOGLE_DRIVE_IDS, GRAPHSAINT_FILES, MANUAL_DOWNLOAD_INSTRUCTIONS,
    MANUAL_SUBDIRECTORY, GraphSAINTFileError, GraphSAINTFilesNotFoundError,
    graphsaint_download_urls, read_graphsaint)
from graph_models.graph import Graph
from gam_datasets.safe_pickle import CorruptFileError, DataFileError


@pytest.fixture
def written(tmp_path):
  """A freshly written copy of the default dummy graph, to corrupt."""
  directory = tmp_path / "graphsaint"
  return directory, write_graphsaint_files(directory)


def _names(path: pathlib.Path, text: str) -> str:
  """A `match` pattern: the message starts with `path`, then says `text`."""
  return "^" + re.escape(f"{path}: {text}")


def _edit_json(path: pathlib.Path, edit: Callable[[dict], None]) -> None:
  value = json.loads(path.read_text())
  edit(value)
  path.write_text(json.dumps(value))


def _save_csr_arrays(path: pathlib.Path, shape, indptr, indices,
                     data) -> None:
  """Writes the members of a save_npz CSR file as given, valid or not."""
  np.savez(path, format=np.array(b"csr"), shape=np.asarray(shape),
           indptr=np.asarray(indptr), indices=np.asarray(indices),
           data=np.asarray(data))


class _MakesDirectory:
  """Unpickles to a call of os.makedirs, as a malicious data file would."""

  def __init__(self, path: str):
    self.path = path

  def __reduce__(self):
    return (os.makedirs, (self.path,))


def _assert_graph_is(graph: Graph, arrays) -> None:
  np.testing.assert_array_equal(graph.adjacency.toarray(),
                                arrays.adjacency.toarray())
  np.testing.assert_array_equal(graph.features, arrays.features)
  np.testing.assert_array_equal(graph.labels, arrays.labels)
  for mask, key in ((graph.train_mask, "tr"), (graph.val_mask, "va"),
                    (graph.test_mask, "te")):
    assert np.flatnonzero(mask).tolist() == arrays.roles[key]


# The shipped dummy data -------------------------------------------------------


def test_shipped_dummy_data_layout():
  assert sorted(os.listdir(GRAPHSAINT_DUMMY_DIR)) == sorted(GRAPHSAINT_FILES)
  assert GRAPHSAINT_DUMMY_DIR.parent.name == "dummy_data"
  assert GRAPHSAINT_DUMMY_DIR.name == MANUAL_SUBDIRECTORY
  for name in GRAPHSAINT_FILES:
    assert (GRAPHSAINT_DUMMY_DIR / name).stat().st_size < 4096


def test_shipped_dummy_data_is_in_graphsaint_format():
  adjacency = sp.load_npz(GRAPHSAINT_DUMMY_DIR / "adj_full.npz")
  assert adjacency.format == "csr" and adjacency.shape == (40, 40)
  assert (adjacency != adjacency.T).nnz == 0
  features = np.load(GRAPHSAINT_DUMMY_DIR / "feats.npy")
  assert features.dtype == np.float32 and features.shape == (40, 8)
  class_map = json.loads((GRAPHSAINT_DUMMY_DIR / "class_map.json").read_text())
  assert list(class_map) == [str(node) for node in range(40)]
  assert all(type(label) is int for label in class_map.values())
  role = json.loads((GRAPHSAINT_DUMMY_DIR / "role.json").read_text())
  assert {key: len(ids) for key, ids in role.items()} == {
      "tr": 14, "va": 10, "te": 16}


def test_reads_shipped_dummy_data():
  graph = read_graphsaint(GRAPHSAINT_DUMMY_DIR, name="flickr")
  assert graph.name == "flickr"
  assert (graph.num_nodes, graph.num_features, graph.num_classes) == (40, 8, 7)
  assert graph.num_edges == 124
  assert (int(graph.train_mask.sum()), int(graph.val_mask.sum()),
          int(graph.test_mask.sum())) == (14, 10, 16)
  assert (graph.train_mask | graph.val_mask | graph.test_mask).all()
  assert np.bincount(graph.labels).tolist() == [6, 6, 6, 6, 6, 5, 5]
  adjacency = graph.adjacency
  assert (adjacency != adjacency.T).nnz == 0
  assert adjacency.diagonal().sum() == 0
  assert set(adjacency.data.tolist()) == {1.0}
  senders, receivers, _ = graph.edges()
  # The generator links nodes of one class only.
  assert (graph.labels[senders] == graph.labels[receivers]).all()


def test_shipped_dummy_data_is_what_the_script_writes(tmp_path):
  arrays = write_graphsaint_files(tmp_path)
  _assert_graph_is(read_graphsaint(GRAPHSAINT_DUMMY_DIR), arrays)


def test_main_writes_the_files(tmp_path, capsys):
  main(["--directory", str(tmp_path / "out")])
  assert sorted(os.listdir(tmp_path / "out")) == sorted(GRAPHSAINT_FILES)
  assert capsys.readouterr().out == (
      f"wrote {tmp_path / 'out'}: 40 nodes, 124 adjacency entries, 8 "
      "features\n")


def test_reads_other_sizes(tmp_path):
  arrays = write_graphsaint_files(tmp_path, num_nodes=25, num_classes=3,
                                  num_features=5, split_sizes=(5, 5, 5),
                                  degree=3, seed=7)
  graph = read_graphsaint(tmp_path)
  _assert_graph_is(graph, arrays)
  assert graph.num_classes == 3 and graph.features.shape == (25, 5)
  # Nodes in no role are in no mask.
  assert int((graph.train_mask | graph.val_mask | graph.test_mask).sum()) == 15


def test_writer_refuses_splits_larger_than_the_graph(tmp_path):
  with pytest.raises(ValueError, match=re.escape(
      "split sizes (20, 20, 20) add up to more than the 40 nodes")):
    write_graphsaint_files(tmp_path, split_sizes=(20, 20, 20))


# Edges ------------------------------------------------------------------------


def test_non_symmetric_matrix_is_symmetrised(written):
  directory, _ = written
  dense = np.zeros((40, 40), dtype=np.float32)
  dense[1, 0] = 2.0               # one direction only
  dense[2, 3], dense[3, 2] = 1.0, 3.0  # both, different weights
  dense[4, 5] = dense[5, 4] = 0.5
  dense[6, 6] = 1.0               # self-loop
  sp.save_npz(directory / "adj_full.npz", sp.csr_matrix(dense))
  adjacency = read_graphsaint(directory).adjacency.toarray()
  expected = np.zeros((40, 40), dtype=np.float32)
  expected[0, 1] = expected[1, 0] = 2.0
  expected[2, 3] = expected[3, 2] = 3.0
  expected[4, 5] = expected[5, 4] = 0.5
  np.testing.assert_array_equal(adjacency, expected)


def test_stored_zeros_are_not_edges(written):
  directory, _ = written
  _save_csr_arrays(directory / "adj_full.npz", (40, 40),
                   [0, 2] + [3] * 39, [1, 2, 0], [1.0, 0.0, 1.0])
  graph = read_graphsaint(directory)
  assert graph.num_edges == 2
  assert graph.adjacency[0, 1] == 1.0 and graph.adjacency[1, 0] == 1.0


# Missing files ----------------------------------------------------------------


def test_missing_directory(tmp_path):
  with pytest.raises(GraphSAINTFilesNotFoundError, match=re.escape(
      f"GraphSAINT data directory {tmp_path / 'nope'} does not exist (expected "
      "the files adj_full.npz, feats.npy, class_map.json, role.json in it). "
      "Download the four GraphSAINT Flickr files")):
    read_graphsaint(tmp_path / "nope")


def test_missing_files_are_all_named(written):
  directory, _ = written
  (directory / "feats.npy").unlink()
  (directory / "role.json").unlink()
  with pytest.raises(GraphSAINTFilesNotFoundError) as raised:
    read_graphsaint(directory)
  message = str(raised.value)
  assert message.startswith(
      f"{directory} lacks the GraphSAINT file(s) feats.npy, role.json. ")
  assert "https://github.com/GraphSAINT/GraphSAINT" in message
  assert "`<manual_dir>/graphsaint/`" in message
  assert graphsaint_download_urls()["feats.npy"] in message
  assert isinstance(raised.value, FileNotFoundError)


def test_download_information():
  assert tuple(FLICKR_GOOGLE_DRIVE_IDS) == GRAPHSAINT_FILES
  assert graphsaint_download_urls() == {
      "adj_full.npz": "https://drive.google.com/uc?export=download&id="
                      "1crmsTbd1-2sEXsGwa2IKnIB7Zd3TmUsy",
      "feats.npy": "https://drive.google.com/uc?export=download&id="
                   "1join-XdvX3anJU_MLVtick7MgeAQiWIZ",
      "class_map.json": "https://drive.google.com/uc?export=download&id="
                        "1uxIkbtg5drHTsKt-PAsZZ4_yJmgFmle9",
      "role.json": "https://drive.google.com/uc?export=download&id="
                   "1htXCtuktuCW8TR8KiKfrFDAxUgekQoV7",
  }
  assert MANUAL_DOWNLOAD_INSTRUCTIONS.startswith(
      "Download the four GraphSAINT Flickr files adj_full.npz, feats.npy, "
      "class_map.json, role.json from the `flickr` folder of the GraphSAINT "
      "Google Drive (linked from https://github.com/GraphSAINT/GraphSAINT) "
      "and put them into `<manual_dir>/graphsaint/`")
  for url in graphsaint_download_urls().values():
    assert url in MANUAL_DOWNLOAD_INSTRUCTIONS


# Damaged numpy files ----------------------------------------------------------


@pytest.mark.parametrize("name, match", [
    ("adj_full.npz", "truncated or corrupt .npz archive"),
    ("feats.npy", "truncated or corrupt .npy data for an array of shape "
                  "(40, 8) and dtype float32"),
])
def test_truncated_numpy_file(written, name, match):
  directory, _ = written
  path = directory / name
  path.write_bytes(path.read_bytes()[:-200])
  with pytest.raises(CorruptFileError, match=_names(path, match)):
    read_graphsaint(directory)


def test_feats_that_are_not_npy(written):
  directory, _ = written
  path = directory / "feats.npy"
  path.write_text("<html>Google Drive virus scan warning</html>")
  with pytest.raises(CorruptFileError, match=_names(
      path, "not a .npy array or its header is corrupt")):
    read_graphsaint(directory)


def test_pickled_feats_are_refused_not_loaded(written, tmp_path):
  directory, _ = written
  marker = tmp_path / "code_ran"
  path = directory / "feats.npy"
  np.save(path, np.array([_MakesDirectory(str(marker))], dtype=object),
          allow_pickle=True)
  with pytest.raises(DataFileError, match=_names(
      path, "holds an array of dtype object (Python objects), which can only "
            "be read by unpickling; refusing to load it")):
    read_graphsaint(directory)
  assert not marker.exists()
  # The file is live: unpickling it runs the call.
  np.load(path, allow_pickle=True)
  assert marker.is_dir()


def test_pickled_adjacency_member_is_refused_not_loaded(written, tmp_path):
  directory, _ = written
  marker = tmp_path / "code_ran"
  path = directory / "adj_full.npz"
  np.savez(path, format=np.array(b"csr"), shape=np.array([40, 40]),
           indptr=np.zeros(41, dtype=np.int32), indices=np.zeros(0, np.int32),
           data=np.array([_MakesDirectory(str(marker))], dtype=object))
  with pytest.raises(DataFileError, match=re.escape(
      f"{path} (member 'data.npy'): holds an array of dtype object")):
    read_graphsaint(directory)
  assert not marker.exists()


# adj_full.npz -----------------------------------------------------------------


@pytest.mark.parametrize("make", [sp.coo_matrix, sp.csc_matrix])
def test_adjacency_must_be_csr(written, make):
  directory, arrays = written
  path = directory / "adj_full.npz"
  matrix = make(arrays.adjacency)
  sp.save_npz(path, matrix)
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, f"holds a '{matrix.format}' sparse matrix; expected CSR")):
    read_graphsaint(directory)


def test_adjacency_must_be_square(written):
  directory, _ = written
  path = directory / "adj_full.npz"
  sp.save_npz(path, sp.csr_matrix((40, 41), dtype=np.float32))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "the adjacency matrix is 40 x 41; expected a square N x N matrix")):
    read_graphsaint(directory)


@pytest.mark.parametrize("shape, shown", [([40], "[40]"),
                                          ([40.0, 40.0], "[40.0, 40.0]")])
def test_adjacency_with_a_malformed_shape(written, shape, shown):
  directory, _ = written
  path = directory / "adj_full.npz"
  _save_csr_arrays(path, shape, [0] * 41, [], [])
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, f"the matrix shape is {shown}; expected two integers")):
    read_graphsaint(directory)


def test_adjacency_lacking_arrays(written):
  directory, _ = written
  path = directory / "adj_full.npz"
  np.savez(path, format=np.array(b"csr"), shape=np.array([40, 40]))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "lacks the array(s) data, indices, indptr; expected a CSR matrix "
            "written by scipy.sparse.save_npz")):
    read_graphsaint(directory)


def test_adjacency_that_is_no_sparse_matrix(written):
  directory, _ = written
  path = directory / "adj_full.npz"
  np.savez(path, adjacency=np.eye(40))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "lacks the array(s) format, shape")):
    read_graphsaint(directory)


def test_adjacency_with_broken_offsets(written):
  directory, _ = written
  path = directory / "adj_full.npz"
  _save_csr_arrays(path, (40, 40), [0, 2, 1] + [3] * 38, [1, 2, 0],
                   [1.0, 1.0, 1.0])
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "corrupt CSR structure: `indptr` must hold 41 non-decreasing "
            "offsets from 0 to the 3 entries of `indices` (it holds 41)")):
    read_graphsaint(directory)


def test_adjacency_naming_nodes_outside_the_graph(written):
  directory, _ = written
  path = directory / "adj_full.npz"
  indptr = [0, 0, 0, 2, 2, 3] + [3] * 35
  _save_csr_arrays(path, (40, 40), indptr, [45, 1, -1], [1.0, 1.0, 1.0])
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "rows [2, 4] name columns outside [0, 40): [45, -1]")):
    read_graphsaint(directory)


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_adjacency_with_bad_weights(written, bad):
  directory, _ = written
  path = directory / "adj_full.npz"
  _save_csr_arrays(path, (40, 40), [0, 1, 1, 2] + [2] * 37, [1, 0],
                   [1.0, bad])
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, f"edge weights must be finite and >= 0; rows [2] hold [{bad}]")
                     + "$"):
    read_graphsaint(directory)


# feats.npy --------------------------------------------------------------------


def test_features_with_a_row_per_node_missing(written):
  directory, arrays = written
  path = directory / "feats.npy"
  np.save(path, arrays.features[:39])
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "has 39 rows but adj_full.npz has 40 nodes; expected one row per "
            "node")):
    read_graphsaint(directory)


def test_features_must_be_2d(written):
  directory, arrays = written
  path = directory / "feats.npy"
  np.save(path, arrays.features[:, 0])
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "has shape (40,); expected a 2-D [nodes, features] array")):
    read_graphsaint(directory)


def test_features_must_be_numeric(written):
  directory, _ = written
  path = directory / "feats.npy"
  np.save(path, np.full((40, 2), "x"))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "features must be numeric, got dtype <U1")):
    read_graphsaint(directory)


def test_non_finite_features_name_their_rows(written):
  directory, arrays = written
  path = directory / "feats.npy"
  features = arrays.features.copy()
  features[17, 3], features[3, 0], features[3, 5] = np.inf, np.nan, -np.inf
  np.save(path, features)
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "NaN or inf features in rows [3, 17]") + "$"):
    read_graphsaint(directory)


# class_map.json ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["class_map.json", "role.json"])
def test_invalid_json(written, name):
  directory, _ = written
  path = directory / name
  path.write_text(path.read_text()[:-5])
  with pytest.raises(CorruptFileError, match=_names(path, "not valid JSON (")):
    read_graphsaint(directory)


def test_class_map_must_be_an_object(written):
  directory, _ = written
  path = directory / "class_map.json"
  path.write_text("[0, 1, 2]")
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, 'holds a JSON list; expected an object {"<node id>": class, ...}')):
    read_graphsaint(directory)


def test_class_map_missing_nodes(written):
  directory, _ = written
  path = directory / "class_map.json"

  def drop(class_map):
    for node in (12, 5):
      del class_map[str(node)]

  _edit_json(path, drop)
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "no class for nodes [5, 12]; every node needs one")):
    read_graphsaint(directory)


def test_class_map_missing_many_nodes(written):
  directory, _ = written
  path = directory / "class_map.json"
  path.write_text(json.dumps({str(node): 0 for node in range(20)}))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "no class for nodes [20, 21, 22, 23, 24, 25, 26, 27, 28, 29] "
            "(and 10 more)")):
    read_graphsaint(directory)


def test_class_map_naming_nodes_outside_the_graph(written):
  directory, _ = written
  path = directory / "class_map.json"
  _edit_json(path, lambda class_map: class_map.update(
      {"40": 1, "-3": 2, "57": 0}))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "keys name nodes outside the graph (ids must be in [0, 40), the "
            "nodes of adj_full.npz): [40, -3, 57]")):
    read_graphsaint(directory)


def test_class_map_with_keys_that_are_not_ids(written):
  directory, _ = written
  path = directory / "class_map.json"
  _edit_json(path, lambda class_map: class_map.update(
      {"1.5": 1, "node7": 2, " 3": 0}))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "keys must be integer node ids, got ['1.5', 'node7', ' 3']")):
    read_graphsaint(directory)


def test_class_map_naming_a_node_twice(written):
  directory, _ = written
  path = directory / "class_map.json"
  _edit_json(path, lambda class_map: class_map.update({"07": 1, "011": 1}))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "nodes listed more than once: [7, 11]")):
    read_graphsaint(directory)


def test_negative_classes(written):
  directory, _ = written
  path = directory / "class_map.json"
  _edit_json(path, lambda class_map: class_map.update({"9": -1, "2": -4}))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "negative classes at nodes [2, 9]")):
    read_graphsaint(directory)


def test_multi_label_class_map_is_refused(written):
  directory, _ = written
  path = directory / "class_map.json"
  path.write_text(json.dumps(
      {str(node): [0, 1, 0] for node in range(40)}))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "nodes [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] (and 30 more) have a list "
            "of labels; multi-label class maps are not supported by this "
            "config")):
    read_graphsaint(directory)


def test_classes_that_are_not_integers(written):
  directory, _ = written
  path = directory / "class_map.json"
  _edit_json(path, lambda class_map: class_map.update(
      {"4": 1.0, "8": "2", "30": True, "31": None}))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "the classes of nodes [4, 8, 30, 31] are not integers")):
    read_graphsaint(directory)


# role.json --------------------------------------------------------------------


def test_role_missing_a_key(written):
  directory, _ = written
  path = directory / "role.json"
  _edit_json(path, lambda role: role.pop("va"))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "lacks the key(s) 'va'; expected 'tr', 'va' and 'te'")):
    read_graphsaint(directory)


def test_role_must_be_an_object(written):
  directory, _ = written
  path = directory / "role.json"
  path.write_text('"tr"')
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "holds a JSON str; expected an object")):
    read_graphsaint(directory)


def test_role_naming_nodes_outside_the_graph(written):
  directory, _ = written
  path = directory / "role.json"
  _edit_json(path, lambda role: role["va"].extend([40, -2, 10**30]))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "the validation ids ('va') name nodes outside the graph (ids must "
            f"be in [0, 40), the nodes of adj_full.npz): [40, -2, {10**30}]")):
    read_graphsaint(directory)


def test_role_with_a_node_in_two_splits(written):
  directory, arrays = written
  path = directory / "role.json"
  in_both = arrays.roles["va"][:2]
  _edit_json(path, lambda role: role["te"].extend(in_both))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "nodes are in both 'va' (validation) and 'te' (test): "
            f"[{in_both[0]}, {in_both[1]}]")):
    read_graphsaint(directory)


def test_role_ids_that_are_not_integers(written):
  directory, _ = written
  path = directory / "role.json"
  _edit_json(path, lambda role: role["tr"].extend(["3", 2.0]))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "'tr' holds values that are not integer node ids: ['3', 2.0]")):
    read_graphsaint(directory)


def test_role_that_is_not_a_list(written):
  directory, _ = written
  path = directory / "role.json"
  _edit_json(path, lambda role: role.update(te={"0": 1}))
  with pytest.raises(GraphSAINTFileError, match=_names(
      path, "'te' holds a JSON dict; expected a list of node ids")):
    read_graphsaint(directory)
