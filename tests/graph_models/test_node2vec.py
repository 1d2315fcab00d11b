"""Tests of node2vec: biased walks, skip-gram embeddings, ablation features."""

import numpy as np
import pytest
import scipy.sparse as sp

from graph_models import node2vec, training
from graph_models.graph import Graph
from graph_models.node2vec import (MODES, Node2VecOptions,
                                   biased_random_walks, train_node2vec,
                                   walk_adjacency, with_node2vec_features)

SMALL = Node2VecOptions(dimensions=16, walk_length=20, walks_per_node=5,
                        window=5, batch_size=1024, learning_rate=0.01)


def graph_from(n, senders, receivers, weights=None, features=None, **kwargs):
  if features is None:
    features = np.eye(n, dtype=np.float32)
  return Graph.from_edges(features=features, senders=senders,
                          receivers=receivers, weights=weights,
                          labels=np.zeros(n, dtype=np.int64), num_classes=1,
                          **kwargs)


def ring_lattice(n=200):
  """Every node linked to the nodes 1 and 2 steps away: neighbourhoods
  overlap, so returning, staying near and moving away all happen."""
  nodes = np.arange(n)
  senders = np.concatenate([nodes, nodes])
  receivers = np.concatenate([(nodes + 1) % n, (nodes + 2) % n])
  return graph_from(n, senders, receivers).symmetrized()


def stochastic_block_model(per_class=100, classes=4, p_in=0.08, p_out=0.004,
                           signal=0.3, num_features=16, train_per_class=10,
                           seed=0):
  """Communities as classes; features are a weak class signal in noise."""
  rng = np.random.default_rng(seed)
  labels = np.repeat(np.arange(classes), per_class)
  a, b = np.triu_indices(labels.size, k=1)
  linked = rng.random(a.size) < np.where(labels[a] == labels[b], p_in, p_out)
  centroids = rng.normal(size=(classes, num_features))
  centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
  features = (signal * centroids[labels]
              + rng.normal(size=(labels.size, num_features)))
  train = np.zeros(labels.size, dtype=bool)
  for c in range(classes):
    train[rng.choice(np.flatnonzero(labels == c), train_per_class,
                     replace=False)] = True
  return Graph.from_edges(
      features=features.astype(np.float32), senders=a[linked],
      receivers=b[linked], labels=labels, num_classes=classes,
      train_mask=train, test_mask=~train, name="sbm").symmetrized()


def logistic_regression_accuracy(graph, steps=300, rate=0.5, l2=1e-3):
  """Test accuracy of softmax regression on standardised features."""
  x = graph.dense_features()
  x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
  train, test = graph.train_mask, graph.test_mask
  onehot = np.eye(graph.num_classes)[graph.labels[train]]
  weights = np.zeros((x.shape[1], graph.num_classes))
  bias = np.zeros(graph.num_classes)
  for _ in range(steps):
    logits = x[train] @ weights + bias
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    grad = (probs - onehot) / train.sum()
    weights -= rate * (x[train].T @ grad + l2 * weights)
    bias -= rate * grad.sum(axis=0)
  predicted = np.argmax(x[test] @ weights + bias, axis=1)
  return float(np.mean(predicted == graph.labels[test]))


# Options ----------------------------------------------------------------------


def test_default_options():
  options = Node2VecOptions()
  assert (options.dimensions, options.walk_length, options.walks_per_node,
          options.window, options.p, options.q, options.negatives,
          options.epochs) == (128, 80, 10, 10, 1.0, 1.0, 5, 1)


@pytest.mark.parametrize("field, value, message", [
    ("dimensions", 0, "dimensions must be an integer >= 1, got 0"),
    ("dimensions", 2.5, "dimensions must be an integer >= 1, got 2.5"),
    ("walk_length", 1, "walk_length must be an integer >= 2, got 1"),
    ("walks_per_node", 0, "walks_per_node must be an integer >= 1"),
    ("window", 0, "window must be an integer >= 1"),
    ("negatives", True, "negatives must be an integer >= 1, got True"),
    ("epochs", 0, "epochs must be an integer >= 1"),
    ("batch_size", -4, "batch_size must be an integer >= 1"),
    ("p", 0.0, "p must be a finite number > 0, got 0.0"),
    ("q", -1.0, "q must be a finite number > 0, got -1.0"),
    ("q", float("inf"), "q must be a finite number > 0, got inf"),
    ("p", 1e-320, "p must be a finite number > 0"),  # 1 / p overflows
    ("learning_rate", float("nan"), "learning_rate must be a finite number"),
    ("seed", -1, "seed must be an integer >= 0, got -1"),
])
def test_invalid_options(field, value, message):
  with pytest.raises(ValueError, match="Node2VecOptions." + message):
    Node2VecOptions(**{field: value})


