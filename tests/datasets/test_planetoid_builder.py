"""The `planetoid` builder: dummy files, real Cora, downloads, bad input."""

from __future__ import annotations

import hashlib
import pathlib
import shutil
from unittest import mock

import numpy as np
import pytest
import tensorflow_datasets as tfds

from gam_datasets import graph_records
from gam_datasets.planetoid import planetoid_dataset_builder
from gam_datasets.planetoid.planetoid_dataset_builder import Planetoid
from gam_datasets.planetoid_files import (PlanetoidError,
                                          PlanetoidFilesNotFoundError,
                                          load_planetoid,
                                          planetoid_fingerprint)
from gam_datasets.safe_pickle import CorruptFileError
from tests.datasets.graph_checks import assert_same_graph

DUMMY_DATA = pathlib.Path(planetoid_dataset_builder.__file__).parent / "dummy_data"
CORA_FILES = planetoid_dataset_builder.planetoid_filenames("cora")


class PlanetoidDummyTest(tfds.testing.DatasetBuilderTestCase):
  """Every config on its dummy graph, which TFDS finds in dummy_data/ beside
  the builder (see make_dummy_data.py).

  Citeseer's 5 unlabeled nodes include the 2 ids its test.index skips, so
  the count also checks that those nodes are kept.
  """
  DATASET_CLASS = Planetoid
  BUILDER_CONFIG_NAMES_TO_TEST = ["cora", "citeseer", "pubmed"]
  SPLITS = {"train": 12, "validation": 500, "test": 10, "unlabeled": 5}


@pytest.fixture(autouse=True)
def no_bundled_copy(tmp_path):
  """The tests below exercise manual_dir and downloads, which the package's
  own Cora copy would otherwise stand in for."""
  real = planetoid_dataset_builder.BUNDLED_DIR
  with mock.patch.object(planetoid_dataset_builder, "BUNDLED_DIR",
                         tmp_path / "no_bundled_copy"):
    yield real


def test_cora_builds_offline_from_the_bundled_copy(tmp_path, no_bundled_copy,
                                                   cora_dir):
  with mock.patch.object(planetoid_dataset_builder, "BUNDLED_DIR", no_bundled_copy), \
      mock.patch.object(tfds.download.DownloadManager, "download",
                        side_effect=_offline):
    builder = _build(tmp_path / "data", manual_dir=None)
  assert builder.info.splits["train"].num_examples == 140
  assert builder.info.splits["test"].num_examples == 1000
  assert planetoid_dataset_builder.bundled_dir("citeseer") is None
  restored = graph_records.graph_from_splits(
      builder.as_dataset(), builder.info.metadata["num_classes"])
  assert_same_graph(restored, load_planetoid(cora_dir, "cora"))


def _offline(*args, **kwargs):
  del args, kwargs
  raise ConnectionError("Failed to resolve 'github.com'")


def _build(data_dir, manual_dir, name="cora"):
  builder = tfds.builder(f"planetoid/{name}", data_dir=data_dir)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=manual_dir))
  return builder


def _nothing_left(data_dir, name="cora"):
  """No dataset, complete or half-written, of `name` under `data_dir`."""
  config_dir = pathlib.Path(data_dir) / "planetoid" / name
  return not config_dir.exists() or not any(config_dir.iterdir())


def _copy_files(source, target, name="cora", as_name=None):
  target.mkdir(parents=True, exist_ok=True)
  for filename, renamed in zip(planetoid_dataset_builder.planetoid_filenames(name),
                               planetoid_dataset_builder.planetoid_filenames(
                                   as_name or name)):
    shutil.copyfile(source / filename, target / renamed)
  return target


@pytest.fixture(scope="module")
def built_cora(cora_dir, tmp_path_factory):
  """`planetoid/cora` built once from the real files: (Graph, DatasetInfo)."""
  data_dir = tmp_path_factory.mktemp("tfds")
  table, info = graph_records.load_node_table(
      "planetoid/cora", data_dir=data_dir, manual_dir=cora_dir)
  return table.to_graph(int(info.metadata["num_classes"])), info


def test_real_cora_round_trips_as_the_reader_loads_it(built_cora, cora_dir):
  graph, info = built_cora
  expected = load_planetoid(cora_dir, "cora")
  assert_same_graph(graph, expected)
  assert graph.num_nodes == 2708 and graph.num_edges == 10556
  assert [int(graph.split_nodes(s).size) for s in ("train", "val", "test")
          ] == [140, 500, 1000]
  assert {split: info.splits[split].num_examples
          for split in graph_records.SPLITS} == {
              "train": 140, "validation": 500, "test": 1000,
              "unlabeled": 1068}
  assert dict(info.metadata) == {
      "num_classes": 7, "num_nodes": 2708, "num_edges": 10556,
      "source_sha256": planetoid_fingerprint(cora_dir, "cora")}
  # Raw bag-of-words counts: the builder leaves row-normalising to users.
  assert set(np.unique(graph.dense_features())) == {0.0, 1.0}



