"""Training a node classifier on a `Graph`: model choice, datasets, seeding.

Full-batch models (`GCNNodeClassifier`) see the whole graph every step; the
others train on packed neighbourhood mini-batches. `node_datasets` makes the
right train / validation / test datasets for a model, so callers need not
know which kind it is.
"""

from __future__ import annotations

import dataclasses
import random
import time
from typing import Dict, Optional, Sequence, Type

import keras
import numpy as np
import tensorflow as tf

from graph_models.distribution import map_shards
from graph_models.private_apis import tf_config
from graph_models.tasks import label_tasks
from graph_models.classifiers.commnet import GraphConvolutionalNodeClassifier
from graph_models.classifiers.gcn import GCNNodeClassifier
from graph_models.graph import Graph
from graph_models.classifiers.graphsage import GraphSAGENodeClassifier
from graph_models.classifiers.mlp import MLPNodeClassifier
from graph_models.classifiers.neighborhood_gcn import NeighborhoodGraphClassifier
from graph_models.classifiers.neighborhood_pooling import NeighborhoodMaxPoolingClassifier
from graph_models.neighbor_packing import (checked_nodes, neighbor_packer,
                                           node_id_batches, packed_dataset,
                                           whole_graph_dataset,
                                           whole_graph_inputs)
from graph_models.classifiers.node_classifier import NodeClassifier

CLASSIFIERS: Dict[str, Type[NodeClassifier]] = {
    "mlp": MLPNodeClassifier,
    "gcn": GCNNodeClassifier,
    "commnet": GraphConvolutionalNodeClassifier,
    "graphsage": GraphSAGENodeClassifier,
    "maxpool": NeighborhoodMaxPoolingClassifier,
    "ngcn": NeighborhoodGraphClassifier,
}


def is_full_batch(model: keras.Model) -> bool:
  return isinstance(model, GCNNodeClassifier)


def takes_sparse_features(model: keras.Model) -> bool:
  """Whether inputs for `model` (whole graphs and packed batches) may keep
  sparse features sparse: the model accepts them and runs on one replica
  (several replicas split batches along their rows and gather them back,
  which only dense tensors support)."""
  return (getattr(model, "accepts_sparse_features", False)
          and model.distribute_strategy.num_replicas_in_sync == 1)


def seed_everything(seed: int, deterministic_ops: bool = True) -> None:
  """Seeds Python, NumPy and TF, and makes TF ops deterministic unless
  `deterministic_ops` is False (Keras refuses XLA compilation while they
  are; XLA's CPU kernels are deterministic on their own)."""
  random.seed(seed)
  np.random.seed(seed)
  keras.utils.set_random_seed(seed)
  if deterministic_ops:
    tf.config.experimental.enable_op_determinism()
  else:
    tf_config.disable_op_determinism()


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
  """How a node classifier is trained.

  Attributes:
    epochs: passes over the training nodes (full batch: optimiser steps).
    learning_rate: Adam's learning rate.
    batch_size: examples per mini-batch (ignored by full-batch models).
    max_neighbors: neighbours packed per example for mini-batch models.
    seed: seeds initialisation, dropout and shuffling.
    static_shapes: pad the last mini-batch of every pass to `batch_size`
      (masked by sample weights), so that every step has the same shapes,
      as TPUs need and XLA prefers.
    jit_compile: compile training and evaluation steps with XLA.
  """
  epochs: int = 200
  learning_rate: float = 0.01
  batch_size: int = 64
  max_neighbors: int = 5
  seed: int = 0
  static_shapes: bool = False
  jit_compile: bool = False

  def __post_init__(self):
    for field in ("epochs", "batch_size"):
      if getattr(self, field) < 1:
        raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")
    if self.max_neighbors < 0:
      raise ValueError(f"max_neighbors must be >= 0, got {self.max_neighbors}")
    if not self.learning_rate > 0:
      raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


