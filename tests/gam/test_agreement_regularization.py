"""Agreement-weighted regularisation: options, pairs, sampler, loss, dataset.

Includes the label-leak trap: the left side of a labelled pair contributes a
*label*, so validation / test nodes must never end up there (their class
must never reach `LEFT_LABELS`).
"""

import re

import numpy as np
import pytest
import tensorflow as tf

from gam.agreement_regularization import (GAM_KEYS, LEFT_LABELS, PAIR_WEIGHTS,
                                          AgreementRegularization,
                                          RegularizationPairs,
                                          agreement_regularization_loss,
                                          draw_pairs, regularized_dataset)
from graph_models import nsl
from graph_models.graph import UNLABELED, Graph

OPTIONS = AgreementRegularization(num_pairs=6, reg_weight_ll=2.0,
                                  reg_weight_lu=0.5, reg_weight_uu=0.25)


def scaled_ids(left, right):
  """A deterministic stand-in for the agreement model: (10 * l + r) / 100."""
  return (10 * np.asarray(left) + np.asarray(right)) / 100.0


def table_of(graph):
  """The training label table: training labels, UNLABELED everywhere else."""
  return np.where(graph.train_mask, graph.labels, UNLABELED)


def numpy_batch(batch):
  return {key: value.numpy() for key, value in batch.items()}


def traced(pairs, num_pairs, seed):
  """`step -> numpy pair batch`, run as a graph like inside `tf.data`.

  (Calling the sampler eagerly fails, see
  `test_sampler_can_be_called_eagerly`.)
  """
  sample = tf.function(pairs.sampler(num_pairs, seed))
  return lambda step: numpy_batch(sample(tf.constant(step, tf.int64)))


# A toy graph -----------------------------------------------------------------
#
# Nodes 3, 4, 5 are labelled (0, 1, 0); 0, 1, 2 are not. Edges, one way:
#   LL: 3-5 (same label), 4-3 (different labels)
#   LU: 0-4, 5-1  (the unlabelled end has the lower id, so 0-4 needs a flip)
#   UU: 1-0, 2-1


@pytest.fixture(scope="module")
def toy():
  return Graph.from_edges(
      np.eye(6, dtype=np.float32), senders=[3, 4, 0, 5, 1, 2],
      receivers=[5, 3, 4, 1, 0, 1], labels=[1, 0, 1, 0, 1, 0], num_classes=2,
      train_mask=[False] * 3 + [True] * 3, test_mask=[True] + [False] * 5,
      name="toy")


@pytest.fixture(scope="module")
def toy_pairs(toy):
  return RegularizationPairs.build(toy, table_of(toy), OPTIONS, scaled_ids)


# Options ---------------------------------------------------------------------


def test_default_options_are_valid_and_weights_are_per_kind():
  options = AgreementRegularization()
  assert options.num_pairs == 128
  assert [options.weight(k) for k in ("ll", "lu", "uu")] == [0.0, 0.1, 0.05]
  AgreementRegularization(num_pairs=0, reg_weight_ll=0, reg_weight_lu=0,
                          reg_weight_uu=0)  # All zero is allowed.


@pytest.mark.parametrize("num_pairs", [-1, 1.5, "8"])
def test_bad_num_pairs_is_refused(num_pairs):
  with pytest.raises(ValueError, match=re.escape(
      f"num_pairs must be an integer >= 0, got {num_pairs!r}")):
    AgreementRegularization(num_pairs=num_pairs)


@pytest.mark.parametrize("kind", ["ll", "lu", "uu"])
@pytest.mark.parametrize("value", [-0.5, float("nan"), float("inf")])
def test_negative_or_non_finite_weights_are_refused(kind, value):
  with pytest.raises(ValueError, match=re.escape(
      f"reg_weight_{kind} must be a finite number >= 0, got {value}")):
    AgreementRegularization(**{f"reg_weight_{kind}": value})


# RegularizationPairs.build ---------------------------------------------------


