"""Tests for the Flickr-like synthetic co-occurrence graph generator."""

import numpy as np
import pytest
import scipy.sparse as sp

from graph_models.graph import UNLABELED, Graph
from gam_datasets.synthetic import (FlickrLikeConfig, FlickrMetadata,
                                    generate_flickr_like,
                                    generate_flickr_like_with_metadata)

SMALL = dict(num_nodes=3000, num_val=300, num_test=600)


def _cross_fraction(graph: Graph) -> float:
  senders, receivers, _ = graph.edges()
  return float(np.mean(graph.labels[senders] != graph.labels[receivers]))


def _same_graph(a: Graph, b: Graph) -> bool:
  return (np.array_equal(a.features, b.features)
          and np.array_equal(a.adjacency.indptr, b.adjacency.indptr)
          and np.array_equal(a.adjacency.indices, b.adjacency.indices)
          and np.array_equal(a.adjacency.data, b.adjacency.data)
          and np.array_equal(a.labels, b.labels)
          and all(np.array_equal(getattr(a, m), getattr(b, m))
                  for m in ("train_mask", "val_mask", "test_mask")))


@pytest.fixture(scope="module")
def default_graph():
  return generate_flickr_like_with_metadata()


def test_default_graph_sizes(default_graph):
  graph, _ = default_graph
  config = FlickrLikeConfig()
  assert isinstance(graph, Graph)
  assert graph.name == "flickr_synthetic"
  assert graph.features.shape == (5000, 64)
  assert graph.features.dtype == np.float32
  assert graph.num_classes == 7
  assert set(np.unique(graph.labels)) == set(range(7))
  assert not (graph.labels == UNLABELED).any()
  # avg_degree * n / 2 undirected edges, each stored both ways.
  assert graph.num_edges == pytest.approx(config.avg_degree * 5000, rel=0.01)
  assert graph.train_mask.sum() == 7 * 20
  assert graph.val_mask.sum() == 500
  assert graph.test_mask.sum() == 1000


def test_default_is_mildly_imbalanced(default_graph):
  sizes = np.bincount(default_graph[0].labels)
  assert 1.3 < sizes.max() / sizes.min() < 5


def test_same_seed_same_graph_and_other_seed_differs():
  config = FlickrLikeConfig(num_nodes=1000, num_val=100, num_test=200)
  first, meta_first = generate_flickr_like_with_metadata(config)
  second, meta_second = generate_flickr_like_with_metadata(config)
  assert _same_graph(first, second)
  assert (meta_first.image_tags != meta_second.image_tags).nnz == 0
  assert np.array_equal(meta_first.image_session, meta_second.image_session)

  other = generate_flickr_like(config, seed=1)
  assert not np.array_equal(first.features, other.features)
  assert not np.array_equal(first.labels, other.labels)
  assert (first.adjacency != other.adjacency).nnz > 0
  assert not np.array_equal(first.train_mask, other.train_mask)


def test_overrides_match_config():
  config = FlickrLikeConfig(num_nodes=800, num_val=100, num_test=100, seed=3)
  assert _same_graph(generate_flickr_like(config),
                     generate_flickr_like(num_nodes=800, num_val=100,
                                          num_test=100, seed=3))


def test_noise_level_leaves_nodes_unchanged():
  low = generate_flickr_like(cross_class_edge_fraction=0.1, **SMALL)
  high = generate_flickr_like(cross_class_edge_fraction=0.6, **SMALL)
  assert np.array_equal(low.features, high.features)
  assert np.array_equal(low.labels, high.labels)
  assert np.array_equal(low.test_mask, high.test_mask)


