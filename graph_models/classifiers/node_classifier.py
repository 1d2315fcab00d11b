"""`NodeClassifier`: the hyperparameters every node classifier shares."""

from __future__ import annotations

from typing import List, Sequence, Tuple

import keras

from graph_models.classifiers.node_graph_model import NodeGraphModel


def first_layer_l2(weight_decay: float):
  """Kipf & Welling's weight decay: `weight_decay * tf.nn.l2_loss(W0)`.

  `tf.nn.l2_loss` halves the squared norm, hence `L2(weight_decay / 2)`.
  """
  return keras.regularizers.L2(weight_decay / 2) if weight_decay else None


class NodeClassifier(NodeGraphModel):
  """A `NodeGraphModel` that outputs `num_classes` logits per node.

  Validates and serialises `num_classes`, `hidden_units`, `dropout`,
  `weight_decay` (L2 on the first layer's kernel, Kipf-style) and
  `activation`.
  """

  def __init__(self, num_classes: int, hidden_units: Sequence[int] = (128,),
               dropout: float = 0.5, weight_decay: float = 5e-4,
               activation: str = "relu", **kwargs):
    super().__init__(**kwargs)
    if isinstance(hidden_units, int):
      hidden_units = (hidden_units,)
    hidden_units = tuple(hidden_units)
    if not isinstance(num_classes, int) or num_classes < 2:
      raise ValueError(f"num_classes must be an integer >= 2, got "
                       f"{num_classes!r}")
    if any((not isinstance(u, int)) or u < 1 for u in hidden_units):
      raise ValueError(f"hidden_units must be positive integers, got "
                       f"{list(hidden_units)}")
    if not 0.0 <= dropout < 1.0:
      raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if weight_decay < 0:
      raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    self.num_classes = num_classes
    self.hidden_units = hidden_units
    self.dropout = dropout
    self.weight_decay = weight_decay
    self.activation = activation

  def dense_stack(self, prefix: str = "dense"
                  ) -> Tuple[List[keras.layers.Dropout],
                             List[keras.layers.Dense]]:
    """Dropout + dense layers of widths `hidden_units + (num_classes,)`:
    `activation` on hidden layers, none on the output, Kipf weight decay on
    the first kernel; layers named `<prefix>_<i>`."""
    widths = self.hidden_units + (self.num_classes,)
    dropouts = [keras.layers.Dropout(self.dropout) for _ in widths]
    dense_layers = [
        keras.layers.Dense(
            width, activation=(self.activation if i < len(self.hidden_units)
                               else None),
            kernel_regularizer=(first_layer_l2(self.weight_decay)
                                if i == 0 else None),
            name=f"{prefix}_{i}")
        for i, width in enumerate(widths)]
    return dropouts, dense_layers

  def get_config(self):
    config = super().get_config()
    config.update(num_classes=self.num_classes,
                  hidden_units=list(self.hidden_units), dropout=self.dropout,
                  weight_decay=self.weight_decay, activation=self.activation)
    return config