def test_pairs_are_split_by_kind_with_labelled_nodes_on_the_left(toy_pairs):
  assert toy_pairs.kinds == ("ll", "lu", "uu")
  assert toy_pairs.left["ll"].tolist() == [3, 3]
  assert toy_pairs.right["ll"].tolist() == [4, 5]
  assert toy_pairs.left["lu"].tolist() == [4, 5]  # 0-4 flipped to 4-0
  assert toy_pairs.right["lu"].tolist() == [0, 1]
  assert toy_pairs.left["uu"].tolist() == [0, 1]
  assert toy_pairs.right["uu"].tolist() == [1, 2]
  assert [toy_pairs.count(k) for k in ("ll", "lu", "uu")] == [2, 2, 2]


def test_left_labels_come_from_the_label_table(toy, toy_pairs):
  assert toy_pairs.left_labels["ll"].tolist() == [0, 0]
  assert toy_pairs.left_labels["lu"].tolist() == [1, 0]
  assert "uu" not in toy_pairs.left_labels
  # Another table (e.g. grown by self-training) gives other left labels.
  table = table_of(toy)
  table[3] = 1
  pairs = RegularizationPairs.build(toy, table, OPTIONS, scaled_ids)
  assert pairs.left_labels["ll"].tolist() == [1, 1]


def test_ll_weights_are_the_ll_weight_times_label_equality(toy_pairs):
  # 3-4: labels 0 / 1 differ; 3-5: both 0.
  np.testing.assert_array_equal(toy_pairs.weights["ll"], [0.0, 2.0])
  assert toy_pairs.weights["ll"].dtype == np.float32


def test_lu_and_uu_weights_are_the_weight_times_agreement(toy_pairs):
  np.testing.assert_allclose(toy_pairs.weights["lu"],
                             [0.5 * 0.40, 0.5 * 0.51], rtol=1e-6)
  np.testing.assert_allclose(toy_pairs.weights["uu"],
                             [0.25 * 0.01, 0.25 * 0.12], rtol=1e-6)
  assert toy_pairs.weights["lu"].dtype == np.float32
  assert toy_pairs.weights["uu"].dtype == np.float32


def test_agreement_is_asked_once_for_lu_then_uu_in_left_right_order(toy):
  calls = []

  def agreement(left, right):
    calls.append((np.asarray(left).tolist(), np.asarray(right).tolist()))
    return scaled_ids(left, right)
  RegularizationPairs.build(toy, table_of(toy), OPTIONS, agreement)
  assert calls == [([4, 5], [0, 1]), ([0, 1], [1, 2])]


def test_zero_weight_kinds_are_left_out(toy):
  options = AgreementRegularization(reg_weight_ll=0.0, reg_weight_lu=0.0,
                                    reg_weight_uu=1.0)
  calls = []

  def agreement(left, right):
    calls.append(len(left))
    return scaled_ids(left, right)
  pairs = RegularizationPairs.build(toy, table_of(toy), options, agreement)
  assert pairs.kinds == ("uu",)
  assert set(pairs.left) == set(pairs.right) == set(pairs.weights) == {"uu"}
  assert pairs.left_labels == {}
  assert pairs.count("ll") == 0 and pairs.count("lu") == 0
  assert calls == [2]  # The agreement model is not asked about LU pairs.


def test_zero_weight_kinds_count_in_the_mean_when_asked(toy):
  # The reference's mean over LL, LU and UU pairs: weight-0 LL pairs are
  # drawn and count, so the same LU / UU terms are divided by more pairs.
  options = AgreementRegularization(num_pairs=6, reg_weight_ll=0.0,
                                    mean_over_all_kinds=True)
  pairs = RegularizationPairs.build(toy, table_of(toy), options, scaled_ids)
  assert pairs.kinds == ("ll", "lu", "uu")
  np.testing.assert_array_equal(pairs.weights["ll"], [0.0, 0.0])
  batch = traced(pairs, 6, seed=0)(0)
  assert batch[PAIR_WEIGHTS].shape == (18,)
  assert (batch[PAIR_WEIGHTS][:6] == 0).all()


