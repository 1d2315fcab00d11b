"""Multi-label concepts for the Flickr-like graphs (a NUS-WIDE / MIRFLICKR-like
tagging task with no download).

NUS-WIDE (81 concepts) and MIRFLICKR (24) annotate each image with a *set* of
concepts: a scene-like one that the pixels show, and topic-like ones
("animals", "night", "portrait") that follow the communities an image is
shared in. `generate_multilabel_flickr_like` adds such sets to the graphs of
`gam_datasets.synthetic`:

- Scene concepts: concepts `0 .. num_classes - 1` are the latent classes;
  every image has its own class's concept. The visual features tell it.
- Topic concepts: concepts `num_classes .. num_concepts - 1`. Each has a home
  class (topic t: class `t % num_classes`), and every group is assigned one
  topic among those of its own home class (uniformly; classes without a topic
  leave their groups topic-less). An image has a topic if one of its groups
  does, each such membership kept with probability `topic_keep`. Topics are
  invisible in the features and carried by the co-occurrence structure:
  images sharing a group are linked, so a graph model can recover them.
- Noise: every other (image, concept) entry is switched on independently with
  probability `concept_noise`.

The graph, features, metadata and splits are those of
`generate_flickr_like_with_metadata` for the same config; only the labels
become multi-hot rows `[num_nodes, num_concepts]`. Concept draws come from
their own random stream, so the concepts change with `concept_seed` only.

Example:
  >>> graph, metadata = generate_multilabel_flickr_like(
  ...     num_nodes=500, num_val=100, num_test=200, num_concepts=12)
  >>> graph.labels.shape, graph.is_multilabel
  ((500, 12), True)
"""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from graph_models.graph import Graph
from gam_datasets.synthetic import (FlickrLikeConfig, FlickrMetadata,
                                    generate_flickr_like_with_metadata)


def topic_concepts(metadata: FlickrMetadata, labels: np.ndarray,
                   num_classes: int, num_concepts: int, topic_keep: float,
                   concept_noise: float, seed: int) -> np.ndarray:
  """The `[images, num_concepts]` 0/1 concept matrix described above."""
  rng = np.random.default_rng(seed)
  n = labels.size
  concepts = np.zeros((n, num_concepts), dtype=np.int8)
  concepts[np.arange(n), labels] = 1
  num_topics = num_concepts - num_classes
  if num_topics:
    topic_home = np.arange(num_topics) % num_classes
    per_class = np.bincount(topic_home, minlength=num_classes)
    # Topic k of class c is topic index c + k * num_classes.
    group_class = metadata.group_class
    has_topic = per_class[group_class] > 0
    pick = np.floor(rng.random(group_class.size) *
                    np.maximum(per_class[group_class], 1)).astype(np.int64)
    group_topic = np.where(has_topic, group_class + pick * num_classes, -1)
    groups = metadata.image_groups.tocoo()
    topic = group_topic[groups.col]
    kept = (topic >= 0) & (rng.random(topic.size) < topic_keep)
    concepts[groups.row[kept], num_classes + topic[kept]] = 1
  noise = rng.random(concepts.shape) < concept_noise
  concepts[noise] = 1
  return concepts


def generate_multilabel_flickr_like(
    config: FlickrLikeConfig = FlickrLikeConfig(), num_concepts: int = 24,
    topic_keep: float = 0.9, concept_noise: float = 0.01,
    concept_seed: int = 0, **overrides) -> Tuple[Graph, FlickrMetadata]:
  """A Flickr-like graph whose labels are multi-hot concept sets.

  Args:
    config, overrides: the graph, as for `generate_flickr_like`.
    num_concepts: concepts in all, at least the number of classes (those
      are the scene concepts; the rest are topics).
    topic_keep: chance that a group's topic reaches one of its images.
    concept_noise: chance of each spurious (image, concept) entry.
    concept_seed: seeds the topic assignment and the noise.

  Returns:
    `(graph, metadata)`; `graph.labels` is int8 `[num_nodes, num_concepts]`.
  """
  graph, metadata = generate_flickr_like_with_metadata(config, **overrides)
  classes = graph.num_classes
  if (isinstance(num_concepts, bool) or not isinstance(num_concepts, int)
      or num_concepts < classes):
    raise ValueError(f"num_concepts must be an integer >= num_classes = "
                     f"{classes} (one scene concept per class), got "
                     f"{num_concepts!r}")
  for name, value in (("topic_keep", topic_keep),
                      ("concept_noise", concept_noise)):
    if not (isinstance(value, (int, float)) and math.isfinite(value)
            and 0.0 <= value <= 1.0):
      raise ValueError(f"{name} must be a probability in [0, 1], got "
                       f"{value!r}")
  concepts = topic_concepts(metadata, graph.labels, classes, num_concepts,
                            topic_keep, concept_noise, concept_seed)
  graph = graph.replace(labels=concepts, num_classes=num_concepts,
                        name="flickr_synthetic_multilabel")
  return graph, metadata
