"""The NSL compatibility loader gives configs, lib and tools on current TF."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from graph_models import nsl


def test_plain_nsl_import_is_what_the_loader_works_around():
  # If NSL ever imports cleanly again the loader just returns it; this test
  # documents why the loader exists on the TF this package is tested on.
  assert "estimator" not in dir(tf) or tf.__version__ < "2.16"


def test_configs_are_nsls_own_types():
  config = nsl.make_graph_reg_config(max_neighbors=3, multiplier=0.2,
                                     distance_type=nsl.DistanceType.L2)
  assert isinstance(config, nsl.configs.GraphRegConfig)
  assert type(config).__module__ == "neural_structured_learning.configs.configs"
  assert config.neighbor_config.max_neighbors == 3
  assert config.multiplier == pytest.approx(0.2)
  assert config.distance_config.distance_type == nsl.DistanceType.L2


def test_neighbor_feature_names_follow_nsl():
  assert nsl.neighbor_feature_name(2, "words") == "NL_nbr_2_words"
  assert nsl.neighbor_weight_name(0) == "NL_nbr_0_weight"


def test_lib_distance_matches_a_hand_computation():
  sources = tf.constant([[1.0, 0.0], [0.0, 2.0]])
  targets = tf.constant([[0.0, 0.0], [0.0, 0.0]])
  weights = tf.constant([[1.0], [3.0]])
  config = nsl.DistanceConfig(distance_type=nsl.DistanceType.L2,
                              reduction=tf.compat.v1.losses.Reduction.SUM)
  value = nsl.lib.pairwise_distance_wrapper(sources, targets, weights, config)
  # squared L2 per row: 1 and 4, weighted 1 and 3.
  assert float(value) == pytest.approx(1 * 1 + 3 * 4)


def test_tools_and_submodule_imports_work_after_loading():
  assert callable(nsl.tools.pack_nbrs)
  assert callable(nsl.tools.read_tsv_graph)
  import neural_structured_learning.configs as configs  # pylint: disable=g-import-not-at-top
  assert configs is nsl.configs
  assert "neural_structured_learning.estimator" not in sys.modules


def test_tsv_graph_round_trip_with_nsl_tools(tmp_path):
  path = str(tmp_path / "graph.tsv")
  graph = {}
  nsl.tools.add_edge(graph, ["a", "b", "0.5"])
  nsl.tools.write_tsv_graph(path, graph)
  assert nsl.tools.read_tsv_graph(path) == {"a": {"b": 0.5}}
  assert np.isclose(0.5, nsl.tools.read_tsv_graph(path)["a"]["b"])


def test_pack_nbrs_runs_on_python_311(tmp_path):
  def example(node_id, value):
    return tf.train.Example(features=tf.train.Features(feature={
        "id": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[node_id.encode()])),
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[value]))}))
  labeled, unlabeled = str(tmp_path / "l.tfr"), str(tmp_path / "u.tfr")
  with tf.io.TFRecordWriter(labeled) as writer:
    writer.write(example("a", 1.0).SerializeToString())
  with tf.io.TFRecordWriter(unlabeled) as writer:
    writer.write(example("b", 2.0).SerializeToString())
  (tmp_path / "g.tsv").write_text("a\tb\t0.5\n")
  out = str(tmp_path / "out.tfr")
  nsl.tools.pack_nbrs(labeled, unlabeled, str(tmp_path / "g.tsv"), out,
                      max_nbrs=1)
  record = next(iter(tf.data.TFRecordDataset([out])))
  packed = tf.train.Example.FromString(record.numpy()).features.feature
  assert packed["NL_nbr_0_x"].float_list.value == [2.0]
  assert packed["NL_nbr_0_weight"].float_list.value == [0.5]