@pytest.mark.parametrize("count,num_pairs", [(10, 4), (3, 7), (1, 3)])
def test_passes_draw_every_pair_once_before_any_twice(count, num_pairs):
  draws = np.concatenate([
      draw_pairs(tf.constant(count, tf.int64), num_pairs,
                 tf.constant(5, tf.int64), tf.constant(step, tf.int64),
                 "passes").numpy() for step in range(6)])
  passes = draws[:len(draws) // count * count].reshape(-1, count)
  for one_pass in passes:
    assert sorted(one_pass.tolist()) == list(range(count))
  if count > 2:  # Passes are shuffled differently.
    assert len({tuple(p) for p in passes}) > 1


def test_pair_sampling_must_be_known():
  with pytest.raises(ValueError, match="sampling must be one of"):
    AgreementRegularization(sampling="sorted")


def test_kinds_without_edges_are_left_out():
  # Labelled 0-1, and 2-3 with one labelled end: no UU edge at all.
  graph = Graph.from_edges(
      np.eye(4, dtype=np.float32), senders=[0, 3], receivers=[1, 2],
      labels=[0, 0, 1, UNLABELED], num_classes=2,
      train_mask=[True, True, True, False])
  pairs = RegularizationPairs.build(graph, table_of(graph), OPTIONS,
                                    scaled_ids)
  assert pairs.kinds == ("ll", "lu")
  assert pairs.left["lu"].tolist() == [2] and pairs.right["lu"].tolist() == [3]
  none = RegularizationPairs.build(graph, np.full(4, UNLABELED), OPTIONS,
                                   scaled_ids)
  assert none.kinds == ("uu",)


@pytest.mark.parametrize("bad", [
    lambda left, right: np.zeros((len(left), 1)),
    lambda left, right: np.zeros(len(left) + 1),
    lambda left, right: np.float32(0.5),
])
def test_agreement_of_the_wrong_shape_is_refused(toy, bad):
  with pytest.raises(ValueError, match=re.escape(
      "agreement for the lu pairs must be 2 finite probabilities, got shape")):
    RegularizationPairs.build(toy, table_of(toy), OPTIONS, bad)


def test_non_finite_agreement_is_refused(toy):
  def agreement(left, right):
    score = scaled_ids(left, right)
    if left[0] == 0:  # The UU call.
      score[1] = np.nan
    return score
  with pytest.raises(ValueError, match=re.escape(
      "agreement for the uu pairs must be 2 finite probabilities, got shape "
      "(2,)")):
    RegularizationPairs.build(toy, table_of(toy), OPTIONS, agreement)


# sampler ---------------------------------------------------------------------


def rows(*columns):
  return set(zip(*(np.asarray(c).tolist() for c in columns)))


def test_sampler_is_a_function_of_seed_and_step(toy_pairs):
  sample = traced(toy_pairs, 6, seed=1)
  a, b = sample(3), sample(3)
  assert sorted(a) == sorted(["pair_nodes", LEFT_LABELS, PAIR_WEIGHTS])
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  # A fresh sampler with the same seed gives the same batch.
  c = traced(toy_pairs, 6, seed=1)(3)
  for key in a:
    np.testing.assert_array_equal(a[key], c[key])
  # Other steps, and other seeds, draw other pairs.
  others = [sample(s)["pair_nodes"] for s in range(4, 8)]
  assert any(not np.array_equal(a["pair_nodes"], o) for o in others)
  reseeded = [traced(toy_pairs, 6, seed=s)(3)["pair_nodes"]
              for s in range(2, 6)]
  assert any(not np.array_equal(a["pair_nodes"], o) for o in reseeded)


def test_sampler_layout_and_sizes(toy_pairs):
  n = 6
  sample = traced(toy_pairs, n, seed=0)
  ll = rows(toy_pairs.right["ll"], toy_pairs.left_labels["ll"],
            toy_pairs.weights["ll"])
  lu = rows(toy_pairs.right["lu"], toy_pairs.left_labels["lu"],
            toy_pairs.weights["lu"])
  uu = rows(toy_pairs.left["uu"], toy_pairs.right["uu"],
            toy_pairs.weights["uu"])
  for step in range(5):
    batch = sample(step)
    nodes, labels, weights = (batch["pair_nodes"], batch[LEFT_LABELS],
                              batch[PAIR_WEIGHTS])
    assert nodes.shape == (4 * n,) and nodes.dtype == np.int64
    assert labels.shape == (2 * n,) and labels.dtype == np.int64
    assert weights.shape == (3 * n,) and weights.dtype == np.float32
    # [ll right, lu right, uu left, uu right]; labels [ll, lu];
    # weights [ll, lu, uu]; each drawn row is a row of its kind's table.
    assert rows(nodes[:n], labels[:n], weights[:n]) <= ll
    assert rows(nodes[n:2 * n], labels[n:], weights[n:2 * n]) <= lu
    assert rows(nodes[2 * n:3 * n], nodes[3 * n:], weights[2 * n:]) <= uu


def test_sampler_with_missing_kinds_packs_only_the_present_ones(toy):
  options = AgreementRegularization(reg_weight_ll=0.0)
  pairs = RegularizationPairs.build(toy, table_of(toy), options, scaled_ids)
  batch = traced(pairs, 5, seed=0)(0)
  assert batch["pair_nodes"].shape == (15,)  # lu right, uu left, uu right
  assert batch[LEFT_LABELS].shape == (5,)
  assert batch[PAIR_WEIGHTS].shape == (10,)
  assert set(batch["pair_nodes"][:5].tolist()) <= {0, 1}
  only_uu = RegularizationPairs.build(
      toy, table_of(toy), AgreementRegularization(reg_weight_lu=0.0),
      scaled_ids)
  batch = traced(only_uu, 5, seed=0)(0)
  assert batch["pair_nodes"].shape == (10,)
  assert batch[LEFT_LABELS].shape == (0,)
  assert batch[LEFT_LABELS].dtype == np.int64
  assert batch[PAIR_WEIGHTS].shape == (5,)


def test_sampler_works_inside_tf_data(toy_pairs):
  from_data = [numpy_batch(b) for b in tf.data.Dataset.counter().take(3).map(
      toy_pairs.sampler(4, seed=2))]
  sample = traced(toy_pairs, 4, seed=2)
  for step, batch in enumerate(from_data):
    expected = sample(step)
    for key in batch:
      np.testing.assert_array_equal(batch[key], expected[key])


def test_sampler_without_uu_pairs_can_be_called_eagerly(toy):
  pairs = RegularizationPairs.build(
      toy, table_of(toy), AgreementRegularization(reg_weight_uu=0.0),
      scaled_ids)
  eager = numpy_batch(pairs.sampler(4, seed=2)(tf.constant(1, tf.int64)))
  graph = traced(pairs, 4, seed=2)(1)
  for key in eager:
    np.testing.assert_array_equal(eager[key], graph[key])


def test_sampler_can_be_called_eagerly(toy_pairs):
  # On the CPU, where an out-of-range gather raises (a GPU returns zeros).
  with tf.device("/CPU:0"):
    eager = numpy_batch(toy_pairs.sampler(4, seed=2)(
        tf.constant(1, tf.int64)))
  graph = traced(toy_pairs, 4, seed=2)(1)
  for key in eager:
    np.testing.assert_array_equal(eager[key], graph[key])


# The loss --------------------------------------------------------------------


def softmax(logits):
  e = np.exp(logits - logits.max(axis=1, keepdims=True))
  return e / e.sum(axis=1, keepdims=True)


def reference_loss(logits, left_labels, weights):
  """1/P * sum w * ||left - softmax(right)||^2, written out pair by pair."""
  probs = softmax(np.asarray(logits, np.float64))
  num_labelled = len(left_labels)
  num_uu = (len(probs) - num_labelled) // 2
  classes = probs.shape[1]
  total = 0.0
  for i, label in enumerate(left_labels):
    total += weights[i] * np.sum((np.eye(classes)[label] - probs[i]) ** 2)
  for j in range(num_uu):
    left = probs[num_labelled + j]
    right = probs[num_labelled + num_uu + j]
    total += weights[num_labelled + j] * np.sum((left - right) ** 2)
  return total / max(len(weights), 1)


@pytest.mark.parametrize("num_labelled,num_uu", [(4, 3), (0, 3), (5, 0)])
def test_loss_matches_numpy(num_labelled, num_uu):
  rng = np.random.default_rng(num_labelled * 10 + num_uu)
  classes = 3
  logits = rng.normal(size=(num_labelled + 2 * num_uu, classes)) * 2
  left_labels = rng.integers(0, classes, num_labelled)
  weights = rng.uniform(0, 1, num_labelled + num_uu)
  loss = agreement_regularization_loss(
      tf.constant(logits, tf.float32), tf.constant(left_labels, tf.int64),
      tf.constant(weights, tf.float32))
  assert float(loss) == pytest.approx(
      reference_loss(logits, left_labels, weights), rel=1e-5)


def test_loss_of_a_sampled_batch_matches_numpy(toy_pairs):
  rng = np.random.default_rng(7)
  node_logits = rng.normal(size=(6, 2)).astype(np.float32)
  batch = traced(toy_pairs, 5, seed=3)(0)
  logits = node_logits[batch["pair_nodes"]]
  loss = agreement_regularization_loss(
      tf.constant(logits), tf.constant(batch[LEFT_LABELS]),
      tf.constant(batch[PAIR_WEIGHTS]))
  expected = reference_loss(logits, batch[LEFT_LABELS], batch[PAIR_WEIGHTS])
  assert float(loss) == pytest.approx(expected, rel=1e-5)
  assert len(batch[PAIR_WEIGHTS]) == 15  # P counts every pair of the step.


def test_loss_is_zero_for_perfect_predictions_and_zero_weights():
  # Confident, matching predictions: one-hot left == softmax right.
  logits = tf.constant([[50.0, -50.0], [-50.0, 50.0], [50.0, -50.0],
                        [50.0, -50.0]])
  loss = agreement_regularization_loss(
      logits, tf.constant([0, 1], tf.int64), tf.constant([1.0, 1.0, 1.0]))
  assert float(loss) == pytest.approx(0.0, abs=1e-6)
  loss = agreement_regularization_loss(
      logits[:2], tf.constant([1, 0], tf.int64), tf.constant([0.0, 0.0]))
  assert float(loss) == 0.0


def test_loss_of_no_pairs_is_zero():
  loss = agreement_regularization_loss(
      tf.zeros([0, 3]), tf.zeros([0], tf.int64), tf.zeros([0]))
  assert float(loss) == 0.0


def test_loss_has_gradients_for_the_pair_logits():
  logits = tf.Variable([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]])
  with tf.GradientTape() as tape:
    loss = agreement_regularization_loss(
        logits, tf.constant([0], tf.int64), tf.constant([1.0, 0.5]))
  gradient = tape.gradient(loss, logits).numpy()
  assert np.isfinite(gradient).all() and np.abs(gradient).sum() > 0


