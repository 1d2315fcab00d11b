"""node2vec structural node features (Grover & Leskovec, 2016).

Three steps, each usable on its own:

1. `biased_random_walks`: node2vec's second-order random walks (§3.2.2). A
   walker that went from `t` to `v` moves on to a neighbour `x` of `v` with
   probability proportional to `pi_vx = alpha_pq(t, x) * w_vx`, where `w_vx`
   is the edge weight and `alpha_pq(t, x)` is `1 / p` if `x == t` (distance
   `d_tx = 0`), `1` if `x` is a neighbour of `t` (`d_tx = 1`) and `1 / q`
   otherwise (`d_tx = 2`). The first step, without a `t`, follows the weights
   alone. A small `p` makes walks backtrack; a small `q` makes them explore
   outwards (DFS-like), a large `q` keeps them near `t` (BFS-like). All
   walkers advance together, a step at a time, by rejection sampling from
   per-row weight CDFs (no per-edge alias tables, which need memory of the
   order of the sum of squared degrees); the few left after some rounds get
   the exact distribution of their neighbourhood.
2. `train_node2vec`: skip-gram with negative sampling over the walks
   (Mikolov et al., 2013, eq. 4): for a centre node `c` and a node `o` within
   `window` steps of it on a walk, minimise
   `-log s(u_c . v_o) - sum_k log s(-u_c . v_nk)`, with `negatives` noise
   nodes `n_k` drawn from the walk corpus's unigram distribution raised to
   the 3/4 power. The `u` (centre) vectors are the embeddings.
3. `with_node2vec_features`: the Flickr missing-tag prediction study's
   ablation inputs - node features only, embeddings only, or both
   concatenated.

The walks treat the graph as undirected and weighted: they use
`max(A, A^T)` without self-loops (a self-loop would only make a walk stand
still) and without zero-weight edges. A node with no other neighbour is
isolated: its walks stay on it, and its embedding is all zeros.

Example:
  >>> embeddings = train_node2vec(graph, Node2VecOptions(dimensions=64))
  >>> both = with_node2vec_features(graph, embeddings, mode="both")
"""

from __future__ import annotations

import dataclasses
import math
from typing import Tuple

import keras
import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from graph_models.graph import Graph, format_ids
from graph_models.sorted_search import search_sorted

MODES = ("features", "node2vec", "both")

# Rejection rounds per walk step before the walkers still waiting get the
# exact distribution of their neighbourhood (costs their degrees; rejection
# costs O(log degree) a round). A round accepts with probability at least
# min(q, 1 / q), so few walkers are left after these unless q is extreme.
_REJECTION_ROUNDS = 8
# Walkers advanced together: bounds the temporary arrays of one step.
_WALKERS_PER_CHUNK = 1 << 18
# Lazy Adam (moments of the rows a step touches only, as in TF1's
# LazyAdamOptimizer): a dense update of every row per step would cost
# O(num_nodes) however small the batch.
_BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-7


def _integer(owner: str, field: str, value, minimum: int) -> int:
  if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
      or value < minimum):
    raise ValueError(f"{owner}{field} must be an integer >= {minimum}, got "
                     f"{value!r}")
  return int(value)


def _positive(owner: str, field: str, value) -> float:
  if (isinstance(value, bool)
      or not isinstance(value, (int, float, np.integer, np.floating))
      or not math.isfinite(value) or not value > 0
      or not math.isfinite(1.0 / value)):
    raise ValueError(f"{owner}{field} must be a finite number > 0, got "
                     f"{value!r}")
  return float(value)


