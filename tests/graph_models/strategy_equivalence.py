"""Trains each model on one device and under a strategy; prints JSON.

Run as its own process, since a strategy's devices must be set up before
TensorFlow starts:

  python tests/graph_models/strategy_equivalence.py mirrored [case ...]
  TF_CONFIG=... python tests/graph_models/strategy_equivalence.py \
      multi_worker [case ...]

`mirrored` splits the CPU into two logical devices; `multi_worker` joins the
cluster in `TF_CONFIG` (one process per worker, each printing its own JSON).
For every case (default: all of `CASES`) the same model (same seed, same
initial weights, same global batches) is trained once with the default
strategy and once under the strategy. The JSON maps each case to
`replicas`, `max_abs_weight_diff` (between the two runs), `weight_sum` (sum
of the strategy run's absolute weights, for comparing workers), `max_update`
(how far the single-device run moved the weights from the copied initial
ones), the final metrics of both runs (`default`, `strategy`) and `seconds`.

The plain classifiers use no dropout: each replica draws its own dropout
masks for its share of a mini-batch, so the two runs would differ by design.
GAM's GCN keeps its dropout, as every replica runs the whole full-batch step
and draws the masks one device would. Training uses plain SGD: Adam divides
each update by the root of the squared gradients plus 1e-7, which turns
float rounding in gradients near zero into update differences of up to
about learning_rate * 1e-3, whereas SGD keeps them at float32 rounding.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

from graph_models.distribution import configure_logical_cpus, make_strategy

if __name__ == "__main__":
  if sys.argv[1:2] == ["mirrored"]:
    configure_logical_cpus(2)
  # A multi-worker strategy must exist before any other TF operation.
  STRATEGY = make_strategy(sys.argv[1])

# pylint: disable=g-import-not-at-top,wrong-import-position
import keras
import numpy as np
import tensorflow as tf

from gam.agreement import AgreementModel, AgreementTrainingOptions
from gam.agreement_regularization import AgreementRegularization
from gam.cotraining import CoTrainingOptions
from gam.graph_agreement_model import GraphAgreementModel
from gam.graph_regularization import GraphRegularizationModel
from graph_models import distribution, nsl, training
from graph_models.graph import Graph
from graph_models.neighbor_packing import packed_dataset
from gam_datasets.synthetic import generate_flickr_like
# pylint: enable=g-import-not-at-top,wrong-import-position

SEED = 0
EPOCHS = 4
LEARNING_RATE = 0.05
# 28 training nodes in batches of 8: every batch, the last one (4) included,
# splits evenly over two replicas, so each replica's mean loss has the
# weight the single-device mean gives its examples.
BATCH_SIZE = 8
MAX_NEIGHBORS = 2

# Runs a model under a strategy, starting from the given initial weights (or
# recording them when the list is empty); returns the trained weights and
# the final metrics.
Outcome = Tuple[List[np.ndarray], Dict[str, float]]
Run = Callable[[tf.distribute.Strategy, List[np.ndarray]], Outcome]


def make_graph() -> Graph:
  # An odd number of validation nodes: evaluation batches split unevenly.
  graph = generate_flickr_like(num_nodes=200, num_classes=7, num_features=16,
                               labels_per_class=4, num_val=59, num_test=60,
                               avg_degree=10, degree_spread=0.0, seed=SEED)
  # NSL's default reduction divides the graph loss by the number of non-zero
  # neighbour weights on each replica; with every training node having
  # MAX_NEIGHBORS neighbours those counts are equal on both replicas.
  degrees = np.diff(graph.adjacency.indptr)[graph.split_nodes("train")]
  assert degrees.min() >= MAX_NEIGHBORS, degrees.min()
  return graph


GRAPH = make_graph()


def _final(history: Dict[str, list]) -> Dict[str, float]:
  return {key: float(values[-1]) for key, values in history.items()}


def _compile(model: keras.Model) -> None:
  model.compile(
      optimizer=keras.optimizers.SGD(LEARNING_RATE),
      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def _start_from(model: keras.Model, input_shape: Dict[str, Tuple],
                initial: List[np.ndarray]) -> None:
  """Builds `model` and gives it `initial` (or records its weights there)."""
  model.build(input_shape)
  if initial:
    model.set_weights(initial)
  else:
    initial.extend(model.get_weights())


def _shapes(dataset: tf.data.Dataset) -> Dict[str, Tuple]:
  return {k: tuple(v.shape) for k, v in dataset.element_spec[0].items()}


def classifier_run(name: str) -> Run:
  """`name` trained by `fit` on `node_datasets`: the whole graph for GCN,
  shuffled packed batches otherwise, validated every epoch."""
  def run(strategy: tf.distribute.Strategy,
          initial: List[np.ndarray]) -> Outcome:
    with strategy.scope():
      model = training.build_classifier(name, GRAPH.num_classes,
                                        hidden_units=(16,), dropout=0.0)
      options = training.TrainingOptions(
          epochs=EPOCHS, batch_size=BATCH_SIZE, max_neighbors=MAX_NEIGHBORS,
          seed=SEED)
      datasets = training.node_datasets(GRAPH, model, options)
      _start_from(model, _shapes(datasets["train"]), initial)
      _compile(model)
    history = model.fit(datasets["train"], epochs=EPOCHS, verbose=0,
                        validation_data=datasets["val"])
    return model.get_weights(), _final(history.history)
  return run


def graph_regularization_run(strategy: tf.distribute.Strategy,
                             initial: List[np.ndarray]) -> Outcome:
  """`GraphRegularizationModel` over an MLP on shuffled packed batches."""
  train = packed_dataset(GRAPH, GRAPH.split_nodes("train"), MAX_NEIGHBORS,
                         batch_size=BATCH_SIZE, shuffle=True, seed=SEED)
  with strategy.scope():
    model = GraphRegularizationModel(
        config=nsl.make_graph_reg_config(max_neighbors=MAX_NEIGHBORS,
                                         multiplier=1.0),
        node_model_fn=lambda: training.build_classifier(
            "mlp", GRAPH.num_classes, hidden_units=(16,), dropout=0.0))
    _start_from(model, _shapes(train), initial)
    _compile(model)
  history = model.fit(train, epochs=EPOCHS, verbose=0)
  return model.get_weights(), _final(history.history)


class _ClassifierWeights(keras.callbacks.Callback):
  """Keeps the classifier's weights at the end of each round's training."""

  def on_train_end(self, logs=None):
    self.weights = self.model.node_model.get_weights()


def gam_run(strategy: tf.distribute.Strategy,
            initial: List[np.ndarray]) -> Outcome:
  """One GAM round (after the round-0 baseline) with a full-batch GCN.

  GAM re-initialises both models every round from the round's seed, so the
  two runs start alike without copying weights; `initial` is unused. The
  weights compared are the classifier's at the end of round 1 and those the
  model keeps (the best round's classifier and agreement model).
  """
  del initial
  options = CoTrainingOptions(
      max_rounds=1, epochs=EPOCHS, patience=EPOCHS, num_samples_to_label=10,
      regularization=AgreementRegularization(16, reg_weight_lu=1.0,
                                             reg_weight_uu=0.5),
      agreement=AgreementTrainingOptions(max_steps=10, eval_every=5),
      seed=SEED)
  with strategy.scope():
    model = GraphAgreementModel(
        node_model_fn=lambda: training.build_classifier(
            "gcn", GRAPH.num_classes, hidden_units=(16,)),
        agreement_model_fn=lambda: AgreementModel(hidden_units=(8,)),
        options=options)
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
  last_round = _ClassifierWeights()
  history = model.fit(GRAPH, verbose=0, callbacks=[last_round])
  metrics = {f"round_{r['round']}_{key}": float(r[key])
             for r in history.to_dict()["rounds"]
             for key in ("val_accuracy", "agreement_accuracy")
             if r[key] is not None}
  return last_round.weights + model.get_weights(), metrics


CASES: Dict[str, Run] = {
    "gcn_full_batch": classifier_run("gcn"),
    "commnet_packed": classifier_run("commnet"),
    "graph_regularization_packed": graph_regularization_run,
    "gam_round": gam_run,
}


def compare(run: Run, strategy: tf.distribute.Strategy) -> Dict[str, Any]:
  initial: List[np.ndarray] = []
  results: Dict[str, Any] = {"replicas": strategy.num_replicas_in_sync}
  weights = {}
  start = time.perf_counter()
  for name, current in (("default", tf.distribute.get_strategy()),
                        ("strategy", strategy)):
    training.seed_everything(SEED)
    weights[name], results[name] = run(current, initial)
  results["max_abs_weight_diff"] = max(
      float(np.max(np.abs(a - b)))
      for a, b in zip(weights["default"], weights["strategy"]))
  results["weight_sum"] = float(sum(np.abs(w).sum()
                                    for w in weights["strategy"]))
  if initial:  # how far training moved the weights
    results["max_update"] = max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(weights["default"], initial))
  results["seconds"] = time.perf_counter() - start
  return results


def map_shards_check(strategy: tf.distribute.Strategy) -> Dict[str, Any]:
  """`distribution.map_shards` over 10,000 items in blocks of 64: the
  ranges this process computed, and whether the gathered result is the
  single call's."""
  calls = []

  def values(start, stop):
    return np.stack([np.sin(np.arange(start, stop, dtype=np.float32)),
                     np.arange(start, stop, dtype=np.float32)], axis=1)

  def recorded(start, stop):
    calls.append([start, stop])
    return values(start, stop)
  result = distribution.map_shards(strategy, recorded, 10_000, align=64)
  return {"calls": calls,
          "matches": bool(np.array_equal(result, values(0, 10_000)))}


def predict_nodes_check(strategy: tf.distribute.Strategy) -> Dict[str, Any]:
  """`training.predict_nodes` of a CommNet over 3,000 nodes in batches of
  256: the node ranges this process packed, and how far the gathered
  outputs are from one pass over every node."""
  graph = generate_flickr_like(num_nodes=3000, num_val=100, num_test=200,
                               seed=SEED)
  nodes = np.arange(graph.num_nodes)
  with strategy.scope():
    training.seed_everything(SEED)
    model = training.build_classifier("commnet", graph.num_classes,
                                      hidden_units=(16,))
    whole = [model(batch, training=False).numpy() for batch in
             training.prediction_dataset(graph, model, nodes, 5, 256)]
    packed = []
    dataset = training.prediction_dataset

    def recorded(graph, model, ids, *args):
      packed.append([int(ids[0]), int(ids[-1]) + 1])
      return dataset(graph, model, ids, *args)
    training.prediction_dataset = recorded
    try:
      outputs = training.predict_nodes(model, graph, nodes, 5, 256)
    finally:
      training.prediction_dataset = dataset
  return {"packed": packed, "max_abs_diff": float(
      np.max(np.abs(outputs - np.concatenate(whole))))}


if __name__ == "__main__":
  names = [name for name in sys.argv[2:] if name in CASES]
  results = {name: compare(CASES[name], STRATEGY)
             for name in names or ([] if sys.argv[2:] else CASES)}
  if not sys.argv[2:] or "map_shards" in sys.argv[2:]:
    results["map_shards"] = map_shards_check(STRATEGY)
  if not sys.argv[2:] or "predict_nodes" in sys.argv[2:]:
    results["predict_nodes"] = predict_nodes_check(STRATEGY)
  print(json.dumps(results))