def test_symmetric_without_self_loops_or_duplicates(default_graph):
  adjacency = default_graph[0].adjacency
  assert (adjacency != adjacency.T).nnz == 0
  assert not adjacency.diagonal().any()
  adjacency.sum_duplicates()
  assert adjacency.nnz == default_graph[0].num_edges
  assert (adjacency.data >= 1).all()
  assert np.array_equal(adjacency.data, np.round(adjacency.data))


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.8])
def test_cross_class_edge_fraction(fraction):
  graph = generate_flickr_like(cross_class_edge_fraction=fraction, **SMALL)
  assert abs(_cross_fraction(graph) - fraction) <= 0.03
  assert graph.num_edges == pytest.approx(10.0 * 3000, rel=0.02)


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_cross_class_edge_fraction_extremes(fraction):
  graph = generate_flickr_like(cross_class_edge_fraction=fraction, **SMALL)
  assert _cross_fraction(graph) == fraction


def test_fraction_holds_when_metadata_runs_out_of_pairs():
  # 200 nodes cannot supply 5,000 distinct same-class co-occurrences, so
  # fewer edges come out, in the right proportion.
  graph = generate_flickr_like(num_nodes=200, avg_degree=50.0,
                               cross_class_edge_fraction=0.3)
  assert 0 < graph.num_edges <= 50 * 200
  assert abs(_cross_fraction(graph) - 0.3) <= 0.03


def test_edge_weights_count_shared_metadata():
  graph, meta = generate_flickr_like_with_metadata(
      num_nodes=400, num_val=50, num_test=100, num_tags=60, num_groups=20,
      num_owners=30)
  same = lambda ids: (ids[:, None] == ids[None, :]).astype(np.float32)
  shared = ((meta.image_tags @ meta.image_tags.T).toarray()
            + (meta.image_groups @ meta.image_groups.T).toarray()
            + same(meta.image_owner) + same(meta.image_session))
  senders, receivers, weights = graph.edges()
  np.testing.assert_array_equal(
      weights, np.maximum(shared[senders, receivers], 1))
  # Same-class edges come from shared metadata, never from thin air.
  same_class = graph.labels[senders] == graph.labels[receivers]
  assert (shared[senders, receivers][same_class] >= 1).all()


def test_masks_disjoint_with_labels_per_class():
  graph = generate_flickr_like(num_nodes=600, labels_per_class=7, num_val=100,
                               num_test=200, seed=5)
  assert not (graph.train_mask & graph.val_mask).any()
  assert not (graph.train_mask & graph.test_mask).any()
  assert not (graph.val_mask & graph.test_mask).any()
  np.testing.assert_array_equal(
      np.bincount(graph.labels[graph.train_mask], minlength=7), [7] * 7)
  assert graph.val_mask.sum() == 100 and graph.test_mask.sum() == 200


def test_small_graph_shrinks_val_and_test_in_proportion():
  # 7 * 20 training nodes leave 60 nodes for 500 val + 1000 test wanted.
  graph = generate_flickr_like(num_nodes=200)
  assert graph.train_mask.sum() == 140
  assert graph.val_mask.sum() == 20
  assert graph.test_mask.sum() == 40
  # The smallest graph that still has each class's training labels.
  tiny = generate_flickr_like(num_nodes=140, avg_degree=4.0)
  assert tiny.train_mask.all()
  assert not tiny.val_mask.any() and not tiny.test_mask.any()


def test_metadata(default_graph):
  graph, meta = default_graph
  config = FlickrLikeConfig()
  assert isinstance(meta, FlickrMetadata)
  assert sp.isspmatrix_csr(meta.image_tags)
  assert meta.image_tags.shape == (5000, config.num_tags)
  assert meta.image_groups.shape == (5000, config.num_groups)
  assert set(np.unique(meta.image_tags.data)) == {1.0}
  assert (np.diff(meta.image_tags.indptr) >= 1).all()
  assert np.diff(meta.image_tags.indptr).mean() == pytest.approx(
      config.tags_per_image, rel=0.15)
  assert meta.image_owner.shape == (5000,)
  assert 0 <= meta.image_owner.min() and meta.image_owner.max() < 800
  # Owners shoot mostly their own class; a session belongs to one owner.
  owner_home = meta.owner_class[meta.image_owner]
  assert np.mean(owner_home == graph.labels) > 0.85
  session_owner = np.zeros(meta.image_session.max() + 1, dtype=np.int64)
  session_owner[meta.image_session] = meta.image_owner
  assert np.array_equal(session_owner[meta.image_session], meta.image_owner)


