"""Deterministic Flickr-like image co-occurrence graphs.

The generator imitates the graphs built from Flickr metadata (images linked
because they share tags, groups, an owner or a shooting session), with a
known latent class per image so that node classification can be scored.

Model, for `num_nodes` images and `num_classes` latent classes:

- Classes: shares proportional to `1 / rank ** 0.5` (mildly imbalanced), the
  ranks shuffled by the seed. Every class first gets its `labels_per_class`
  training nodes, the rest of the nodes are split by those shares.
- Tags: a vocabulary of `num_tags` with Zipf popularity (`1 / rank`); every tag
  has a home class. An image gets `1 + Poisson(tags_per_image - 1)` tag draws,
  each from its own class's tags (by popularity) with probability 0.7, else
  from the whole vocabulary ("nikon", "2008", ...). Repeated draws collapse.
- Groups: the same with `num_groups`, popularity `1 / rank ** 0.8`,
  `Poisson(groups_per_image)` draws and class affinity 0.8.
- Owners: each owner has a home class and a Zipf activity; an image's single
  owner comes from its class's owners with probability 0.9.
- Sessions: an owner's images of one class are cut into sessions of 5 photos.
- Visual features: `feature_signal * centroid[class] + N(0, I)`, with random
  unit-norm class centroids, float32. At the default signal the features alone
  are informative but far from decisive (7 classes, 20 training labels each:
  nearest training centroid ~50%, a small MLP ~45-50%, majority ~25%); the
  graph is what lifts accuracy (nearest centroid on twice Kipf-propagated
  features: ~90% at the default 30% cross-class edges).
- Activity: each image has a log-normal activity `exp(N(0, degree_spread^2))`
  and both ends of every edge are drawn in proportion to it, so degrees are
  heavy-tailed (defaults: median 7, max ~120, ~4% isolated images; a spread
  of 0 gives near-Poisson degrees).
- Edges, `round(avg_degree * num_nodes / 2)` undirected ones in all:
  1. Same-class co-occurrence edges. Memberships (image, tag / group / owner /
     session) are sorted by (item, class); a membership drawn by activity is
     linked to another member of its run drawn by activity, i.e. another
     image of the same class sharing that item. Draws repeat until
     `(1 - cross_class_edge_fraction)` of the edge budget is reached (fewer on
     small graphs where the metadata runs out of distinct pairs).
  2. Cross-class (noise) edges: random pairs of images (by activity) with
     different classes, `round(S * f / (1 - f))` of them for the `S` distinct
     same-class edges (all of the budget when f = 1), so the cross-class share
     of the final edges is `f` up to rounding.
  Both kinds are de-duplicated; the weight of an edge is the number of
  metadata items its endpoints share (tags + groups + owner + session), at
  least 1 so that noise edges sharing nothing still count.
- Splits (Planetoid-like): `labels_per_class` random training nodes per class,
  then `num_val` validation and `num_test` test nodes drawn from the rest. If
  fewer than `num_val + num_test` nodes remain, both shrink in proportion to
  use exactly the remaining nodes. Every node keeps its true label; only the
  masks tell train / val / test apart.

Each part draws from its own child of `SeedSequence(seed)`, so e.g. changing
`cross_class_edge_fraction` leaves labels, features and metadata unchanged.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Tuple

import numpy as np
import scipy.sparse as sp

from graph_models.graph import Graph
from graph_models.sorted_search import search_sorted

# Shape of the metadata (see the module docstring); the affinities are the
# chance that an image's tag / group / owner comes from its own class, below 1
# so that the metadata itself is noisy as on Flickr.
_CLASS_ZIPF = 0.5
_TAG_ZIPF = 1.0
_GROUP_ZIPF = 0.8
_OWNER_ZIPF = 0.8
_TAG_AFFINITY = 0.7
_GROUP_AFFINITY = 0.8
_OWNER_AFFINITY = 0.9
_PHOTOS_PER_SESSION = 5
_MAX_SAMPLING_ROUNDS = 12
# Below this many node pairs, cross-class edges are drawn from an explicit list
# so that dense tiny graphs get exactly the requested count.
_ENUMERATE_PAIRS_BELOW = 2_000_000


@dataclasses.dataclass(frozen=True)
class FlickrLikeConfig:
  """Options of `generate_flickr_like` (the model: see the module docstring).

  Beyond the sizes: `tags_per_image` / `groups_per_image` are mean draws per
  image, `degree_spread` the log-normal sigma of image activity (0: all images
  equally active) and `feature_signal` the distance of class centroids from
  the origin in units of the per-dimension noise.
  """

  num_nodes: int = 5000
  num_classes: int = 7
  num_features: int = 64
  num_tags: int = 2000
  num_groups: int = 300
  num_owners: int = 800
  avg_degree: float = 10.0
  cross_class_edge_fraction: float = 0.3
  feature_signal: float = 1.8
  labels_per_class: int = 20
  num_val: int = 500
  num_test: int = 1000
  tags_per_image: float = 5.0
  groups_per_image: float = 2.0
  degree_spread: float = 1.0
  seed: int = 0

  def __post_init__(self):
    def integer(field: str, minimum: int) -> int:
      value = getattr(self, field)
      if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
          or value < minimum):
        raise ValueError(f"FlickrLikeConfig.{field} must be an integer >= "
                         f"{minimum}, got {value!r}")
      return int(value)

    def real(field: str, low: float, high: float = math.inf) -> float:
      value = getattr(self, field)
      if (isinstance(value, bool)
          or not isinstance(value, (int, float, np.integer, np.floating))
          or not math.isfinite(value) or not low <= value <= high):
        bounds = f"in [{low}, {high}]" if math.isfinite(high) else f">= {low}"
        raise ValueError(f"FlickrLikeConfig.{field} must be a finite number "
                         f"{bounds}, got {value!r}")
      return float(value)

    n = integer("num_nodes", 1)
    classes = integer("num_classes", 1)
    integer("num_features", 1)
    # Every class needs at least one home item of each kind.
    for field in ("num_tags", "num_groups", "num_owners"):
      integer(field, classes)
    degree = real("avg_degree", 0.0)
    fraction = real("cross_class_edge_fraction", 0.0, 1.0)
    if fraction > 0 and classes < 2:
      raise ValueError("FlickrLikeConfig.cross_class_edge_fraction must be 0 "
                       f"with a single class, got {fraction}")
    real("feature_signal", 0.0)
    per_class = integer("labels_per_class", 1)
    integer("num_val", 0)
    integer("num_test", 0)
    real("tags_per_image", 1.0)
    real("groups_per_image", 0.0)
    real("degree_spread", 0.0, 5.0)
    integer("seed", 0)
    if n < classes * per_class:
      raise ValueError(
          f"FlickrLikeConfig.num_nodes={n} is too small: labels_per_class="
          f"{per_class} training labels for each of {classes} classes need at "
          f"least {classes * per_class} nodes")
    if degree > n - 1:
      raise ValueError(f"FlickrLikeConfig.avg_degree={degree} is more than "
                       f"num_nodes - 1 = {n - 1} neighbours")


@dataclasses.dataclass(frozen=True, eq=False)
class FlickrMetadata:
  """Per-image metadata behind a generated graph.

  `image_tags` / `image_groups` are 0/1 CSR incidence matrices of shape
  [num_nodes, num_tags] / [num_nodes, num_groups]; `image_owner` and
  `image_session` hold one id per image (sessions are numbered globally).
  `tag_class`, `group_class` and `owner_class` give each item's home class.
  """

  image_tags: sp.csr_matrix
  image_groups: sp.csr_matrix
  image_owner: np.ndarray
  image_session: np.ndarray
  tag_class: np.ndarray
  group_class: np.ndarray
  owner_class: np.ndarray


# The named sizes `gam_datasets.load_graph` and the TFDS configs
# `flickr_cooccurrence/synthetic*` generate (the rest: `FlickrLikeConfig`'s).
SYNTHETIC_SIZES = {
    "flickr_synthetic_small": dict(num_nodes=600, num_val=100, num_test=200,
                                   num_features=32),
    "flickr_synthetic": {},
    "flickr_synthetic_large": dict(num_nodes=100_000, num_features=128),
}


def generate_flickr_like(config: FlickrLikeConfig = FlickrLikeConfig(),
                         **overrides) -> Graph:
  """Returns a Flickr-like co-occurrence graph; `overrides` replace fields.

  Example:
    >>> graph = generate_flickr_like(num_nodes=500, num_val=100, num_test=200)
    >>> graph.num_nodes, graph.num_classes
    (500, 7)
  """
  return generate_flickr_like_with_metadata(config, **overrides)[0]


def generate_flickr_like_with_metadata(
    config: FlickrLikeConfig = FlickrLikeConfig(),
    **overrides) -> Tuple[Graph, FlickrMetadata]:
  """Like `generate_flickr_like`, also returning the images' metadata."""
  config = _resolve(config, overrides)
  streams = [np.random.default_rng(s)
             for s in np.random.SeedSequence(config.seed).spawn(9)]
  (class_rng, tag_rng, group_rng, owner_rng, feature_rng, edge_rng, cross_rng,
   split_rng, activity_rng) = streams
  n, classes = config.num_nodes, config.num_classes

  labels = _sample_labels(class_rng, config)

  tag_counts = 1 + tag_rng.poisson(config.tags_per_image - 1.0, size=n)
  image_tags, tag_class = _sample_items(
      tag_rng, labels, classes, tag_counts, config.num_tags, _TAG_ZIPF,
      _TAG_AFFINITY)
  group_counts = group_rng.poisson(config.groups_per_image, size=n)
  image_groups, group_class = _sample_items(
      group_rng, labels, classes, group_counts, config.num_groups, _GROUP_ZIPF,
      _GROUP_AFFINITY)
  owners, owner_class = _sample_items(
      owner_rng, labels, classes, np.ones(n, dtype=np.int64),
      config.num_owners, _OWNER_ZIPF, _OWNER_AFFINITY)
  image_owner = owners.indices.astype(np.int64)
  image_session = _sessions(owner_rng, labels, image_owner)

  features = _features(feature_rng, labels, config)
  activity = activity_rng.lognormal(0.0, config.degree_spread, size=n)

  total = int(round(config.avg_degree * n / 2))
  fraction = config.cross_class_edge_fraction
  same_target = int(round((1.0 - fraction) * total))
  same = _cooccurrence_edges(
      edge_rng, labels, activity, same_target,
      [(image_tags.indices, image_tags.indptr, config.num_tags),
       (image_groups.indices, image_groups.indptr, config.num_groups),
       (image_owner, None, config.num_owners),
       (image_session, None, int(image_session.max()) + 1)])
  if fraction >= 1.0:
    cross_target = total
  else:
    cross_target = int(round(same.size * fraction / (1.0 - fraction)))
  cross = _cross_class_edges(cross_rng, labels, activity, cross_target)
  keys = np.concatenate([same, cross])
  low, high = keys // n, keys % n

  weights = (_shared_items(image_tags, low, high)
             + _shared_items(image_groups, low, high)
             + (image_owner[low] == image_owner[high])
             + (image_session[low] == image_session[high]))
  weights = np.maximum(weights, 1).astype(np.float32)
  adjacency = sp.csr_matrix(
      (np.concatenate([weights, weights]),
       (np.concatenate([low, high]), np.concatenate([high, low]))),
      shape=(n, n), dtype=np.float32)

  train, val, test = _splits(split_rng, labels, config)
  graph = Graph(features=features, adjacency=adjacency, labels=labels,
                num_classes=classes, train_mask=train, val_mask=val,
                test_mask=test, name="flickr_synthetic")
  metadata = FlickrMetadata(
      image_tags=image_tags, image_groups=image_groups,
      image_owner=image_owner, image_session=image_session,
      tag_class=tag_class, group_class=group_class, owner_class=owner_class)
  return graph, metadata


