"""The `flickr_cooccurrence` builder: every config, its graph, bad input."""

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

import gam_datasets
from gam_datasets import graph_records
from gam_datasets.flickr_cooccurrence import flickr_cooccurrence_dataset_builder as fc
from gam_datasets.flickr_cooccurrence.flickr_cooccurrence_dataset_builder import (
    FlickrCooccurrence, FlickrCooccurrenceConfig)
from gam_datasets import tag_files
from gam_datasets.graphsaint_files import read_graphsaint
from gam_datasets.jaccard_graph import jaccard_top_k
from graph_models import training
from graph_models.graph import UNLABELED, Graph
from tests.datasets.graph_checks import assert_same_graph

DUMMY_DATA = (pathlib.Path(fc.__file__).parent / "dummy_data")


class SyntheticSmallTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = FlickrCooccurrence
  BUILDER_CONFIG_NAMES_TO_TEST = ["synthetic_small"]
  SPLITS = {"train": 140, "validation": 100, "test": 200, "unlabeled": 160}


class SyntheticBeamTest(tfds.testing.DatasetBuilderTestCase):
  """The Beam path of the large synthetic configs, on a small graph."""
  DATASET_CLASS = FlickrCooccurrence
  BUILDER_CONFIG_NAMES_TO_TEST = [FlickrCooccurrenceConfig(
      name="synthetic_small_beam", source="synthetic", beam=True,
      nodes_per_shard=64,
      synthetic=dict(num_nodes=300, num_val=50, num_test=100,
                     num_features=8))]
  SPLITS = {"train": 140, "validation": 50, "test": 100, "unlabeled": 10}


class GraphSaintTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = FlickrCooccurrence
  BUILDER_CONFIG_NAMES_TO_TEST = ["graphsaint"]
  SPLITS = {"train": 14, "validation": 10, "test": 16}


def test_importing_the_package_registers_the_builders():
  assert {"flickr_cooccurrence", "planetoid"} <= set(
      tfds.builder_cls(name).name
      for name in ("flickr_cooccurrence", "planetoid"))
  config_names = [c.name for c in FlickrCooccurrence.BUILDER_CONFIGS]
  assert config_names == ["synthetic_small", "synthetic", "synthetic_100k",
                          "synthetic_1m", "graphsaint", "nus_wide",
                          "mirflickr"]


def test_synthetic_config_holds_the_generators_graph(tmp_path):
  splits = tfds.load("flickr_cooccurrence/synthetic_small",
                     data_dir=tmp_path)
  graph = graph_records.graph_from_splits(splits, num_classes=7)
  assert_same_graph(graph, gam_datasets.load_graph("flickr_synthetic_small"),
                    rtol=1e-6)


@pytest.mark.slow
def test_beam_and_in_memory_paths_write_the_same_graph(tmp_path):
  size = dict(num_nodes=300, num_val=50, num_test=100, num_features=8)
  graphs = []
  for beam in (False, True):
    config = FlickrCooccurrenceConfig(name=f"beam_{beam}", source="synthetic",
                                      synthetic=size, beam=beam,
                                      nodes_per_shard=70)
    builder = FlickrCooccurrence(config=config, data_dir=tmp_path)
    builder.download_and_prepare()
    graphs.append(graph_records.graph_from_splits(
        {s: builder.as_dataset(split=s) for s in builder.info.splits},
        num_classes=builder.info.metadata["num_classes"]))
  assert_same_graph(graphs[1], graphs[0], rtol=1e-6)


def test_graphsaint_config_reads_manual_dir_into_the_same_graph(tmp_path):
  graph = gam_datasets.load_graph("flickr_cooccurrence/graphsaint",
                                  data_dir=tmp_path, manual_dir=DUMMY_DATA)
  assert_same_graph(graph, read_graphsaint(DUMMY_DATA / "graphsaint"),
                    rtol=1e-6)