@pytest.mark.parametrize("kwargs, message", [
    (dict(walk_length=0), "walk_length must be an integer >= 1, got 0"),
    (dict(walks_per_node=0), "walks_per_node must be an integer >= 1"),
    (dict(p=0), "p must be a finite number > 0, got 0"),
    (dict(q="2"), "q must be a finite number > 0, got '2'"),
])
def test_invalid_walk_arguments(kwargs, message):
  args = dict(walk_length=5, walks_per_node=1)
  args.update(kwargs)
  with pytest.raises(ValueError, match="biased_random_walks: " + message):
    biased_random_walks(ring_lattice(10), **args)


def test_train_rejects_other_options():
  with pytest.raises(ValueError, match="options must be a Node2VecOptions"):
    train_node2vec(ring_lattice(10), dict(dimensions=4))


# Walks ------------------------------------------------------------------------


def test_walks_follow_edges_in_both_directions():
  # One-way edges, a weight-0 edge, a self-loop and an isolated node.
  graph = graph_from(7, senders=[0, 1, 2, 3, 4, 2, 0],
                     receivers=[1, 2, 3, 4, 0, 2, 5],
                     weights=[1.0, 2.0, 0.5, 1.0, 3.0, 4.0, 0.0])
  walks = biased_random_walks(graph, walk_length=12, walks_per_node=30,
                              p=0.5, q=2.0, seed=3)
  assert walks.shape == (7 * 30, 12) and walks.dtype == np.int64
  np.testing.assert_array_equal(walks[:, 0], np.tile(np.arange(7), 30))
  allowed = walk_adjacency(graph).toarray() > 0
  np.testing.assert_array_equal(allowed, allowed.T)
  assert not allowed.diagonal().any() and not allowed[:, 5].any()
  moving = ~np.isin(walks[:, 0], [5, 6])
  steps = (walks[moving, :-1].ravel(), walks[moving, 1:].ravel())
  assert allowed[steps].all()
  # Edges given one way only are walked both ways.
  assert allowed[0, 1] and {(0, 1), (1, 0)} <= set(zip(*steps))


def test_isolated_nodes_keep_their_walks_to_themselves():
  # 3 has only a self-loop, 4 nothing: both are isolated for the walks.
  graph = graph_from(5, senders=[0, 1, 3], receivers=[1, 2, 3])
  walks = biased_random_walks(graph, walk_length=6, walks_per_node=4, seed=0)
  for node in (3, 4):
    np.testing.assert_array_equal(walks[walks[:, 0] == node], node)
    assert not np.isin(node, walks[walks[:, 0] != node])
  edgeless = biased_random_walks(graph_from(3, [], []), walk_length=4,
                                 walks_per_node=2)
  np.testing.assert_array_equal(edgeless,
                                np.tile(np.arange(3), 2)[:, None].repeat(4, 1))


def test_walks_are_deterministic_per_seed():
  graph = ring_lattice(50)
  first = biased_random_walks(graph, 15, 4, p=0.5, q=2.0, seed=7)
  np.testing.assert_array_equal(
      first, biased_random_walks(graph, 15, 4, p=0.5, q=2.0, seed=7))
  assert (first != biased_random_walks(graph, 15, 4, p=0.5, q=2.0,
                                       seed=8)).mean() > 0.3


# t = 0, v = 1; v's neighbours: t (weight 1), 2 (weight 2, also a neighbour
# of t), 3 (weight 1) and 4 (weight 3), neither neighbour of t.
KITE = dict(n=5, senders=[0, 0, 1, 1, 1, 3], receivers=[1, 2, 2, 3, 4, 4],
            weights=[1.0, 1.0, 2.0, 1.0, 3.0, 1.0])


@pytest.mark.parametrize("p, q, rejection", [
    (1.0, 1.0, True), (0.25, 4.0, True), (4.0, 0.25, True),
    (0.02, 50.0, True), (1.0, 0.002, True),
    (0.25, 4.0, False), (4.0, 0.25, False)])
def test_second_order_transitions_match_node2vec(p, q, rejection,
                                                 monkeypatch):
  if not rejection:  # every walker takes the exact fallback
    monkeypatch.setattr(node2vec, "_REJECTION_ROUNDS", 0)
  graph = graph_from(**KITE).symmetrized()
  walks = biased_random_walks(graph, walk_length=3, walks_per_node=20000,
                              p=p, q=q, seed=1)
  # First steps follow the weights alone: from 1 to 0, 2, 3, 4 by 1:2:1:3.
  first = walks[walks[:, 0] == 1, 1]
  np.testing.assert_allclose(np.bincount(first, minlength=5) / first.size,
                             np.array([1, 0, 2, 1, 3]) / 7, atol=0.025)
  # Second steps of walks 0 -> 1: pi_1x = alpha_pq(0, x) * w_1x.
  second = walks[(walks[:, 0] == 0) & (walks[:, 1] == 1), 2]
  # About 10,000 draws: a frequency's standard deviation is <= 0.005.
  assert second.size > 8000
  expected = np.array([1 / p, 0, 2 * 1, 1 / q, 3 / q])
  np.testing.assert_allclose(np.bincount(second, minlength=5) / second.size,
                             expected / expected.sum(), atol=0.025)