# The label-leak trap ---------------------------------------------------------
#
# Validation nodes 0, 1 and test nodes 2, 3 are all of class 2, which no
# training node (6, 7, 8, 9: classes 0, 1, 0, 1) has; 4 and 5 are unlabelled.
# Every hidden / unlabelled node has a lower id than the labelled nodes, so an
# LU edge sorted by id has the unlabelled node on the left: only the explicit
# flip in `EdgePairs.from_graph` puts the labelled node there. If the left
# "label" were ever read for a hidden node, class 2 (graph labels) or
# UNLABELED (the table) would appear in LEFT_LABELS.

HIDDEN_CLASS = 2
HIDDEN = [0, 1, 2, 3]
TRAIN = [6, 7, 8, 9]
LEAK_EDGES = [
    # LU, hidden or free node first.
    (0, 6), (1, 7), (2, 8), (3, 9), (0, 9), (2, 7), (4, 6), (5, 7),
    # LL
    (6, 7), (8, 9), (6, 8),
    # UU
    (0, 1), (2, 3), (4, 5), (1, 4), (3, 5),
]


def leak_graph(both_ways):
  senders = [a for a, _ in LEAK_EDGES]
  receivers = [b for _, b in LEAK_EDGES]
  if both_ways:
    senders, receivers = senders + receivers, receivers + senders
  features = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
  return Graph.from_edges(
      features, senders=senders, receivers=receivers,
      labels=[2, 2, 2, 2, UNLABELED, UNLABELED, 0, 1, 0, 1], num_classes=3,
      train_mask=[i in TRAIN for i in range(10)],
      val_mask=[i in (0, 1) for i in range(10)],
      test_mask=[i in (2, 3) for i in range(10)], name="leak")