def test_graphsaint_without_files_offline_names_the_download(tmp_path,
                                                            monkeypatch):
  def offline(self, urls):
    raise ConnectionError("no route to drive.google.com")
  monkeypatch.setattr(tfds.download.DownloadManager, "download", offline)
  empty = tmp_path / "manual"
  empty.mkdir()
  with pytest.raises(FileNotFoundError, match=r"(?s)downloading the files "
                     r"failed \(ConnectionError.*<manual_dir>/graphsaint/"):
    gam_datasets.load_graph("flickr_cooccurrence/graphsaint",
                            data_dir=tmp_path / "data", manual_dir=empty)
  builder = tfds.builder("flickr_cooccurrence/graphsaint",
                         data_dir=tmp_path / "data")
  assert not builder.is_prepared()


def test_failed_build_leaves_nothing_and_a_rebuild_succeeds(tmp_path):
  manual = tmp_path / "manual"
  (manual / "graphsaint").mkdir(parents=True)
  for path in (DUMMY_DATA / "graphsaint").iterdir():
    (manual / "graphsaint" / path.name).write_bytes(path.read_bytes())
  feats = manual / "graphsaint" / "feats.npy"
  good = feats.read_bytes()
  feats.write_bytes(good[:len(good) // 2])
  data_dir = tmp_path / "data"
  with pytest.raises(Exception, match="feats.npy"):
    gam_datasets.load_graph("flickr_cooccurrence/graphsaint",
                            data_dir=data_dir, manual_dir=manual)
  version_dir = data_dir / "flickr_cooccurrence" / "graphsaint" / "1.0.0"
  assert not version_dir.exists()
  feats.write_bytes(good)
  graph = gam_datasets.load_graph("flickr_cooccurrence/graphsaint",
                                  data_dir=data_dir, manual_dir=manual)
  assert graph.num_nodes == 40 and (version_dir / "dataset_info.json").exists()


def test_rarest_concept_and_tag_splits():
  concepts = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 0, 1],
                       [0, 1, 1]], dtype=bool)
  # Counts 3, 2, 2: the rarest concept wins, ties go to the lower index.
  np.testing.assert_array_equal(fc.rarest_concept_labels(concepts),
                                [1, 0, UNLABELED, 2, 1])
  labels = np.r_[np.zeros(90, np.int64), np.full(10, UNLABELED)]
  split = fc.tag_splits(labels, seed=0)
  names = np.array(graph_records.SPLITS)[split]
  assert (names[90:] == "unlabeled").all()
  assert [int((names == s).sum()) for s in graph_records.SPLITS] == [9, 9, 18,
                                                                      64]
  np.testing.assert_array_equal(split, fc.tag_splits(labels, seed=0))


class NusWideTest(tfds.testing.DatasetBuilderTestCase):
  """The Beam Jaccard pipeline on real-format NUS-WIDE files."""
  DATASET_CLASS = FlickrCooccurrence
  BUILDER_CONFIG_NAMES_TO_TEST = ["nus_wide"]
  SPLITS = {"train": 3, "validation": 3, "test": 6, "unlabeled": 18}


class MirflickrTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = FlickrCooccurrence
  BUILDER_CONFIG_NAMES_TO_TEST = ["mirflickr"]
  SPLITS = {"train": 3, "validation": 3, "test": 6, "unlabeled": 18}