def test_tag_popularity_is_heavy_tailed(default_graph):
  uses = np.asarray(default_graph[1].image_tags.sum(axis=0)).ravel()
  assert uses.max() >= 50 * max(np.median(uses), 1)
  # The top 1% of tags carry a large share of all tag uses.
  top = np.sort(uses)[::-1][:len(uses) // 100]
  assert top.sum() > 0.3 * uses.sum()


def test_degrees_follow_degree_spread():
  spread = generate_flickr_like(**SMALL)
  flat = generate_flickr_like(degree_spread=0.0, **SMALL)
  spread_degrees = np.diff(spread.adjacency.indptr)
  flat_degrees = np.diff(flat.adjacency.indptr)
  assert spread_degrees.max() > 2 * flat_degrees.max()
  assert np.median(spread_degrees) < np.median(flat_degrees)


def test_features_are_informative_but_not_decisive(default_graph):
  graph = default_graph[0]
  x, y = graph.features, graph.labels
  centroids = np.stack([x[graph.train_mask & (y == c)].mean(axis=0)
                        for c in range(graph.num_classes)])
  test = graph.test_mask
  distances = ((x[test][:, None, :] - centroids[None]) ** 2).sum(axis=-1)
  accuracy = np.mean(distances.argmin(axis=1) == y[test])
  assert accuracy > graph.majority_class_rate("test") + 0.15
  assert accuracy < 0.75


def test_twenty_thousand_nodes():
  graph = generate_flickr_like(num_nodes=20_000, num_features=16)
  assert graph.num_nodes == 20_000
  assert graph.num_edges == pytest.approx(10.0 * 20_000, rel=0.02)
  assert abs(_cross_fraction(graph) - 0.3) <= 0.01


def test_single_class_without_noise():
  graph = generate_flickr_like(num_nodes=300, num_classes=1,
                               cross_class_edge_fraction=0.0)
  assert graph.num_classes == 1 and graph.num_edges > 0


@pytest.mark.parametrize("field, value", [
    ("num_nodes", -5),
    ("num_nodes", 0),
    ("num_nodes", 2.5),
    ("num_nodes", True),
    ("num_classes", 0),
    ("num_features", 0),
    ("num_tags", 3),
    ("avg_degree", -1.0),
    ("avg_degree", float("nan")),
    ("cross_class_edge_fraction", 1.5),
    ("cross_class_edge_fraction", -0.1),
    ("feature_signal", float("inf")),
    ("labels_per_class", 0),
    ("num_val", -1),
    ("num_test", -1),
    ("tags_per_image", 0.5),
    ("degree_spread", -1.0),
    ("seed", -1),
])
def test_bad_config_names_field(field, value):
  with pytest.raises(ValueError, match=field):
    FlickrLikeConfig(**{field: value})
  with pytest.raises(ValueError, match=field):
    generate_flickr_like(**{field: value})


def test_too_few_nodes_for_training_labels():
  with pytest.raises(ValueError, match="num_nodes.*labels_per_class"):
    FlickrLikeConfig(num_nodes=100, labels_per_class=20)


def test_noise_needs_two_classes():
  with pytest.raises(ValueError, match="cross_class_edge_fraction"):
    FlickrLikeConfig(num_classes=1)


def test_unknown_override():
  with pytest.raises(ValueError, match="num_images"):
    generate_flickr_like(num_images=10)


def test_the_generators_old_graph_models_names_answer_with_a_warning():
  import graph_models as gm  # pylint: disable=g-import-not-at-top
  with pytest.warns(DeprecationWarning, match="moved to gam_datasets"):
    assert gm.generate_flickr_like is generate_flickr_like
  with pytest.raises(AttributeError, match="no attribute 'generate_nothing'"):
    gm.generate_nothing  # pylint: disable=pointless-statement