def build_classifier(name: str, num_classes: int, **kwargs) -> NodeClassifier:
  """A classifier by its command-line name (a key of `CLASSIFIERS`)."""
  if name not in CLASSIFIERS:
    raise ValueError(f"unknown model {name!r}; choose one of "
                     f"{sorted(CLASSIFIERS)}")
  return CLASSIFIERS[name](num_classes=num_classes, **kwargs)


def node_datasets(graph: Graph, model: keras.Model, options: TrainingOptions,
                  labels: Optional[np.ndarray] = None
                  ) -> Dict[str, tf.data.Dataset]:
  """`{'train', 'val', 'test'}` datasets in the input format `model` takes.

  Splits with no nodes are left out.
  """
  graph.require_training_labels()
  datasets = {}
  max_neighbors = options.max_neighbors if model.uses_edges else 0
  for split in ("train", "val", "test"):
    nodes = graph.split_nodes(split)
    if nodes.size == 0:
      continue
    if split != "train" or is_full_batch(model):
      datasets[split] = evaluation_dataset(
          graph, model, nodes, max_neighbors, labels,
          pad_remainder=options.static_shapes)
    else:
      datasets[split] = packed_dataset(
          graph, nodes, max_neighbors, batch_size=options.batch_size,
          labels=labels, shuffle=True, seed=options.seed,
          feature_name=model.feature_name,
          pad_remainder=options.static_shapes,
          sparse_features=takes_sparse_features(model))
  return datasets


def evaluation_dataset(graph: Graph, model: keras.Model, nodes,
                       max_neighbors: int = 0,
                       labels: Optional[np.ndarray] = None,
                       batch_size: int = 1024,
                       pad_remainder: bool = False) -> tf.data.Dataset:
  """Labelled inputs for `model.evaluate` on `nodes` (labels default to
  `graph.labels`); `pad_remainder` as in `packed_dataset` (a whole graph
  has static shapes already)."""
  if is_full_batch(model):
    return whole_graph_dataset(graph, nodes, labels,
                               takes_sparse_features(model)).cache()
  return packed_dataset(graph, nodes,
                        max_neighbors if model.uses_edges else 0,
                        batch_size=batch_size, labels=labels,
                        feature_name=model.feature_name,
                        pad_remainder=pad_remainder,
                        sparse_features=takes_sparse_features(model))


def prediction_dataset(graph: Graph, model: keras.Model, nodes,
                       max_neighbors: int = 0,
                       batch_size: int = 1024) -> tf.data.Dataset:
  """Unlabelled inputs for `model.predict` on `nodes`, in node order."""
  nodes = checked_nodes(graph, nodes)
  if is_full_batch(model):
    return tf.data.Dataset.from_tensors(
        whole_graph_inputs(graph, nodes, takes_sparse_features(model)))
  pack = neighbor_packer(graph, max_neighbors if model.uses_edges else 0,
                         model.feature_name, takes_sparse_features(model))
  return node_id_batches(nodes, batch_size, shuffle=False, seed=0,
                         repeat=False, drop_remainder=False).map(pack)


def predict_nodes(model: keras.Model, graph: Graph, nodes,
                  max_neighbors: int = 0,
                  batch_size: int = 1024) -> np.ndarray:
  """`model`'s outputs for `nodes`, in their order.

  Under a strategy of several replicas (the current one), a packed model
  predicts in shares (`distribution.map_shards`): each worker packs and
  predicts only its share of the nodes, and every worker gets all the
  outputs, where Keras' `predict` would pack every batch on every worker.
  Whole-graph models, and one replica, use `model.predict`.

  Example:
    >>> logits = predict_nodes(model, graph, np.arange(graph.num_nodes), 5)
  """
  nodes = checked_nodes(graph, nodes)
  strategy = tf.distribute.get_strategy()
  if strategy.num_replicas_in_sync == 1 or is_full_batch(model):
    return model.predict(prediction_dataset(graph, model, nodes,
                                            max_neighbors, batch_size),
                         verbose=0)
  outputs = tf.function(lambda batch: model(batch, training=False),
                        reduce_retracing=True)

  def share(start, stop):
    # An empty share still needs the outputs' trailing shape: predict one
    # node and keep none.
    ids = nodes[start:max(stop, start + 1)]
    dataset = prediction_dataset(graph, model, ids, max_neighbors,
                                 batch_size)
    return np.concatenate([outputs(batch).numpy()
                           for batch in dataset])[:stop - start]
  return map_shards(strategy, share, nodes.size, align=batch_size)