def _resolve(config: FlickrLikeConfig, overrides: dict) -> FlickrLikeConfig:
  if not isinstance(config, FlickrLikeConfig):
    raise ValueError("config must be a FlickrLikeConfig, got "
                     f"{type(config).__name__}")
  known = {field.name for field in dataclasses.fields(FlickrLikeConfig)}
  unknown = sorted(set(overrides) - known)
  if unknown:
    raise ValueError(f"unknown FlickrLikeConfig fields {unknown}; known: "
                     f"{sorted(known)}")
  return dataclasses.replace(config, **overrides) if overrides else config


def _zipf_weights(rng: np.random.Generator, size: int,
                  exponent: float) -> np.ndarray:
  """Popularity `1 / rank ** exponent` with ranks shuffled over the ids."""
  return 1.0 / (1.0 + rng.permutation(size)) ** exponent


def _sample_labels(rng: np.random.Generator,
                   config: FlickrLikeConfig) -> np.ndarray:
  classes, per_class = config.num_classes, config.labels_per_class
  shares = _zipf_weights(rng, classes, _CLASS_ZIPF)
  shares /= shares.sum()
  # Largest-remainder split of what is left after the training labels, so the
  # sizes are exact and every class can supply its training nodes.
  spare = config.num_nodes - classes * per_class
  exact = shares * spare
  sizes = np.floor(exact).astype(np.int64)
  leftover = spare - int(sizes.sum())
  sizes[np.argsort(sizes - exact, kind="stable")[:leftover]] += 1
  return rng.permutation(np.repeat(np.arange(classes), sizes + per_class))


