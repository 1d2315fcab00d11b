"""`gam_datasets.load_graph`: the one way a graph comes in."""

import pathlib
import shutil

import numpy as np
import pytest
import scipy.sparse as sp

import gam_datasets
from gam_datasets.planetoid_files import (PlanetoidFilesNotFoundError,
                                          load_planetoid)
from gam_datasets.synthetic import generate_flickr_like
from tests.datasets.graph_checks import assert_same_graph

DUMMY_DATA = (pathlib.Path(gam_datasets.__file__).parent / "planetoid" /
              "dummy_data")


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


def test_planetoid_is_rebuilt_from_other_files_in_manual_dir(tmp_path):
  # The builder's small real-format Citeseer files, and the same files with
  # test.index listed backwards: the test nodes' features and labels swap
  # places, a different (still valid) graph.
  first_dir, other_dir = tmp_path / "first", tmp_path / "other"
  shutil.copytree(DUMMY_DATA, first_dir)
  shutil.copytree(DUMMY_DATA, other_dir)
  index_file = other_dir / "ind.citeseer.test.index"
  index = index_file.read_text().split()
  index_file.write_text("\n".join(index[::-1]) + "\n")
  data_dir = tmp_path / "tfds"
  first = gam_datasets.load_graph("planetoid/citeseer", data_dir,
                                  manual_dir=first_dir)
  assert_same_graph(first, load_planetoid(first_dir, "citeseer"))
  rebuilt = gam_datasets.load_graph("planetoid/citeseer", data_dir,
                                    manual_dir=other_dir)
  assert_same_graph(rebuilt, load_planetoid(other_dir, "citeseer"))
  assert not np.array_equal(rebuilt.labels, first.labels)


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