def compile_classifier(model: keras.Model, learning_rate: float,
                       jit_compile: bool = False, multilabel: bool = False,
                       positive_weight: float = 1.0) -> None:
  """Adam and, on logits, cross-entropy with accuracy (single-label) or
  sigmoid cross-entropy with per-image mAP and precision@3 (`multilabel`;
  `positive_weight` weights positive entries); `jit_compile` for XLA.

  Raises:
    ValueError: for `jit_compile` while TF op determinism is on, which
      would make Keras fall back to graph mode.
  """
  if jit_compile and tf_config.is_op_determinism_enabled():
    raise ValueError(
        "jit_compile=True needs TensorFlow op determinism off (Keras runs "
        "without XLA otherwise): seed with seed_everything(seed, "
        "deterministic_ops=False)")
  # Wrappers (graph regularisation) carry the classifier as `node_model`.
  classifier = getattr(model, "node_model", model)
  loss, metrics = label_tasks.loss_and_metrics(
      multilabel, getattr(classifier, "num_classes", None), positive_weight)
  model.compile(
      optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
      # Weighted, so that the padding of static-shape batches is not counted.
      weighted_metrics=metrics, jit_compile=jit_compile)


@dataclasses.dataclass
class TrainingResult:
  """What `train_node_classifier` returns.

  `scores[split]` are `label_tasks.split_scores` (accuracy, or per-label
  mAP, per-image mAP and precision@3 for multi-label graphs); `accuracy`
  keeps each split's accuracy (single-label graphs only).
  """
  model: NodeClassifier
  history: Dict[str, list]
  scores: Dict[str, Dict[str, float]]
  train_seconds: float

  @property
  def accuracy(self) -> Dict[str, float]:
    return {split: scores["accuracy"] for split, scores in self.scores.items()
            if "accuracy" in scores}


def train_node_classifier(graph: Graph, model_name: str,
                          options: TrainingOptions = TrainingOptions(),
                          verbose: int = 0, validate_every_epoch: bool = True,
                          callbacks: Sequence[keras.callbacks.Callback] = (),
                          positive_weight: float = 1.0,
                          **model_kwargs) -> TrainingResult:
  """Seeds, builds, compiles and fits `model_name` on `graph`'s training nodes.

  Multi-label graphs (multi-hot labels) train with sigmoid outputs
  (`positive_weight` as in `compile_classifier`). Returns the model, the
  Keras history and the scores on every split.

  Example:
    >>> result = train_node_classifier(graph, "gcn", TrainingOptions(seed=1))
    >>> result.accuracy["test"]
  """
  seed_everything(options.seed, deterministic_ops=not options.jit_compile)
  model = build_classifier(model_name, graph.num_classes, **model_kwargs)
  compile_classifier(model, options.learning_rate, options.jit_compile,
                     graph.is_multilabel, positive_weight)
  datasets = node_datasets(graph, model, options)
  start = time.perf_counter()
  history = model.fit(
      datasets["train"], epochs=options.epochs, verbose=verbose,
      validation_data=datasets.get("val") if validate_every_epoch else None,
      callbacks=list(callbacks),
      shuffle=False)  # the datasets shuffle themselves
  train_seconds = time.perf_counter() - start
  scores = {split: split_scores(graph, model, graph.split_nodes(split),
                                options.max_neighbors)
            for split in datasets}
  return TrainingResult(model, history.history, scores, train_seconds)


def split_scores(graph: Graph, model: keras.Model, nodes,
                 max_neighbors: int = 0) -> Dict[str, float]:
  """`label_tasks.split_scores` of `model`'s predictions on `nodes`."""
  logits = predict_nodes(model, graph, nodes, max_neighbors)
  return label_tasks.split_scores(
      label_tasks.probabilities(logits, graph.is_multilabel),
      graph.labels[nodes])
