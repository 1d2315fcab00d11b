"""A packed neighbourhood batch as dense `[B, K + 1, ...]` tensors.

The neighbourhood models (`NeighborhoodMaxPoolingClassifier`,
`NeighborhoodGraphClassifier`) treat each example as a small set of images,
the centre and its K packed neighbours, rather than as a star graph; they
read the packed batch directly instead of through a `GraphsTuple`.
"""

from __future__ import annotations

from typing import Dict, Tuple

import tensorflow as tf

from graph_models import nsl
from graph_models.classifiers.node_graph_model import is_whole_graph, num_packed_neighbors


def stacked_neighborhood(inputs: Dict[str, tf.Tensor], feature_name: str,
                         model_name: str) -> Tuple[tf.Tensor, tf.Tensor]:
  """`(nodes, real)` of a packed neighbourhood batch.

  `nodes` is `[B, K + 1, F]`: the centre at index 0, then the K neighbour
  slots in packing order (heaviest edge first). `real` is a `[B, K]` boolean
  mask, True where a slot holds a neighbour (positive weight).

  Raises:
    ValueError: for a whole-graph input or a batch without neighbour slots,
      which these models cannot classify.
    KeyError: if the batch lacks `feature_name`.

  Example:
    >>> batch, _ = next(iter(packed_dataset(graph, [0, 1], max_neighbors=6,
    ...                                     batch_size=2)))
    >>> nodes, real = stacked_neighborhood(batch, "features", "MyModel")
    >>> nodes.shape[:2], real.shape
    (TensorShape([2, 7]), TensorShape([2, 6]))
  """
  if not isinstance(inputs, dict):
    raise TypeError(f"{model_name} expects a dict of tensors (a packed "
                    f"neighbourhood batch), got {type(inputs).__name__}")
  remedy = ("feed it packed neighbourhood batches: packed_dataset(graph, "
            "nodes, max_neighbors=M, batch_size=...) with M > 0")
  if is_whole_graph(inputs):
    raise ValueError(f"{model_name} classifies packed neighbourhoods, not a "
                     f"whole graph; {remedy}")
  if feature_name not in inputs:
    raise KeyError(f"{model_name}: input has no feature {feature_name!r}; "
                   f"keys: {sorted(inputs)}")
  k = num_packed_neighbors(inputs)
  if k == 0:
    raise ValueError(f"{model_name} needs neighbours but the batch has no "
                     f"neighbour slots; {remedy}")
  nodes = tf.stack(
      [tf.cast(inputs[feature_name], tf.float32)]
      + [tf.cast(inputs[nsl.neighbor_feature_name(i, feature_name)],
                 tf.float32) for i in range(k)], axis=1)
  weights = tf.concat([
      tf.reshape(tf.cast(inputs[nsl.neighbor_weight_name(i)], tf.float32),
                 [-1, 1]) for i in range(k)], axis=1)
  return nodes, weights > 0