def _return_and_far_rates(graph, p, q):
  walks = biased_random_walks(graph, walk_length=30, walks_per_node=5, p=p,
                              q=q, seed=2)
  t, x = walks[:, :-2].ravel(), walks[:, 2:].ravel()
  near = walk_adjacency(graph).toarray() > 0
  return float(np.mean(x == t)), float(np.mean((x != t) & ~near[t, x]))


def test_small_p_backtracks_and_large_p_does_not():
  graph = ring_lattice()
  # Exact rates on this lattice (q = 1): 1/p over 1/p + 3 other neighbours.
  back_small, _ = _return_and_far_rates(graph, p=0.01, q=1.0)
  back_large, _ = _return_and_far_rates(graph, p=100.0, q=1.0)
  assert back_small > 0.9  # exact: 0.97
  assert back_large < 0.02  # exact: 0.003
  assert back_small > 30 * back_large


def test_small_q_explores_and_large_q_stays_near():
  graph = ring_lattice()
  _, far_small = _return_and_far_rates(graph, p=1.0, q=0.01)
  _, far_large = _return_and_far_rates(graph, p=1.0, q=100.0)
  assert far_small > 0.9  # exact: 0.97-0.99
  assert far_large < 0.02  # exact: 0.003-0.007
  # Exploring walks get further round the ring.
  spread = {}
  for q in (0.01, 100.0):
    walks = biased_random_walks(graph, 30, 5, p=1.0, q=q, seed=2)
    offset = (walks[:, -1] - walks[:, 0]) % 200
    spread[q] = np.mean(np.minimum(offset, 200 - offset))
  assert spread[0.01] > 3 * spread[100.0]


# Embeddings -------------------------------------------------------------------


def test_noise_is_the_unigram_distribution_to_the_three_quarters():
  walks = np.array([[0, 1, 0], [0, 0, 3]])
  expected = np.array([4 ** 0.75, 1, 0, 1]) / (4 ** 0.75 + 2)
  np.testing.assert_allclose(node2vec._noise_distribution(walks, 4), expected)


def test_skipgram_loss_matches_the_pairwise_formula():
  """The batched loss is the weighted mean, over (centre, context) pairs up
  to `window` steps apart, of -log s(u_c.v_o) - sum_k log s(-u_c.v_nk)."""
  rng = np.random.default_rng(0)
  walks, length, dims, negatives, window = 2, 7, 3, 2, 3
  u, v = rng.normal(size=(2, walks, length, dims))
  v_noise = rng.normal(size=(walks, negatives, dims))
  log_sigmoid = lambda x: -np.log1p(np.exp(-x))
  total = weight_sum = 0.0
  for w in range(walks):
    for i in range(length):
      for j in range(length):
        apart = abs(i - j)
        if not 1 <= apart <= window:
          continue
        weight = (window - apart + 1) / window  # word2vec's reduced window
        loss = -log_sigmoid(u[w, i] @ v[w, j])
        loss -= sum(log_sigmoid(-u[w, i] @ v_noise[w, k])
                    for k in range(negatives))
        total += weight * loss
        weight_sum += weight
  weights = node2vec._pair_weights(length, window)
  assert weights[0, 1] == 1 and weights[0, 3] == pytest.approx(1 / 3)
  assert weights[0, 4] == 0 and weights[2, 2] == 0
  batched = node2vec._skipgram_loss(
      *(np.float32(x) for x in (u, v, v_noise, weights)))
  assert float(batched) == pytest.approx(total / weight_sum, rel=1e-5)


@pytest.fixture(scope="module")
def sbm():
  graph = stochastic_block_model()
  return graph, train_node2vec(graph, SMALL)


def test_embeddings_shape_and_values(sbm):
  graph, embeddings = sbm
  assert embeddings.shape == (graph.num_nodes, 16)
  assert embeddings.dtype == np.float32
  assert np.isfinite(embeddings).all()
  assert (np.linalg.norm(embeddings, axis=1) > 0).all()
  # Communities cluster: about their mean (which skip-gram vectors share),
  # same-class nodes point the same way and others apart (measured: cosines
  # 0.69 and -0.23 on average).
  centred = embeddings - embeddings.mean(axis=0)
  unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
  cosine = unit @ unit.T
  same = graph.labels[:, None] == graph.labels[None, :]
  assert cosine[same].mean() > 0.4 and cosine[~same].mean() < 0


