"""GAM's agreement-weighted regularisation of a node classifier.

Each classifier step adds, over sampled edge pairs (i, j) of the kinds LL, LU
and UU (Stretcu et al. 2019, eq. 3, as the corrected reference code computes
it):

  R = 1/P * sum_pairs w_kind * g(x_i, x_j) * || left_i - softmax(f(x_j)) ||^2

where `left_i` is node i's one-hot label for LL and LU pairs (the labelled
node is always on the left, see `edge_pairs`) and its prediction
softmax(f(x_i)) for UU pairs, `g` is the frozen agreement model's
P(same label) (for LL pairs, whose labels are both known, it is the label
agreement itself), and P is the number of pairs in the step. For multi-label
graphs the outputs are per-class sigmoids, `left_i` is node i's multi-hot
label set, the squared distance is averaged over classes (as the sigmoid
cross-entropy is) and agreement is `label_table.values_agree` (Jaccard >=
0.5).

Agreement is frozen while the classifier trains, so `RegularizationPairs`
computes `w_kind * g` once per round for every edge; each step then samples
`num_pairs` pairs of each kind inside `tf.data` (stateless, seeded by the
step number) and appends the pair nodes to the step's input, so one forward
pass of the classifier yields both the supervised outputs and the pair
predictions. That works the same for a whole graph (the pair nodes are extra
`node_ids`) and for packed neighbourhood batches (extra packed examples).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from gam.edge_pairs import KINDS, EdgePairs
from graph_models.graph import Graph
from graph_models.label_table import labeled_rows, labels_agree
from graph_models.neighbor_packing import (FEATURES, NODE_IDS, checked_nodes,
                                           label_values, labels_of,
                                           neighbor_packer, node_id_batches,
                                           whole_graph_inputs)

# Keys the regularised training input adds to a classifier's input dict.
LEFT_LABELS = "gam_left_labels"
PAIR_WEIGHTS = "gam_pair_weights"
GAM_KEYS = (LEFT_LABELS, PAIR_WEIGHTS)

AgreementFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

# How each step draws its pairs of a kind: independently with replacement, or
# walking through shuffled passes over the pairs (each pair once a pass, as
# the reference code's edge iterators do).
PAIR_SAMPLINGS = ("replacement", "passes")


@dataclasses.dataclass(frozen=True)
class AgreementRegularization:
  """How strongly, and over how many pairs, the classifier is regularised.

  Attributes:
    num_pairs: pairs of each kind (LL, LU, UU) sampled per training step.
    reg_weight_ll: weight of pairs whose ends are both labelled.
    reg_weight_lu: weight of labelled-unlabelled pairs.
    reg_weight_uu: weight of pairs whose ends are both unlabelled.
    mean_over_all_kinds: divide the term by the pairs of every kind the
      graph has, zero-weight kinds included (the reference's mean over LL,
      LU and UU pairs, whose LL pairs have weight 0: the term is then 2/3 as
      strong), instead of by the weighted pairs only.
    sampling: one of `PAIR_SAMPLINGS`.

  The defaults are the reference code's; its GCN runs on Cora used
  `num_pairs=512, reg_weight_lu=1, reg_weight_uu=0.5`.
  """
  num_pairs: int = 128
  reg_weight_ll: float = 0.0
  reg_weight_lu: float = 0.1
  reg_weight_uu: float = 0.05
  mean_over_all_kinds: bool = False
  sampling: str = "replacement"

  def __post_init__(self):
    if not isinstance(self.num_pairs, int) or self.num_pairs < 0:
      raise ValueError(f"num_pairs must be an integer >= 0, got "
                       f"{self.num_pairs!r}")
    for kind in KINDS:
      weight = self.weight(kind)
      if not np.isfinite(weight) or weight < 0:
        raise ValueError(f"reg_weight_{kind} must be a finite number >= 0, "
                         f"got {weight}")
    if self.sampling not in PAIR_SAMPLINGS:
      raise ValueError(f"sampling must be one of {PAIR_SAMPLINGS}, got "
                       f"{self.sampling!r}")

  def weight(self, kind: str) -> float:
    return getattr(self, f"reg_weight_{kind}")


@dataclasses.dataclass(frozen=True)
class RegularizationPairs:
  """One round's edge pairs with their weights `w_kind * g`, per kind.

  `left_labels[kind]` is the left node's label for LL and LU pairs. Kinds
  with no edge are left out (no pair of them is sampled), and so are kinds
  of zero weight unless `mean_over_all_kinds`.

  Example:
    >>> pairs = RegularizationPairs.build(
    ...     graph, label_table, AgreementRegularization(),
    ...     lambda left, right: agreement_probabilities(agr, graph, left, right))
  """
  left: Dict[str, np.ndarray]
  right: Dict[str, np.ndarray]
  left_labels: Dict[str, np.ndarray]
  weights: Dict[str, np.ndarray]
  # `(num_classes,)` for multi-hot label tables, `()` for class ids.
  label_shape: Tuple[int, ...] = ()
  sampling: str = "replacement"

  @classmethod
  def build(cls, graph: Graph, labels: np.ndarray,
            options: AgreementRegularization,
            agreement: AgreementFn) -> "RegularizationPairs":
    """Splits `graph`'s edges by `labels` and scores them with `agreement`.

    `agreement(left_ids, right_ids)` returns P(same label) per pair; it is
    called once for the LU pairs and once for the UU pairs.
    """
    labels = np.asarray(labels)
    edge_pairs = EdgePairs.from_graph(graph, labels)
    left, right, left_labels, weights = {}, {}, {}, {}
    for kind in KINDS:
      pairs = getattr(edge_pairs, kind)
      if len(pairs) == 0 or (options.weight(kind) == 0
                             and not options.mean_over_all_kinds):
        continue
      left[kind], right[kind] = pairs[:, 0], pairs[:, 1]
      if kind == "uu":
        score = np.asarray(agreement(pairs[:, 0], pairs[:, 1]), np.float32)
      else:
        if not labeled_rows(labels)[pairs[:, 0]].all():  # EdgePairs ensures
          raise ValueError(f"{kind} pair with an unlabelled left node")
        left_labels[kind] = label_values(labels[pairs[:, 0]])
        score = (np.asarray(agreement(pairs[:, 0], pairs[:, 1]), np.float32)
                 if kind == "lu" else
                 labels_agree(labels, pairs[:, 0], pairs[:, 1]).astype(
                     np.float32))
      if score.shape != (len(pairs),) or not np.isfinite(score).all():
        raise ValueError(f"agreement for the {kind} pairs must be "
                         f"{len(pairs)} finite probabilities, got shape "
                         f"{score.shape}")
      weights[kind] = (options.weight(kind) * score).astype(np.float32)
    return cls(left, right, left_labels, weights, labels.shape[1:],
               options.sampling)

  @property
  def kinds(self):
    return tuple(kind for kind in KINDS if kind in self.weights)

  def count(self, kind: str) -> int:
    return len(self.weights.get(kind, ()))

  def sampler(self, num_pairs: int, seed: int
              ) -> Callable[[tf.Tensor], Dict[str, tf.Tensor]]:
    """`step -> pair batch`: `num_pairs` pairs of each kind, stateless
    (`self.sampling`: with replacement, or the step's stretch of a sequence
    of shuffled passes over the kind's pairs).

    The batch holds `pair_nodes` (the nodes whose predictions the term needs:
    the right ends of LL and LU pairs, then the left and right ends of UU
    pairs), `LEFT_LABELS` (LL then LU) and `PAIR_WEIGHTS` (LL, LU, UU).
    """
    tables = {kind: (
        tf.constant(self.left[kind]), tf.constant(self.right[kind]),
        tf.constant(self.left_labels[kind])
        if kind in self.left_labels else None,
        tf.constant(self.weights[kind])) for kind in self.kinds}
    # An absent kind contributes empty tensors of the tables' shapes.
    empty = [tf.zeros([0], tf.int64), tf.zeros([0], tf.int64),
             tf.zeros((0,) + tuple(self.label_shape),
                      tf.float32 if self.label_shape else tf.int64),
             tf.zeros([0], tf.float32)]

    def sample(step):
      chosen = {}
      for index, (kind, (left, right, left_labels, weights)) in enumerate(
          tables.items()):
        draw = draw_pairs(tf.shape(weights, out_type=tf.int64)[0], num_pairs,
                          tf.cast(seed, tf.int64) * 3 + index,
                          tf.cast(step, tf.int64), self.sampling)
        # UU pairs have no left label to gather.
        chosen[kind] = [tf.gather(table, draw) if table is not None else None
                        for table in (left, right, left_labels, weights)]

      def get(kind, field):  # field: 0 left, 1 right, 2 left label, 3 weight
        return chosen[kind][field] if kind in chosen else empty[field]
      return {
          "pair_nodes": tf.concat([get("ll", 1), get("lu", 1), get("uu", 0),
                                   get("uu", 1)], axis=0),
          LEFT_LABELS: tf.concat([get("ll", 2), get("lu", 2)], axis=0),
          PAIR_WEIGHTS: tf.concat([get("ll", 3), get("lu", 3), get("uu", 3)],
                                  axis=0),
      }
    return sample


def draw_pairs(count: tf.Tensor, num_pairs: int, seed: tf.Tensor,
               step: tf.Tensor, sampling: str) -> tf.Tensor:
  """Indices into `count` pairs for one step, stateless in `(seed, step)`.

  "replacement": `num_pairs` independent uniform draws. "passes": positions
  `step * num_pairs ...` of an endless sequence of passes, pass p a
  permutation of all pairs seeded by `(seed, p)` (TF's random index
  shuffle, which never materialises it).
  """
  if sampling == "replacement":
    return tf.random.stateless_uniform(
        [num_pairs], seed=tf.stack([seed, step]), minval=0, maxval=count,
        dtype=tf.int64)
  positions = step * num_pairs + tf.range(num_pairs, dtype=tf.int64)
  passes = positions // count
  seeds = tf.stack([tf.fill([num_pairs], seed), passes,
                    tf.zeros([num_pairs], tf.int64)], axis=1)
  # The op itself: its Python wrapper does not take one seed per index.
  return tf.raw_ops.RandomIndexShuffle(index=positions % count, seed=seeds,
                                       max_index=count - 1)


def agreement_regularization_loss(pair_logits: tf.Tensor,
                                  left_labels: tf.Tensor,
                                  pair_weights: tf.Tensor) -> tf.Tensor:
  """R of the module docstring, from the classifier's outputs on pair nodes.

  `pair_logits` are the outputs for the `pair_nodes` of a pair batch
  (`[num_labelled_pairs + 2 * num_uu_pairs, classes]`). `left_labels` are
  class ids (softmax outputs) or multi-hot rows (multi-label: sigmoids).
  """
  pair_logits = tf.cast(pair_logits, tf.float32)
  if left_labels.shape.rank == 2:
    probabilities = tf.sigmoid(pair_logits)
    left_targets = tf.cast(left_labels, tf.float32)
  else:
    probabilities = tf.nn.softmax(pair_logits)
    left_targets = tf.one_hot(left_labels, tf.shape(probabilities)[1])
  num_labelled = tf.shape(left_labels)[0]
  right_of_labelled = probabilities[:num_labelled]
  uu_left, uu_right = tf.split(probabilities[num_labelled:], 2, axis=0)
  left = tf.concat([left_targets, uu_left], axis=0)
  right = tf.concat([right_of_labelled, uu_right], axis=0)
  # Multi-label: averaged over classes, as the sigmoid cross-entropy is, so
  # that the weights mean the same against the supervised loss whatever the
  # number of classes.
  distances = (tf.reduce_mean if left_labels.shape.rank == 2
               else tf.reduce_sum)(tf.square(left - right), axis=-1)
  count = tf.maximum(tf.size(pair_weights), 1)
  return tf.reduce_sum(pair_weights * distances) / tf.cast(count, tf.float32)


def regularized_dataset(graph: Graph, nodes: np.ndarray, labels: np.ndarray,
                        pairs: Optional[RegularizationPairs], num_pairs: int,
                        full_batch: bool, max_neighbors: int = 0,
                        batch_size: int = 128, seed: int = 0,
                        feature_name: str = FEATURES,
                        sparse_features: bool = False) -> tf.data.Dataset:
  """An endless training dataset of `(inputs, labels)` for `nodes`.

  With `pairs`, each element also carries a pair batch: its nodes are
  appended after the labelled nodes (whole graph: to `node_ids`; packed:
  as extra examples) and `LEFT_LABELS` / `PAIR_WEIGHTS` are added to the
  inputs. `GraphAgreementModel.train_step` splits the outputs again.
  Full-batch elements hold every labelled node; packed elements hold
  `batch_size` of them, reshuffled every pass. With `sparse_features`,
  sparse enough features are `tf.SparseTensor`s (see `whole_graph_inputs`
  and `neighbor_packer`).
  """
  nodes = checked_nodes(graph, nodes)
  labels = labels_of(graph, nodes, labels)
  label_table = tf.constant(label_values(labels))
  sample = (pairs.sampler(num_pairs, seed)
            if pairs is not None and pairs.kinds and num_pairs else None)
  steps = tf.data.Dataset.counter()

  if full_batch:
    whole = tf.data.Dataset.from_tensors(
        whole_graph_inputs(graph, nodes, sparse_features)).repeat()
    node_ids = tf.constant(nodes)

    def merge(inputs, step):
      inputs = dict(inputs)
      if sample is not None:
        pair_batch = sample(step)
        inputs[NODE_IDS] = tf.concat([node_ids, pair_batch.pop("pair_nodes")],
                                     axis=0)
        inputs.update(pair_batch)
      return inputs, tf.gather(label_table, node_ids)
    return tf.data.Dataset.zip(whole, steps).map(merge)

  pack = neighbor_packer(graph, max_neighbors, feature_name, sparse_features)
  batches = node_id_batches(nodes, batch_size, shuffle=True, seed=seed,
                            repeat=True, drop_remainder=False)

  def pack_batch(ids, step):
    targets = tf.gather(label_table, ids)
    if sample is None:
      return pack(ids), targets
    pair_batch = sample(step)
    inputs = pack(tf.concat([ids, pair_batch.pop("pair_nodes")], axis=0))
    inputs.update(pair_batch)
    return inputs, targets
  return tf.data.Dataset.zip(batches, steps).map(
      pack_batch, num_parallel_calls=tf.data.AUTOTUNE,
      deterministic=True).prefetch(tf.data.AUTOTUNE)