@pytest.fixture(scope="module", params=["both_ways", "hidden_to_labelled"])
def leak(request):
  graph = leak_graph(both_ways=request.param == "both_ways")
  table = table_of(graph)
  options = AgreementRegularization(num_pairs=8, reg_weight_ll=1.0,
                                    reg_weight_lu=1.0, reg_weight_uu=1.0)
  pairs = RegularizationPairs.build(graph, table, options,
                                    lambda l, r: np.full(len(l), 0.9))
  return graph, table, pairs


def test_leak_graph_is_what_the_trap_needs(leak):
  graph, table, _ = leak
  assert set(graph.labels[graph.val_mask | graph.test_mask]) == {HIDDEN_CLASS}
  assert HIDDEN_CLASS not in set(graph.labels[graph.train_mask])
  assert table.tolist() == [UNLABELED] * 6 + [0, 1, 0, 1]


def test_lu_pairs_have_a_labelled_left_and_an_unlabelled_right(leak):
  _, table, pairs = leak
  assert pairs.count("lu") == 8
  assert (table[pairs.left["lu"]] != UNLABELED).all()
  assert (table[pairs.right["lu"]] == UNLABELED).all()
  assert set(pairs.right["lu"].tolist()) == {0, 1, 2, 3, 4, 5}
  assert not set(pairs.left["lu"].tolist()) & set(HIDDEN)
  np.testing.assert_array_equal(pairs.left_labels["lu"],
                                table[pairs.left["lu"]])
  np.testing.assert_array_equal(pairs.left_labels["ll"],
                                table[pairs.left["ll"]])
  for kind in ("ll", "lu"):
    assert HIDDEN_CLASS not in pairs.left_labels[kind]