def test_embeddings_are_deterministic_per_seed_and_isolated_nodes_are_zero(
    capsys):
  # Node 6 is isolated, node 7 has only a self-loop.
  graph = graph_from(8, senders=[0, 1, 2, 3, 4, 5, 7],
                     receivers=[1, 2, 0, 4, 5, 3, 7]).symmetrized()
  options = Node2VecOptions(dimensions=4, walk_length=6, walks_per_node=3,
                            window=2, batch_size=64, seed=5)
  first = train_node2vec(graph, options, verbose=1)
  assert "step" in capsys.readouterr().out
  np.testing.assert_array_equal(first, train_node2vec(graph, options))
  np.testing.assert_array_equal(first[6:], 0)
  assert (np.abs(first[:6]).sum(axis=1) > 0).all()
  other = train_node2vec(graph, Node2VecOptions(
      dimensions=4, walk_length=6, walks_per_node=3, window=2, seed=6))
  assert not np.allclose(first, other)
  np.testing.assert_array_equal(
      train_node2vec(graph_from(3, [], []), options), 0)


def test_structure_beats_uninformative_features(sbm):
  """The Flickr missing-tag prediction study's ablation direction on a
  graph whose labels follow its communities but whose features barely know
  them."""
  graph, embeddings = sbm
  accuracy = {mode: logistic_regression_accuracy(
      with_node2vec_features(graph, embeddings, mode)) for mode in MODES}
  # Measured: features 0.30 (chance 0.25), node2vec 0.97, both 0.95.
  assert accuracy["features"] < 0.45
  assert accuracy["node2vec"] > 0.8
  assert accuracy["both"] > accuracy["features"] + 0.35


# Features ---------------------------------------------------------------------


def test_feature_modes():
  graph = ring_lattice(6)
  embeddings = np.arange(18, dtype=np.float64).reshape(6, 3)
  assert with_node2vec_features(graph, embeddings, "features") is graph
  only = with_node2vec_features(graph, embeddings, "node2vec")
  np.testing.assert_array_equal(only.features, embeddings)
  assert only.features.dtype == np.float32
  embeddings[2] = 0  # an isolated node's embedding
  both = with_node2vec_features(graph, embeddings, "both")
  assert both.features.shape == (6, 6 + 3)
  np.testing.assert_array_equal(both.features[:, :6], graph.features)
  norms = np.linalg.norm(both.features[:, 6:], axis=1)
  np.testing.assert_allclose(np.delete(norms, 2), np.sqrt(3), rtol=1e-6)
  assert norms[2] == 0
  np.testing.assert_allclose(
      both.features[1, 6:],
      np.sqrt(3) * embeddings[1] / np.linalg.norm(embeddings[1]), rtol=1e-6)
  # Everything else is kept.
  assert (both.adjacency != graph.adjacency).nnz == 0
  np.testing.assert_array_equal(both.labels, graph.labels)


def test_sparse_features_stay_sparse():
  graph = ring_lattice(6)
  graph = graph.replace(features=sp.csr_matrix(graph.features))
  both = with_node2vec_features(graph, np.ones((6, 2)), "both")
  assert sp.isspmatrix_csr(both.features)
  assert both.features.shape == (6, 8)
  np.testing.assert_allclose(both.features.toarray()[:, 6:], 1.0,
                             rtol=1e-6)


@pytest.mark.parametrize("embeddings, mode, message", [
    (np.ones((6, 2)), "all", r"unknown mode 'all'; choose one of \['features', "
     r"'node2vec', 'both'\]"),
    (np.ones((5, 2)), "both", r"embeddings have 5 rows \(dimension 0\) but "
     "the graph 'graph' has 6 nodes"),
    (np.ones(6), "both", r"2-D \[nodes, dimensions\] array, got shape \(6,\)"),
    (np.ones((6, 0)), "node2vec", r"0 columns \(dimension 1\)"),
    (np.array([[1.0], [np.nan], [1], [1], [1], [np.inf]]), "both",
     r"NaN or inf at nodes \[1, 5\]"),
])
def test_feature_errors(embeddings, mode, message):
  with pytest.raises(ValueError, match=message):
    with_node2vec_features(ring_lattice(6), embeddings, mode)


@pytest.mark.slow
def test_mlp_classifier_gains_from_node2vec_features(sbm):
  """The same ablation through the package's MLP, which sees the features
  as given: the embeddings' scale must let it use them."""
  graph, embeddings = sbm
  accuracy = {}
  for mode in ("features", "both"):
    result = training.train_node_classifier(
        with_node2vec_features(graph, embeddings, mode), "mlp",
        training.TrainingOptions(epochs=100, seed=0),
        validate_every_epoch=False, hidden_units=(32,))
    accuracy[mode] = result.accuracy["test"]
  print(accuracy)
  assert accuracy["both"] > accuracy["features"] + 0.35