@dataclasses.dataclass(frozen=True)
class Node2VecOptions:
  """Walk and skip-gram settings of `train_node2vec`.

  Attributes:
    dimensions: size of each node's embedding.
    walk_length: nodes per walk, the start included (at least 2).
    walks_per_node: walks started from every node.
    window: context size: nodes up to this many steps apart on a walk are
      (centre, context) pairs. As in word2vec's reduced window, a pair `k`
      steps apart weighs `(window - k + 1) / window`.
    p: return parameter; below 1 walks backtrack more often.
    q: in-out parameter; below 1 walks move outwards, above 1 stay local.
    negatives: noise nodes per pair (drawn per walk, shared by its pairs).
    epochs: passes of the optimiser over the walks.
    batch_size: (centre, context) pairs per optimiser step, rounded to whole
      walks (at least one walk per step).
    learning_rate: Adam's learning rate.
    seed: seeds the walks, the initial vectors, the order of the walks and
      the negatives.

  Example:
    >>> Node2VecOptions(dimensions=64, p=0.5, q=2.0)
  """
  dimensions: int = 128
  walk_length: int = 80
  walks_per_node: int = 10
  window: int = 10
  p: float = 1.0
  q: float = 1.0
  negatives: int = 5
  epochs: int = 1
  batch_size: int = 8192
  learning_rate: float = 0.01
  seed: int = 0

  def __post_init__(self):
    owner = "Node2VecOptions."
    _integer(owner, "dimensions", self.dimensions, 1)
    # A single-node walk has no context to learn from.
    _integer(owner, "walk_length", self.walk_length, 2)
    for field in ("walks_per_node", "window", "negatives", "epochs",
                  "batch_size"):
      _integer(owner, field, getattr(self, field), 1)
    for field in ("p", "q", "learning_rate"):
      _positive(owner, field, getattr(self, field))
    _integer(owner, "seed", self.seed, 0)


# Walks ------------------------------------------------------------------------


def walk_adjacency(graph: Graph) -> sp.csr_matrix:
  """The weighted undirected graph the walks move on (float64, sorted CSR):
  `max(A, A^T)` without self-loops or zero-weight edges."""
  adjacency = graph.adjacency
  both = adjacency.maximum(adjacency.T).tocoo()
  keep = (both.row != both.col) & (both.data > 0)
  matrix = sp.csr_matrix(
      (both.data[keep].astype(np.float64), (both.row[keep], both.col[keep])),
      shape=adjacency.shape)
  matrix.sort_indices()
  return matrix