def neighbour_labels(graph, table, node):
  """Table labels of `node`'s labelled neighbours, either edge direction."""
  adjacency = graph.adjacency + graph.adjacency.T
  neighbours = adjacency[node].indices
  return {int(table[n]) for n in neighbours if table[n] != UNLABELED}


def check_no_leak(graph, table, left_labels, labelled_right):
  """LEFT_LABELS are training labels of a labelled neighbour, never hidden."""
  left_labels = np.asarray(left_labels)
  assert HIDDEN_CLASS not in left_labels
  assert (left_labels != UNLABELED).all()
  assert set(left_labels.tolist()) <= set(table[TRAIN].tolist())
  for label, right in zip(left_labels.tolist(), labelled_right.tolist()):
    assert label in neighbour_labels(graph, table, right), (label, right)


@pytest.mark.parametrize("full_batch", [True, False])
def test_hidden_labels_never_reach_left_labels(leak, full_batch):
  graph, table, pairs = leak
  num_pairs, batch_size = 8, 2
  dataset = regularized_dataset(graph, TRAIN, table, pairs, num_pairs,
                                full_batch=full_batch, max_neighbors=2,
                                batch_size=batch_size, seed=5)
  hidden_seen_on_the_right = set()
  for inputs, targets in dataset.take(40):
    left_labels = inputs[LEFT_LABELS].numpy()
    num_labelled_pairs = 2 * num_pairs  # LL then LU
    assert left_labels.shape == (num_labelled_pairs,)
    if full_batch:
      pair_nodes = inputs["node_ids"].numpy()[len(TRAIN):]
    else:
      pair_nodes = inputs["node_id"].numpy()[batch_size:]
    labelled_right = pair_nodes[:num_labelled_pairs]
    check_no_leak(graph, table, left_labels, labelled_right)
    hidden_seen_on_the_right |= set(labelled_right.tolist()) & set(HIDDEN)
    # The supervised targets are training labels too.
    assert HIDDEN_CLASS not in targets.numpy()
  # Hidden nodes were sampled as LU partners, so the check was not vacuous.
  assert hidden_seen_on_the_right == set(HIDDEN)


# regularized_dataset ---------------------------------------------------------


@pytest.fixture(scope="module")
def leak_both():
  graph = leak_graph(both_ways=True)
  table = table_of(graph)
  options = AgreementRegularization(num_pairs=3, reg_weight_ll=1.0)
  pairs = RegularizationPairs.build(graph, table, options,
                                    lambda l, r: np.full(len(l), 0.5))
  return graph, table, pairs