def _sample_items(rng: np.random.Generator, labels: np.ndarray, classes: int,
                  counts: np.ndarray, num_items: int, exponent: float,
                  affinity: float) -> Tuple[sp.csr_matrix, np.ndarray]:
  """Draws `counts[i]` items for image i; returns a 0/1 incidence and homes."""
  n = labels.size
  weights = _zipf_weights(rng, num_items, exponent)
  home = rng.permutation(np.arange(num_items) % classes)
  images = np.repeat(np.arange(n, dtype=np.int64), counts)
  image_class = labels[images]
  u = rng.random(images.size)
  own = rng.random(images.size) < affinity

  # Items sorted by home class with each class's CDF running over (c, c + 1],
  # so a single searchsorted of `class + u` samples every image's own class.
  by_class = np.argsort(home, kind="stable")
  class_total = np.bincount(home, weights=weights, minlength=classes)
  cdf = np.cumsum(weights[by_class] / class_total[home[by_class]])
  class_end = np.cumsum(np.bincount(home, minlength=classes))
  class_start = class_end - np.bincount(home, minlength=classes)
  pick = np.searchsorted(cdf, image_class + u, side="right")
  # Rounding can push a draw past its class's last item.
  pick = np.clip(pick, class_start[image_class], class_end[image_class] - 1)
  global_cdf = np.cumsum(weights) / weights.sum()
  anywhere = np.minimum(np.searchsorted(global_cdf, u, side="right"),
                        num_items - 1)
  items = np.where(own, by_class[pick], anywhere)

  keys = _unique(images * num_items + items)
  rows, items = keys // num_items, keys % num_items
  indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
  incidence = sp.csr_matrix(
      (np.ones(keys.size, dtype=np.float32), items.astype(np.int32), indptr),
      shape=(n, num_items))
  return incidence, home.astype(np.int64)