class _Walker:
  """Per-row CDFs and edge lookups of a symmetric CSR matrix."""

  def __init__(self, adjacency: sp.csr_matrix, p: float, q: float,
               rng: np.random.Generator):
    self.n = adjacency.shape[0]
    self.indptr = adjacency.indptr.astype(np.int64)
    self.indices = adjacency.indices.astype(np.int64)
    self.weights = adjacency.data.astype(np.float64)
    # One running sum over all rows: row v's CDF is its slice, offset by
    # cdf[indptr[v]], so a single searchsorted samples every walker's row.
    self.cdf = np.concatenate([[0.0], np.cumsum(self.weights)])
    rows = np.repeat(np.arange(self.n, dtype=np.int64),
                     np.diff(self.indptr))
    # Row-major keys of a sorted CSR matrix are sorted: edge lookups and
    # membership tests are one searchsorted.
    self.keys = rows * self.n + self.indices
    self.inv_p, self.inv_q = 1.0 / p, 1.0 / q
    self.rng = rng

  def degrees(self) -> np.ndarray:
    return np.diff(self.indptr)

  def _find(self, rows: np.ndarray, cols: np.ndarray
            ) -> Tuple[np.ndarray, np.ndarray]:
    """Edge positions of (rows, cols) and whether each edge exists."""
    keys = rows * self.n + cols
    positions = np.minimum(search_sorted(self.keys, keys),
                           self.keys.size - 1)
    return positions, self.keys[positions] == keys

  def _pick(self, start: np.ndarray, end: np.ndarray,
            offset: np.ndarray) -> np.ndarray:
    """Edge positions at cumulative weight `offset` into rows [start, end)."""
    found = search_sorted(self.cdf, self.cdf[start] + offset, side="right") - 1
    return np.clip(found, start, end - 1)

  def first_step(self, v: np.ndarray) -> np.ndarray:
    start, end = self.indptr[v], self.indptr[v + 1]
    total = self.cdf[end] - self.cdf[start]
    return self.indices[self._pick(start, end,
                                   self.rng.random(v.size) * total)]

  def second_order_step(self, t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Next nodes of walkers at `v` that came from `t` (all of v's rows
    non-empty), by rejection sampling.

    Proposal: back to `t` with mass `w_vt / p`, else a neighbour `x != t`
    by weight with mass `w_vx * bound`, `bound = max(1, 1 / q)`. Accepting
    `x != t` with probability `alpha_pq(t, x) / bound` leaves `pi_vx`.
    """
    rng = self.rng
    start, end = self.indptr[v], self.indptr[v + 1]
    total = self.cdf[end] - self.cdf[start]
    t_edge, _ = self._find(v, t)  # present: the graph is symmetric
    w_t = self.weights[t_edge]
    before_t = self.cdf[t_edge] - self.cdf[start]
    rest = np.maximum(total - w_t, 0.0)
    bound = max(1.0, self.inv_q)
    back_share = w_t * self.inv_p / (w_t * self.inv_p + rest * bound)

    chosen = np.empty(v.size, dtype=np.int64)
    pending = np.arange(v.size)
    for _ in range(_REJECTION_ROUNDS):
      back = rng.random(pending.size) < back_share[pending]
      # A weighted draw from the row with t's interval cut out.
      offset = rng.random(pending.size) * rest[pending]
      offset += np.where(offset >= before_t[pending], w_t[pending], 0.0)
      x = self.indices[self._pick(start[pending], end[pending], offset)]
      _, near = self._find(t[pending], x)
      alpha = np.where(near, 1.0, self.inv_q)
      accept = back | ((rng.random(pending.size) * bound < alpha)
                       & (x != t[pending]))  # t again only by rounding
      chosen[pending[accept]] = np.where(back, t[pending], x)[accept]
      pending = pending[~accept]
      if not pending.size:
        return chosen
    chosen[pending] = self._exact_step(t[pending], v[pending])
    return chosen

  def _exact_step(self, t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """`pi_vx` over every neighbour of each walker's `v` at once."""
    start = self.indptr[v]
    degree = self.indptr[v + 1] - start
    first = np.cumsum(degree) - degree
    walker = np.repeat(np.arange(v.size), degree)
    edge = start[walker] + np.arange(walker.size) - first[walker]
    x = self.indices[edge]
    _, near = self._find(t[walker], x)
    alpha = np.where(x == t[walker], self.inv_p,
                     np.where(near, 1.0, self.inv_q))
    cdf = np.concatenate([[0.0], np.cumsum(self.weights[edge] * alpha)])
    low, high = cdf[first], cdf[first + degree]
    found = np.searchsorted(
        cdf, low + self.rng.random(v.size) * (high - low), side="right") - 1
    return x[np.clip(found, first, first + degree - 1)]


def _walks(adjacency: sp.csr_matrix, walk_length: int, walks_per_node: int,
           p: float, q: float, seed: int) -> np.ndarray:
  walker = _Walker(adjacency, p, q, np.random.default_rng(seed))
  n = adjacency.shape[0]
  has_edges = walker.degrees() > 0
  walks = np.empty((n * walks_per_node, walk_length), dtype=np.int64)
  walks[:] = np.tile(np.arange(n, dtype=np.int64), walks_per_node)[:, None]
  moving = np.flatnonzero(has_edges[walks[:, 0]])
  for chunk in range(0, moving.size, _WALKERS_PER_CHUNK):
    rows = moving[chunk:chunk + _WALKERS_PER_CHUNK]
    if walk_length > 1:
      walks[rows, 1] = walker.first_step(walks[rows, 0])
    for step in range(2, walk_length):
      walks[rows, step] = walker.second_order_step(walks[rows, step - 2],
                                                   walks[rows, step - 1])
  return walks


def biased_random_walks(graph: Graph, walk_length: int, walks_per_node: int,
                        p: float = 1.0, q: float = 1.0,
                        seed: int = 0) -> np.ndarray:
  """node2vec walks: `[num_nodes * walks_per_node, walk_length]` int64 ids.

  Row `r * num_nodes + i` is node i's r-th walk. Walks move on
  `walk_adjacency(graph)`; those of isolated nodes stay on them. The same
  seed gives the same walks.

  Example:
    >>> walks = biased_random_walks(graph, walk_length=20, walks_per_node=5,
    ...                             p=0.5, q=2.0, seed=1)
    >>> walks.shape
    (5 * graph.num_nodes, 20)
  """
  owner = "biased_random_walks: "
  walk_length = _integer(owner, "walk_length", walk_length, 1)
  walks_per_node = _integer(owner, "walks_per_node", walks_per_node, 1)
  p, q = _positive(owner, "p", p), _positive(owner, "q", q)
  seed = _integer(owner, "seed", seed, 0)
  return _walks(walk_adjacency(graph), walk_length, walks_per_node, p, q,
                seed)


# Skip-gram --------------------------------------------------------------------


def _pair_weights(walk_length: int, window: int) -> np.ndarray:
  """`[length, length]` weights of (centre, context) position pairs.

  word2vec draws each centre's window uniformly from 1 .. window, so a pair
  `k` steps apart is used with probability (window - k + 1) / window; these
  weights give the same objective in expectation, without the noise.
  """
  positions = np.arange(walk_length)
  apart = np.abs(positions[:, None] - positions[None, :])
  weights = np.where((apart >= 1) & (apart <= window),
                     (window - apart + 1) / window, 0.0)
  return weights.astype(np.float32)


def _noise_distribution(walks: np.ndarray, num_nodes: int) -> np.ndarray:
  """word2vec's noise: node frequencies in the walks to the power 3/4."""
  noise = np.bincount(walks.ravel(), minlength=num_nodes) ** 0.75
  return noise / noise.sum()


def _skipgram_loss(u: tf.Tensor, v: tf.Tensor, v_noise: tf.Tensor,
                   pair_weights: tf.Tensor) -> tf.Tensor:
  """Weighted mean over a batch of walks of every pair's negative-sampling
  loss; `u`, `v`: [walks, length, dims] centre and context vectors of the
  walks' nodes, `v_noise`: [walks, negatives, dims] shared by a walk's pairs.
  """
  scores = tf.linalg.matmul(u, v, transpose_b=True)
  loss = -tf.reduce_sum(pair_weights * tf.math.log_sigmoid(scores))
  noise_scores = tf.linalg.matmul(u, v_noise, transpose_b=True)
  # Each of a position's pairs meets the same noise nodes.
  loss -= tf.reduce_sum(tf.reduce_sum(pair_weights, axis=1)[:, None]
                        * tf.math.log_sigmoid(-noise_scores))
  walks = tf.cast(tf.shape(u)[0], tf.float32)
  return loss / (walks * tf.reduce_sum(pair_weights))


def _lazy_adam(variable: tf.Variable, moments: Tuple[tf.Variable, tf.Variable],
               rows: tf.Tensor, gradients: tf.Tensor,
               learning_rate: tf.Tensor) -> None:
  """Adam on the rows a step touched; repeated rows' gradients are summed."""
  unique, position = tf.unique(rows)
  gradient = tf.math.unsorted_segment_sum(gradients, position,
                                          tf.size(unique))
  first, second = moments
  m = _BETA_1 * tf.gather(first, unique) + (1 - _BETA_1) * gradient
  v = _BETA_2 * tf.gather(second, unique) + (1 - _BETA_2) * tf.square(gradient)
  first.scatter_update(tf.IndexedSlices(m, unique))
  second.scatter_update(tf.IndexedSlices(v, unique))
  variable.scatter_sub(tf.IndexedSlices(
      learning_rate * m / (tf.sqrt(v) + _EPSILON), unique))


def train_node2vec(graph: Graph, options: Node2VecOptions = Node2VecOptions(),
                   verbose: int = 0) -> np.ndarray:
  """node2vec embeddings of `graph`'s nodes: `[num_nodes, dimensions]` float32.

  Walks once (`biased_random_walks`), then trains skip-gram with negative
  sampling on them for `options.epochs` passes, in shuffled batches of
  walks. Isolated nodes get zeros. `verbose=1` shows a Keras progress bar.

  Each step scores every position of its walks against every other by a
  product of the walks' centre and context vectors, weighted by
  `_pair_weights` (zero beyond the window): dense products beat gathering
  the pairs, and scattering their gradients, one by one. The `negatives`
  noise nodes are drawn per walk and shared by all its pairs, so each pair's
  loss is still `-log s(u_c . v_o) - sum_k log s(-u_c . v_nk)` with
  `n_k ~ unigram^0.75`, only not drawn independently for every pair.
  Measured on a 5,000-node graph (default options, 2 busy CPU cores): 60 s
  with the same accuracy as per-pair negatives, which took 390 s.

  Example:
    >>> embeddings = train_node2vec(graph, Node2VecOptions(dimensions=16,
    ...                                                    walk_length=20))
    >>> embeddings.shape
    (graph.num_nodes, 16)
  """
  if not isinstance(options, Node2VecOptions):
    raise ValueError("options must be a Node2VecOptions, got "
                     f"{type(options).__name__}")
  n, dimensions = graph.num_nodes, options.dimensions
  adjacency = walk_adjacency(graph)
  walks = _walks(adjacency, options.walk_length, options.walks_per_node,
                 options.p, options.q, options.seed)
  # Walks standing on an isolated node would only teach it about itself.
  walks = walks[np.diff(adjacency.indptr)[walks[:, 0]] > 0].astype(np.int32)
  embeddings = np.zeros((n, dimensions), dtype=np.float32)
  if not walks.size:
    return embeddings

  noise_cdf = tf.constant(np.cumsum(_noise_distribution(walks, n)),
                          dtype=tf.float64)
  pair_weights = _pair_weights(options.walk_length, options.window)
  walks_per_step = max(1, round(options.batch_size
                                / np.count_nonzero(pair_weights)))
  pair_weights = tf.constant(pair_weights)
  seed = tf.constant(options.seed, dtype=tf.int64)
  negatives = options.negatives

  # word2vec's start: small random centre vectors, zero context vectors.
  centre = tf.Variable(tf.random.stateless_uniform(
      [n, dimensions], seed=tf.stack([seed, tf.constant(-1, tf.int64)]),
      minval=-0.5 / dimensions, maxval=0.5 / dimensions))
  context = tf.Variable(tf.zeros([n, dimensions]))
  moments = {name: (tf.Variable(tf.zeros([n, dimensions])),
                    tf.Variable(tf.zeros([n, dimensions])))
             for name in ("centre", "context")}

  @tf.function(input_signature=[
      tf.TensorSpec([None, options.walk_length], tf.int32),
      tf.TensorSpec([], tf.int64)])
  def train_step(batch, step):
    draws = tf.random.stateless_uniform(
        [tf.shape(batch)[0], negatives], seed=tf.stack([seed, step]),
        dtype=tf.float64)
    noise_nodes = tf.reshape(tf.cast(tf.minimum(tf.searchsorted(
        noise_cdf, tf.reshape(draws, [-1]), side="right"), n - 1), tf.int32),
                             tf.shape(draws))
    u = tf.gather(centre, batch)  # [walks, length, dimensions]
    v = tf.gather(context, batch)
    v_noise = tf.gather(context, noise_nodes)  # [walks, noise, dimensions]
    with tf.GradientTape() as tape:
      tape.watch([u, v, v_noise])
      loss = _skipgram_loss(u, v, v_noise, pair_weights)
    grad_u, grad_v, grad_noise = tape.gradient(loss, [u, v, v_noise])
    t = tf.cast(step + 1, tf.float32)
    rate = (options.learning_rate * tf.sqrt(1 - _BETA_2 ** t)
            / (1 - _BETA_1 ** t))
    _lazy_adam(centre, moments["centre"], tf.reshape(batch, [-1]),
               tf.reshape(grad_u, [-1, dimensions]), rate)
    _lazy_adam(context, moments["context"],
               tf.concat([tf.reshape(batch, [-1]),
                          tf.reshape(noise_nodes, [-1])], 0),
               tf.concat([tf.reshape(grad_v, [-1, dimensions]),
                          tf.reshape(grad_noise, [-1, dimensions])], 0),
               rate)
    return loss

  rng = np.random.default_rng(options.seed)
  steps_per_epoch = -(-walks.shape[0] // walks_per_step)
  progress = keras.utils.Progbar(steps_per_epoch * options.epochs,
                                 verbose=verbose, unit_name="step")
  step = 0
  for _ in range(options.epochs):
    order = rng.permutation(walks.shape[0])
    for first in range(0, order.size, walks_per_step):
      loss = train_step(walks[order[first:first + walks_per_step]],
                        tf.constant(step, tf.int64))
      step += 1
      if verbose:
        progress.update(step, [("loss", float(loss))])
  embeddings[:] = centre.numpy()
  embeddings[np.diff(adjacency.indptr) == 0] = 0.0
  return embeddings


# Features ---------------------------------------------------------------------


def with_node2vec_features(graph: Graph, embeddings: np.ndarray,
                           mode: str = "both") -> Graph:
  """`graph` with the node features of one of the missing-tag study's ablations.

  `mode`: "features" (unchanged), "node2vec" (the embeddings replace the
  features) or "both" (the features, then the embeddings scaled to an L2
  norm of sqrt(dimensions), so that their scale does not depend on the
  embedding's training and their entries are of order 1, like standardised
  features - unit-norm rows, entries near 1 / sqrt(dimensions), were mostly
  ignored by an MLP next to unit-variance features; sparse features stay
  sparse). Rows of zeros (isolated nodes) stay zero.

  Example:
    >>> both = with_node2vec_features(graph, train_node2vec(graph), "both")
    >>> both.num_features == graph.num_features + 128
    True
  """
  if mode not in MODES:
    raise ValueError(f"unknown mode {mode!r}; choose one of {list(MODES)}")
  embeddings = np.asarray(embeddings)
  if embeddings.ndim != 2:
    raise ValueError("embeddings must be a 2-D [nodes, dimensions] array, got "
                     f"shape {embeddings.shape}")
  if embeddings.shape[0] != graph.num_nodes:
    raise ValueError(
        f"embeddings have {embeddings.shape[0]} rows (dimension 0) but the "
        f"graph {graph.name!r} has {graph.num_nodes} nodes; one row per node")
  if embeddings.shape[1] == 0:
    raise ValueError("embeddings have 0 columns (dimension 1); expected at "
                     "least one dimension")
  if not np.issubdtype(embeddings.dtype, np.number):
    raise ValueError(f"embeddings must be numbers, got dtype "
                     f"{embeddings.dtype}")
  embeddings = embeddings.astype(np.float32)
  bad = np.flatnonzero(~np.isfinite(embeddings).all(axis=1))
  if bad.size:
    raise ValueError(f"embeddings contain NaN or inf at nodes "
                     f"{format_ids(bad)}")
  if mode == "features":
    return graph
  if mode == "node2vec":
    return graph.replace(features=embeddings)
  norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
  unit = embeddings * (np.sqrt(embeddings.shape[1])
                       / np.where(norms > 0, norms, 1.0))
  if sp.issparse(graph.features):
    features = sp.hstack([graph.features, sp.csr_matrix(unit)], format="csr")
  else:
    features = np.hstack([graph.features, unit])
  return graph.replace(features=features)