def test_full_batch_elements(leak_both):
  graph, table, pairs = leak_both
  nodes = np.array([9, 6, 8])  # Kept in this order, not sorted.
  dataset = regularized_dataset(graph, nodes, table, pairs, 3,
                                full_batch=True, seed=4)
  sample = traced(pairs, 3, seed=4)
  for step, (inputs, targets) in enumerate(dataset.take(3)):
    inputs = numpy_batch(inputs)
    expected = sample(step)
    assert inputs["node_ids"].tolist() == (
        nodes.tolist() + expected["pair_nodes"].tolist())
    assert len(inputs["node_ids"]) == len(nodes) + 4 * 3
    np.testing.assert_array_equal(inputs[LEFT_LABELS], expected[LEFT_LABELS])
    np.testing.assert_array_equal(inputs[PAIR_WEIGHTS],
                                  expected[PAIR_WEIGHTS])
    assert targets.numpy().tolist() == table[nodes].tolist()
    np.testing.assert_array_equal(inputs["features"], graph.features)
    assert len(inputs["senders"]) == graph.num_edges
    assert "pair_nodes" not in inputs


def test_packed_elements(leak_both):
  graph, table, pairs = leak_both
  batch_size, num_pairs, max_neighbors = 2, 3, 2
  dataset = regularized_dataset(graph, TRAIN, table, pairs, num_pairs,
                                full_batch=False, max_neighbors=max_neighbors,
                                batch_size=batch_size, seed=1)
  sample = traced(pairs, num_pairs, seed=1)
  seen = []
  for step, (inputs, targets) in enumerate(dataset.take(6)):
    inputs = numpy_batch(inputs)
    rows_ = batch_size + 4 * num_pairs
    ids = inputs["node_id"]
    assert ids.shape == (rows_,)
    assert inputs["features"].shape == (rows_, graph.num_features)
    np.testing.assert_array_equal(inputs["features"], graph.features[ids])
    for i in range(max_neighbors):
      assert inputs[nsl.neighbor_feature_name(i, "node_id")].shape == (rows_,)
      assert inputs[nsl.neighbor_weight_name(i)].shape == (rows_, 1)
    centre = ids[:batch_size]
    assert set(centre.tolist()) <= set(TRAIN)
    seen += centre.tolist()
    assert targets.numpy().tolist() == table[centre].tolist()
    expected = sample(step)
    np.testing.assert_array_equal(ids[batch_size:], expected["pair_nodes"])
    np.testing.assert_array_equal(inputs[LEFT_LABELS], expected[LEFT_LABELS])
    np.testing.assert_array_equal(inputs[PAIR_WEIGHTS],
                                  expected[PAIR_WEIGHTS])
    assert "pair_nodes" not in inputs
  # Three passes over the four training nodes (batches cross pass borders).
  assert sorted(seen[:4]) == TRAIN and sorted(seen[4:8]) == TRAIN


@pytest.mark.parametrize("full_batch", [True, False])
def test_without_pairs_there_are_no_gam_keys(leak_both, full_batch):
  graph, table, pairs = leak_both
  nothing = RegularizationPairs.build(
      graph, table, AgreementRegularization(reg_weight_ll=0, reg_weight_lu=0,
                                            reg_weight_uu=0),
      lambda l, r: np.full(len(l), 0.5))
  assert nothing.kinds == ()
  for chosen, num_pairs in ((None, 3), (pairs, 0), (nothing, 3)):
    dataset = regularized_dataset(graph, TRAIN, table, chosen, num_pairs,
                                  full_batch=full_batch, max_neighbors=1,
                                  batch_size=3)
    inputs, targets = next(iter(dataset))
    assert not set(inputs) & set(GAM_KEYS)
    assert "pair_nodes" not in inputs
    if full_batch:
      assert inputs["node_ids"].numpy().tolist() == TRAIN
      assert targets.numpy().tolist() == table[TRAIN].tolist()
    else:
      assert inputs["node_id"].shape == (3,)
      assert targets.numpy().tolist() == table[
          inputs["node_id"].numpy()].tolist()


def test_dataset_refuses_unlabelled_training_nodes(leak_both):
  graph, table, pairs = leak_both
  with pytest.raises(ValueError, match=re.escape(
      "leak: nodes without a label cannot be training or evaluation "
      "examples: [0]")):
    regularized_dataset(graph, [0, 6], table, pairs, 3, full_batch=True)
