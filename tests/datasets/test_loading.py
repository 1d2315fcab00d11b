"""`gam_datasets.load_graph`: the one way a graph comes in."""

import shutil

import numpy as np
import pytest
import scipy.sparse as sp

import gam_datasets
from gam import cli
from gam_datasets.planetoid_files import (PlanetoidFilesNotFoundError,
                                          load_planetoid)
from gam_datasets.synthetic import generate_flickr_like
from tests.datasets.graph_checks import assert_same_graph


@pytest.fixture
def data_dir(tfds_data_dir):
  """TFDS's default directory, shared with the other tests that build
  Cora, so that each test process builds it once."""
  return tfds_data_dir


def test_planetoid_comes_through_its_builder_as_the_reader_reads_it(
    data_dir, cora_dir):
  graph = gam_datasets.load_graph("planetoid/cora", data_dir)
  assert (data_dir / "planetoid" / "cora" / "1.0.0").is_dir()
  expected = load_planetoid(cora_dir, "cora")
  assert_same_graph(graph, expected)
  # Sparse, as the files hold it, and in canonical order.
  assert sp.isspmatrix_csr(graph.features) and graph.features.has_sorted_indices
  normalized = gam_datasets.load_graph("planetoid/cora", data_dir,
                                       row_normalize=True)
  assert_same_graph(normalized, expected.row_normalized_features(),
                    rtol=1e-6)


def test_planetoid_is_rebuilt_from_other_files_in_manual_dir(
    data_dir, cora_dir, tmp_path):
  # The same eight files but test.index listed backwards: the test nodes'
  # features and labels swap places, a different (still valid) graph.
  other = tmp_path / "cora"
  shutil.copytree(cora_dir, other)
  index = (other / "ind.cora.test.index").read_text().split()
  (other / "ind.cora.test.index").write_text("\n".join(index[::-1]) + "\n")
  first = gam_datasets.load_graph("planetoid/cora", data_dir)
  rebuilt = gam_datasets.load_graph("planetoid/cora", data_dir,
                                    manual_dir=other)
  assert_same_graph(rebuilt, load_planetoid(other, "cora"))
  assert not np.array_equal(rebuilt.labels, first.labels)
  # And back: the package's files again give the package's graph.
  assert_same_graph(gam_datasets.load_graph("planetoid/cora", data_dir),
                    first)


def test_manual_dir_without_the_files_names_them(data_dir, tmp_path):
  (tmp_path / "ind.cora.x").write_bytes(b"")
  with pytest.raises(PlanetoidFilesNotFoundError,
                     match=r"lacks the Planetoid file\(s\) ind\.cora\.y, "):
    gam_datasets.load_graph("planetoid/cora", data_dir, manual_dir=tmp_path)


def test_generated_graphs_take_the_generators_options():
  graph = gam_datasets.load_graph("flickr_synthetic_small", seed=3,
                                  cross_class_edge_fraction=0.5)
  expected = generate_flickr_like(num_nodes=600, num_val=100, num_test=200,
                                  num_features=32, seed=3,
                                  cross_class_edge_fraction=0.5)
  assert_same_graph(graph, expected)
  multilabel = gam_datasets.load_graph("flickr_synthetic_small",
                                       multilabel=True, num_concepts=12)
  assert multilabel.is_multilabel and multilabel.labels.shape == (600, 12)


@pytest.mark.parametrize("name, options, message", [
    ("cora", {}, "unknown dataset 'cora'"),
    ("planetoid/cora", dict(cross_class_edge_fraction=0.1),
     "cross_class_edge_fraction applies to the generated graphs only"),
    ("planetoid/cora", dict(multilabel=True), "has one label per node"),
])
def test_options_a_graph_does_not_take_are_refused(name, options, message):
  with pytest.raises(ValueError, match=message):
    gam_datasets.load_graph(name, **options)


def test_gam_train_loads_planetoid_through_load_graph(data_dir, tmp_path,
                                                      monkeypatch):
  calls = []
  load_graph = gam_datasets.load_graph

  def recording_load_graph(name, *args, **kwargs):
    calls.append(name)
    return load_graph(name, *args, **kwargs)

  monkeypatch.setattr(gam_datasets, "load_graph", recording_load_graph)
  assert cli.main(["--no-gam", "--dataset", "planetoid/cora", "--model",
                   "mlp", "--epochs", "1", "--output", str(tmp_path / "run"),
                   "--tfds-data-dir", str(data_dir),
                   "--verbose", "0"]) == 0
  assert calls == ["planetoid/cora"]
  assert (data_dir / "planetoid" / "cora" / "1.0.0").is_dir()