@pytest.mark.slow
def test_gcn_trained_on_tfds_cora_reaches_kipfs_accuracy(built_cora):
  from graph_models import training  # pylint: disable=g-import-not-at-top
  graph = built_cora[0].row_normalized_features()
  result = training.train_node_classifier(
      graph, "gcn", training.TrainingOptions(epochs=200, seed=0),
      validate_every_epoch=False, hidden_units=(16,))
  assert result.accuracy["test"] >= 0.80

def test_checksums_are_those_of_the_cora_files(cora_dir):
  url_infos = Planetoid.url_infos
  assert set(url_infos) == set(planetoid_dataset_builder.planetoid_urls(
      "cora").values())
  for url, info in url_infos.items():
    data = (cora_dir / info.filename).read_bytes()
    assert url.endswith("/" + info.filename)
    assert (int(info.size), info.checksum) == (
        len(data), hashlib.sha256(data).hexdigest())


def _fake_downloads(directory):
  """The dummy Cora files under hashed names, as TFDS stores downloads."""
  directory.mkdir()
  downloaded = {}
  for filename in CORA_FILES:
    downloaded[filename] = directory / f"github_{filename}_0123abcd"
    shutil.copyfile(DUMMY_DATA / filename, downloaded[filename])
  return downloaded


def test_files_missing_from_manual_dir_are_downloaded(tmp_path):
  downloaded = _fake_downloads(tmp_path / "downloads")
  with mock.patch.object(tfds.download.DownloadManager, "download",
                         return_value=downloaded) as download:
    builder = _build(tmp_path / "data", manual_dir=None)
  download.assert_called_once_with(planetoid_dataset_builder.planetoid_urls("cora"))
  assert builder.info.splits["validation"].num_examples == 500


def test_a_corrupt_download_says_where_the_files_came_from(tmp_path):
  downloaded = _fake_downloads(tmp_path / "downloads")
  downloaded["ind.cora.x"].write_bytes(b"<!DOCTYPE html>")
  with mock.patch.object(tfds.download.DownloadManager, "download",
                         return_value=downloaded):
    with pytest.raises(CorruptFileError, match=r"ind\.cora\.x") as raised:
      _build(tmp_path / "data", manual_dir=None)
  assert raised.value.__notes__ == [
      f"The files were downloaded from {planetoid_dataset_builder.SOURCE_URL}."]
  assert _nothing_left(tmp_path / "data")


def test_empty_manual_dir_offline_names_the_files_and_where_to_put_them(
    tmp_path):
  empty = tmp_path / "manual"
  empty.mkdir()
  with mock.patch.object(tfds.download.DownloadManager, "download",
                         side_effect=_offline):
    with pytest.raises(PlanetoidFilesNotFoundError) as raised:
      _build(tmp_path / "data", manual_dir=empty)
  message = str(raised.value)
  for filename in CORA_FILES:
    assert filename in message
  assert "manual_dir does not exist or is empty" in message
  assert "github.com/kimiyoung/planetoid" in message
  assert "directly in manual_dir" in message
  assert isinstance(raised.value.__cause__, ConnectionError)
  assert _nothing_left(tmp_path / "data")


def test_partial_manual_dir_offline_names_the_missing_file(tmp_path):
  manual = _copy_files(DUMMY_DATA, tmp_path / "manual")
  (manual / "ind.cora.test.index").unlink()
  with mock.patch.object(tfds.download.DownloadManager, "download",
                         side_effect=_offline):
    with pytest.raises(PlanetoidFilesNotFoundError,
                       match=r"manual_dir .*manual lacks "
                             r"ind\.cora\.test\.index, and downloading"):
      _build(tmp_path / "data", manual_dir=manual)


def test_truncated_pickle_fails_cleanly_and_a_rebuild_succeeds(tmp_path):
  manual = _copy_files(DUMMY_DATA, tmp_path / "manual")
  graph_file = manual / "ind.cora.graph"
  graph_file.write_bytes(graph_file.read_bytes()[:100])
  data_dir = tmp_path / "data"
  with mock.patch.object(tfds.download.DownloadManager, "download",
                         side_effect=AssertionError("must not download")):
    with pytest.raises(CorruptFileError,
                       match=r"ind\.cora\.graph: truncated or corrupt"):
      _build(data_dir, manual_dir=manual)
  assert not tfds.builder("planetoid/cora", data_dir=data_dir).is_prepared()
  assert _nothing_left(data_dir)

  shutil.copyfile(DUMMY_DATA / "ind.cora.graph", graph_file)
  builder = _build(data_dir, manual_dir=manual)
  assert builder.is_prepared()
  assert builder.info.splits["validation"].num_examples == 500


def test_another_datasets_files_are_refused(tmp_path):
  manual = _copy_files(DUMMY_DATA, tmp_path / "manual", name="pubmed",
                       as_name="cora")
  with pytest.raises(PlanetoidError, match=r"500 feature columns and 3 label "
                                           r"columns, but planetoid/cora has "
                                           r"1433 features and 7 classes"):
    _build(tmp_path / "data", manual_dir=manual)
  assert _nothing_left(tmp_path / "data")