def _sessions(rng: np.random.Generator, labels: np.ndarray,
              owners: np.ndarray) -> np.ndarray:
  """Cuts each owner's images of one class into sessions of a few photos."""
  n = labels.size
  order = np.lexsort((rng.random(n), labels, owners))
  owner_sorted, label_sorted = owners[order], labels[order]
  run_start = np.r_[True, (owner_sorted[1:] != owner_sorted[:-1])
                    | (label_sorted[1:] != label_sorted[:-1])]
  starts = np.flatnonzero(run_start)
  rank = np.arange(n) - starts[np.cumsum(run_start) - 1]
  new_session = run_start | (rank % _PHOTOS_PER_SESSION == 0)
  sessions = np.empty(n, dtype=np.int64)
  sessions[order] = np.cumsum(new_session) - 1
  return sessions


def _features(rng: np.random.Generator, labels: np.ndarray,
              config: FlickrLikeConfig) -> np.ndarray:
  centroids = rng.standard_normal((config.num_classes, config.num_features))
  centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
  centroids = (config.feature_signal * centroids).astype(np.float32)
  features = rng.standard_normal((labels.size, config.num_features),
                                 dtype=np.float32)
  features += centroids[labels]
  return features


def _unique(values: np.ndarray) -> np.ndarray:
  """Sorted distinct values.

  A plain sort: numpy 2's hash-based `np.unique` is several times slower on
  millions of int64 keys.
  """
  values = np.sort(values)
  if values.size == 0:
    return values
  return values[np.r_[True, values[1:] != values[:-1]]]