@pytest.mark.parametrize("source", ["nus_wide", "mirflickr"])
def test_tag_configs_hold_the_symmetrised_jaccard_graph(source, tmp_path):
  table, info = gam_datasets.load_node_table(
      f"flickr_cooccurrence/{source}", data_dir=tmp_path,
      manual_dir=DUMMY_DATA, extra_keys=["concepts"])
  read = (tag_files.read_nus_wide if source == "nus_wide"
          else tag_files.read_mirflickr)
  images = read(DUMMY_DATA / source)
  senders, receivers, weights = jaccard_top_k(images.tags, 10)
  expected = Graph.from_edges(
      images.tags, senders, receivers, np.zeros(images.num_images, np.int64),
      num_classes=1, weights=weights).symmetrized()
  np.testing.assert_allclose(table.adjacency.toarray(),
                             expected.adjacency.toarray(), rtol=1e-6)
  np.testing.assert_array_equal(table.features, images.tags.toarray())
  np.testing.assert_array_equal(table.extra["concepts"], images.concepts)
  np.testing.assert_array_equal(
      table.labels, fc.rarest_concept_labels(images.concepts))
  assert info.metadata["concept_names"] == list(images.concept_names)
  graph = table.to_graph(info.metadata["num_classes"])
  assert graph.train_mask.sum() == 3 and graph.num_classes == 4


@pytest.fixture(scope="module")
def mirflickr_concepts(tmp_path_factory):
  """The MIRFLICKR dummy files as a multi-label graph (4 concepts)."""
  return gam_datasets.load_graph(
      "flickr_cooccurrence/mirflickr", data_dir=tmp_path_factory.mktemp("tfds"),
      manual_dir=DUMMY_DATA, multilabel=True)


def test_tag_config_loads_concept_sets_as_multi_label_graph(
    mirflickr_concepts):
  graph = mirflickr_concepts
  images = tag_files.read_mirflickr(DUMMY_DATA / "mirflickr")
  assert graph.is_multilabel and graph.num_classes == 4
  np.testing.assert_array_equal(graph.labels, images.concepts)
  assert graph.train_mask.sum() == 3


@pytest.mark.parametrize("model", sorted(training.CLASSIFIERS))
def test_every_classifier_trains_on_real_format_concepts(mirflickr_concepts,
                                                         model):
  """Smoke test: the multi-label path end to end on real-format files."""
  result = training.train_node_classifier(
      mirflickr_concepts, model, training.TrainingOptions(epochs=3),
      validate_every_epoch=False, hidden_units=(8,))
  scores = result.scores["test"]
  assert 0.0 <= scores["label_map"] <= 1.0
  assert np.isfinite(result.history["loss"]).all()


def test_tag_config_without_manual_dir_says_where_files_go(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"<manual_dir>/mirflickr.*"
                     r"(?s:.*)press.liacs.nl"):
    gam_datasets.load_graph("flickr_cooccurrence/mirflickr",
                            data_dir=tmp_path)


@pytest.mark.slow
def test_tfds_build_command_line_finds_the_builders(tmp_path):
  command = [sys.executable, "-m", "tensorflow_datasets.scripts.cli.main",
             "build", "flickr_cooccurrence/synthetic_small", "--imports",
             "gam_datasets", "--data_dir", str(tmp_path)]
  result = subprocess.run(command, capture_output=True, text=True,
                          timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  graph = gam_datasets.load_graph("flickr_cooccurrence/synthetic_small",
                                  data_dir=tmp_path, download=False)
  assert graph.num_nodes == 600 and graph.train_mask.sum() == 140


def test_in_memory_configs_build_without_apache_beam(tmp_path, monkeypatch):
  """Beam is the `beam` extra: only the configs written by a Beam pipeline
  need it, and they say how to install it."""
  monkeypatch.setitem(sys.modules, "apache_beam", None)  # import fails
  builder = tfds.builder("flickr_cooccurrence/synthetic_small",
                         data_dir=tmp_path / "memory")
  builder.download_and_prepare()
  assert builder.info.splits["train"].num_examples == 140
  beam_config = FlickrCooccurrenceConfig(
      name="small_beam", source="synthetic", beam=True,
      synthetic=dict(num_nodes=300, num_val=50, num_test=100, num_features=8))
  with pytest.raises(ImportError, match=re.escape(
      "flickr_cooccurrence/small_beam is written by an Apache Beam pipeline; "
      "install it with: pip install 'graph-agreement-models[beam]'")):
    FlickrCooccurrence(config=beam_config, data_dir=tmp_path / "beam"
                       ).download_and_prepare()