def _pair_keys(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
  """Undirected pair ids `min * n + max`."""
  return np.minimum(a, b) * n + np.maximum(a, b)


def _take(rng: np.random.Generator, keys: np.ndarray, count: int) -> np.ndarray:
  """A uniform random subset of `count` sorted unique keys (all if fewer)."""
  if keys.size <= count:
    return keys
  return np.sort(rng.choice(keys, size=count, replace=False))


def _search(cdf: np.ndarray, needles: np.ndarray) -> np.ndarray:
  """`searchsorted(cdf, needles, side="right")`, clipped to valid indices."""
  return np.minimum(search_sorted(cdf, needles, side="right"), cdf.size - 1)


def _draw(rng: np.random.Generator, cdf: np.ndarray, size: int,
          ordered: bool = False) -> np.ndarray:
  """I.i.d. indices drawn by an unnormalised CDF; ascending if `ordered`."""
  # A sorted i.i.d. sample, shuffled, is again an i.i.d. sample.
  picks = np.searchsorted(cdf, np.sort(rng.random(size)) * cdf[-1],
                          side="right")
  picks = np.minimum(picks, cdf.size - 1)
  return picks if ordered else rng.permutation(picks)


def _cooccurrence_edges(rng: np.random.Generator, labels: np.ndarray,
                        activity: np.ndarray, target: int,
                        sources) -> np.ndarray:
  """Up to `target` distinct same-class pairs sharing a metadata item.

  `sources` lists (item ids, CSR indptr or None for one item per image,
  number of items). Both ends of a pair are drawn in proportion to the images'
  `activity`, so degrees follow it. Returns sorted pair keys (`_pair_keys`).
  """
  n = labels.size
  if target == 0:
    return np.zeros(0, dtype=np.int64)
  classes = int(labels.max()) + 1
  images, runs, offset = [], [], 0
  for items, indptr, num_items in sources:
    if indptr is None:
      member_of = np.arange(n, dtype=np.int64)
    else:
      member_of = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    images.append(member_of)
    runs.append((np.asarray(items, dtype=np.int64) + offset) * classes
                + labels[member_of])
    offset += num_items
  run_key = np.concatenate(runs)
  order = np.argsort(run_key, kind="stable")
  run_key, images = run_key[order], np.concatenate(images)[order]
  del order, runs

  new_run = np.r_[True, run_key[1:] != run_key[:-1]]
  starts = np.flatnonzero(new_run)
  ends = np.r_[starts[1:], run_key.size]
  run_id = np.cumsum(new_run) - 1
  del run_key, new_run
  eligible = np.flatnonzero((ends - starts)[run_id] >= 2)
  if eligible.size == 0:
    return np.zeros(0, dtype=np.int64)
  weight = activity[images]
  member_cdf = np.cumsum(weight[eligible])
  # One running sum over all memberships; a run's slice of it is its CDF.
  run_cdf = np.cumsum(weight)
  run_base = run_cdf[starts] - weight[starts]
  del weight

  found = np.zeros(0, dtype=np.int64)
  draws = int(target * 1.2) + 16
  for _ in range(_MAX_SAMPLING_ROUNDS):
    member = eligible[_draw(rng, member_cdf, draws, ordered=True)]
    run = run_id[member]
    base = run_base[run]
    partner = _search(
        run_cdf, base + rng.random(draws) * (run_cdf[ends[run] - 1] - base))
    partner = np.clip(partner, starts[run], ends[run] - 1)
    # A member drawn as its own partner is simply dropped; the next round
    # makes up for it.
    distinct = partner != member
    before = found.size
    found = _unique(np.concatenate([found, _pair_keys(
        images[member[distinct]], images[partner[distinct]], n)]))
    gained = found.size - before
    if found.size >= target or gained == 0:
      break
    # Draw enough for the deficit at the last round's yield of new pairs, but
    # boundedly: a low yield means the metadata is running out of pairs.
    deficit = target - found.size
    draws = min(int(deficit * 1.2 * draws / gained), 4 * target) + 16
  return _take(rng, found, target)


def _cross_class_edges(rng: np.random.Generator, labels: np.ndarray,
                       activity: np.ndarray, target: int) -> np.ndarray:
  """`target` distinct pairs of different classes (sorted keys).

  Each end is drawn in proportion to `activity`, as for co-occurrence edges,
  so an image's share of noisy edges does not depend on its degree.
  """
  n = labels.size
  class_sizes = np.bincount(labels).astype(np.int64)
  available = (n * n - int((class_sizes ** 2).sum())) // 2
  target = min(target, available)
  if target == 0:
    return np.zeros(0, dtype=np.int64)
  if n * (n - 1) // 2 <= _ENUMERATE_PAIRS_BELOW:
    a, b = np.triu_indices(n, k=1)
    cross = labels[a] != labels[b]
    a, b = a[cross], b[cross]
    # Weighted sampling without replacement (Efraimidis & Spirakis): the
    # `target` smallest Exp(1) / weight keys.
    keys = rng.exponential(size=a.size) / (activity[a] * activity[b])
    chosen = np.argpartition(keys, target - 1)[:target]
    return np.sort(a[chosen].astype(np.int64) * n + b[chosen])
  class_mass = np.bincount(labels, weights=activity)
  cross_rate = 1.0 - float(((class_mass / class_mass.sum()) ** 2).sum())
  cdf = np.cumsum(activity)
  found = np.zeros(0, dtype=np.int64)
  for _ in range(_MAX_SAMPLING_ROUNDS):
    draws = int((target - found.size) * 1.2 / cross_rate) + 16
    a, b = _draw(rng, cdf, draws), _draw(rng, cdf, draws)
    keep = labels[a] != labels[b]
    found = _unique(np.concatenate([found, _pair_keys(a[keep], b[keep], n)]))
    if found.size >= target:
      break
  return _take(rng, found, target)


def _shared_items(incidence: sp.csr_matrix, a: np.ndarray,
                  b: np.ndarray) -> np.ndarray:
  """Number of items that rows `a[k]` and `b[k]` of a 0/1 incidence share."""
  if a.size == 0:
    return np.zeros(0, dtype=np.int64)
  both = incidence[a].multiply(incidence[b])
  return np.asarray(both.sum(axis=1)).ravel().astype(np.int64)


def _splits(rng: np.random.Generator, labels: np.ndarray,
            config: FlickrLikeConfig):
  """Planetoid-style train / val / test masks (see the module docstring)."""
  n = labels.size
  order = np.lexsort((rng.random(n), labels))
  class_start = np.r_[0, np.cumsum(np.bincount(labels))[:-1]]
  rank = np.arange(n) - class_start[labels[order]]
  train = np.zeros(n, dtype=bool)
  train[order[rank < config.labels_per_class]] = True

  rest = rng.permutation(np.flatnonzero(~train))
  num_val, num_test = config.num_val, config.num_test
  if num_val + num_test > rest.size:
    num_val = rest.size * num_val // (num_val + num_test)
    num_test = rest.size - num_val
  val = np.zeros(n, dtype=bool)
  val[rest[:num_val]] = True
  test = np.zeros(n, dtype=bool)
  test[rest[num_val:num_val + num_test]] = True
  return train, val, test
