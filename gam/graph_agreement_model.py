"""`GraphAgreementModel`: Graph Agreement Models (Stretcu et al., NeurIPS 2019).

`fit(graph)` runs the co-training loop of the paper (sec. 3.3, Algorithm 1)
with the corrections of the reference code:

* round 0 trains the plain classifier (the baseline) on the training labels;
* every later round re-initialises and trains the agreement model on the
  labelled edges (`train_agreement_model`), then re-initialises and trains the
  classifier with the agreement-weighted regularisation of
  `agreement_regularization` (agreement frozen), then labels the classifier's
  most confident unlabelled training candidates (`self_labeling`);
* it stops after a round that labels nothing new (fewer than
  `min_new_labels`) or after `max_rounds`, and keeps the round with the best
  validation accuracy.

Each round's classifier is trained by Keras' own `fit` on an endless dataset
(early stopping on validation accuracy, best epoch restored), so callbacks,
progress bars and `tf.distribute` apply as usual. Rounds are seeded one by
one (`CoTrainingOptions.round_seed`) and checkpointed (`checkpoints`), also
inside a round once its agreement model has trained, so a run that is
killed resumes from there (or from its last finished round) and ends
exactly as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import shutil
import time
from typing import (Any, Callable, Dict, List, Optional, Sequence, Tuple,
                    Union)

import keras
import numpy as np
import tensorflow as tf

from gam.checkpoints import InRoundState, RoundCheckpoints, RoundState
from gam.agreement import (AgreementModel, agreement_probabilities,
                           train_agreement_model)
from gam.agreement.model import SCORING_BATCH_SIZE
from gam.agreement_regularization import (GAM_KEYS, LEFT_LABELS, PAIR_WEIGHTS,
                                          RegularizationPairs,
                                          agreement_regularization_loss,
                                          regularized_dataset)
from gam.cotraining import CoTrainingOptions
from gam.graph_regularization import GraphRegularizationModel
from gam import reporting
from gam.round_history import (SPLITS, AgreementRecord, CoTrainingHistory,
                               RoundRecord)
from gam.self_labeling import (class_shares, confidence_for_precision,
                               label_candidates, select_new_labels)
from graph_models import distribution, nsl
from graph_models.distribution import map_shards, reducible_across_workers
from graph_models.tasks import label_tasks
from graph_models.graph import Graph
from graph_models import label_table
from graph_models.label_table import keep_labels, labeled_rows
from graph_models.neighbor_packing import FEATURES, NODE_IDS, rows_of
from graph_models.classifiers.node_graph_model import is_whole_graph
from graph_models.training import (evaluation_dataset, is_full_batch,
                                   predict_nodes, prediction_dataset,
                                   takes_sparse_features)

ModelFn = Callable[[], keras.Model]


def _assign(targets: Sequence[tf.Variable], values: Sequence[Any],
            what: str) -> None:
  if len(targets) != len(values):
    raise ValueError(
        f"{what}: expected {len(targets)} variables, got {len(values)}")
  for target, value in zip(targets, values):
    if tuple(target.shape) != tuple(np.shape(value)):
      raise ValueError(
          f"{what}: variable {target.path} has shape {tuple(target.shape)}, "
          f"the saved value {tuple(np.shape(value))}")
    target.assign(value)


def _architecture(model: keras.Model) -> Dict[str, Any]:
  """A model's class and config without its (auto-numbered) name."""
  config = {k: v for k, v in model.get_config().items()
            if k not in ("name", "trainable", "dtype")}
  return {"class": type(model).__name__, "config": config}


def _split_targets(inputs: Dict[str, tf.Tensor], count: tf.Tensor):
  """A regularised input cut in two: its first `count` (labelled) target
  nodes, and the pair nodes after them."""
  if is_whole_graph(inputs):
    ids = inputs[NODE_IDS]
    return ({**inputs, NODE_IDS: ids[:count]},
            {**inputs, NODE_IDS: ids[count:]})
  return ({k: rows_of(v, 0, count) for k, v in inputs.items()},
          {k: rows_of(v, count) for k, v in inputs.items()})


def _timed(function: Callable[..., Any], *args) -> Tuple[Any, float]:
  """`function(*args)` and the seconds it took: each phase of a round is
  timed, so a slow one shows in its `RoundRecord` field."""
  start = time.perf_counter()
  return function(*args), time.perf_counter() - start


def _values(variables: Sequence[tf.Variable]) -> List[np.ndarray]:
  return [np.array(v.numpy()) for v in variables]


@dataclasses.dataclass
class _Run:
  """What every round of one `fit(graph)` shares."""
  graph: Graph
  input_shape: Dict[str, tuple]
  initial_optimizer: List[np.ndarray]
  shares: Optional[np.ndarray]  # class shares of new labels, if kept
  callbacks: List[keras.callbacks.Callback]
  verbose: int  # of Keras' fit inside a round
  strategy: tf.distribute.Strategy
  tensorboard_dir: Optional[str]  # this process's (see `write_dir`)
  saver: Optional[RoundCheckpoints] = None
  worker_dirs: List[pathlib.Path] = dataclasses.field(default_factory=list)

  def write_dir(self, directory: str) -> str:
    """`directory` on the chief; a temporary one, removed at the end of the
    run, on the other workers of a multi-worker strategy."""
    path = distribution.write_dir(directory, self.strategy)
    if os.fspath(path) != os.fspath(directory):
      self.worker_dirs.append(path)
    return os.fspath(path)

  def remove_worker_files(self) -> None:
    for path in self.worker_dirs:
      shutil.rmtree(path, ignore_errors=True)

  def call_round_hook(self, hook: str, round_index: int,
                      logs: Optional[Dict[str, Any]] = None) -> None:
    """`hook` (see `round_callbacks`) of every callback that has it."""
    for callback in self.callbacks:
      if hasattr(callback, hook):
        getattr(callback, hook)(round_index, logs)

  def round_callbacks(self, round_index: int
                      ) -> List[keras.callbacks.Callback]:
    return self.callbacks + ([keras.callbacks.TensorBoard(os.path.join(
        self.tensorboard_dir, f"round_{round_index}"))]
                             if self.tensorboard_dir else [])


@keras.saving.register_keras_serializable(package="gam")
class GraphAgreementModel(GraphRegularizationModel):
  """A node classifier trained with GAM: agreement model + self-training.

  A `GraphRegularizationModel` whose graph term is GAM's over sampled edge
  pairs (`regularized_dataset`), not over packed neighbours, and whose
  `fit(graph)` runs the co-training rounds.

  Args:
    node_model_fn: zero-argument factory of the classifier (any of
      `graph_models`' node classifiers). It is called again to re-initialise
      the classifier every round.
    agreement_model_fn: zero-argument factory of the agreement model.
    options: `CoTrainingOptions`.
    feature_name: the node feature of packed inputs.
    multilabel: the graph's labels are multi-hot sets: sigmoid outputs,
      sigmoid cross-entropy, label-set agreement, rounds compared by
      per-label mAP (see `graph_models.tasks.label_tasks`).

  `fit(graph)` runs the co-training rounds and returns a `CoTrainingHistory`;
  `fit(dataset)` is Keras' ordinary `fit` (a dataset made by
  `regularized_dataset` carries the agreement term). `predict`, `evaluate`
  and `save` behave as for the wrapped classifier.

  Example:
    >>> model = GraphAgreementModel(
    ...     node_model_fn=lambda: GCNNodeClassifier(7, hidden_units=128),
    ...     options=CoTrainingOptions(max_rounds=8, regularization=
    ...         AgreementRegularization(512, reg_weight_lu=1, reg_weight_uu=.5)))
    >>> model.compile(optimizer=keras.optimizers.Adam(0.01))
    >>> history = model.fit(graph, checkpoint_dir="runs/gam")
    >>> history.best.test_scores["accuracy"]
  """

  GRAPH_LOSS = "agreement_loss"

  def __init__(self, node_model_fn: Optional[ModelFn] = None,
               agreement_model_fn: Optional[ModelFn] = None,
               options: Optional[CoTrainingOptions] = None,
               feature_name: str = FEATURES, multilabel: bool = False,
               **kwargs):
    options = options or CoTrainingOptions()
    if not isinstance(options, CoTrainingOptions):
      raise ValueError(f"options must be CoTrainingOptions, got "
                       f"{type(options).__name__}")
    # NSL's neighbour term stays off: GAM's term comes with the pairs.
    super().__init__(
        config=nsl.make_graph_reg_config(multiplier=0.0),
        node_model_fn=node_model_fn, feature_name=feature_name,
        agreement_model_fn=agreement_model_fn or AgreementModel,
        agreement_options=options.agreement, **kwargs)
    self.options = options
    self.multilabel = bool(multilabel)
    self.cotraining_history: Optional[CoTrainingHistory] = None
    # The label table after the last fit(graph): training + self-labels.
    self.final_labels: Optional[np.ndarray] = None

  # -- Keras model ------------------------------------------------------------

  def _trains_agreement_first(self) -> bool:
    return False  # each round trains it (`fit(graph)`)

  def build(self, input_shape):
    input_shape = {k: v for k, v in input_shape.items() if k not in GAM_KEYS}
    self.node_model.build(input_shape)
    num_features = input_shape[self.feature_name][-1]
    if not self.agreement_model.built:
      self.agreement_model.build({"left": (None, num_features),
                                  "right": (None, num_features)})
    self.built = True

  def is_unsplittable(self, inputs: Dict[str, Any]) -> bool:
    # Pair nodes follow the labelled ones in the same tensors.
    return is_whole_graph(inputs) or any(key in inputs for key in GAM_KEYS)

  def call(self, inputs, training=False):
    inputs = {k: v for k, v in inputs.items() if k not in GAM_KEYS}
    return self.node_model(inputs, training=training)

  def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
    """Keras `compile`; the loss defaults to cross-entropy on logits (sigmoid
    cross-entropy if `multilabel`) and the metric rounds early-stop on is
    always added: `accuracy`, or per-image mAP `image_map` if `multilabel`."""
    default_loss, default_metrics = label_tasks.loss_and_metrics(
        self.multilabel, getattr(self.node_model, "num_classes", None))
    metrics = list(metrics or [])
    names = [m if isinstance(m, str) else getattr(m, "name", None)
             for m in metrics]
    monitor = label_tasks.monitor_name(self.multilabel)
    if monitor not in names:
      metrics += [m for m in default_metrics if m.name == monitor]
    super().compile(optimizer=optimizer, loss=loss or default_loss,
                    metrics=metrics, **kwargs)

  def compile_from_config(self, config):
    self.compile(**keras.saving.deserialize_keras_object(config))
    if self.built:
      self.optimizer.build(self.node_model.trainable_variables)

  def train_step(self, data):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
        self.whole_element(data))
    inputs = {k: v for k, v in x.items() if k not in GAM_KEYS}
    num_targets = tf.shape(y)[0]
    separate = self.options.separate_regularization_pass and LEFT_LABELS in x
    with tf.GradientTape() as tape:
      if separate:
        target_inputs, pair_inputs = _split_targets(inputs, num_targets)
        y_pred = self.node_model(target_inputs, training=True)
        pair_outputs = self.node_model(pair_inputs, training=True)
      else:
        outputs = self.node_model(inputs, training=True)
        y_pred, pair_outputs = outputs[:num_targets], outputs[num_targets:]
      loss = self.compute_loss(x=inputs, y=y, y_pred=y_pred,
                               sample_weight=sample_weight, training=True)
      replicas = tf.distribute.get_strategy().num_replicas_in_sync
      if LEFT_LABELS in x:
        regularization = agreement_regularization_loss(
            pair_outputs, x[LEFT_LABELS], x[PAIR_WEIGHTS])
        self.graph_loss_tracker.update_state(regularization)
        # Keras divides the compiled loss by the replica count; this term is
        # computed by hand, so it must be too.
        loss = loss + tf.cast(regularization, loss.dtype) / replicas
      self._loss_tracker.update_state(loss * replicas,
                                      sample_weight=num_targets)
      scaled = self.optimizer.scale_loss(loss)
    variables = self.node_model.trainable_variables
    self.optimizer.apply(tape.gradient(scaled, variables), variables)
    return reducible_across_workers(self.compute_metrics(
        inputs, y, y_pred, sample_weight=sample_weight))

  def fit(self, x=None, y=None, **kwargs):
    """`fit(graph, verbose="auto", callbacks=None, checkpoint_dir=None,
    tensorboard_dir=None)` runs the GAM rounds on a `Graph` and returns a
    `CoTrainingHistory`; any other `x` goes to Keras' `fit`.

    `verbose` means what it means to Keras, a round standing for an epoch:
    0 silent, 1 each round's Keras progress bars and a line per round, 2
    ("auto") a line per round.

    `callbacks` go to every round's Keras `fit`; their `on_round_begin` /
    `on_round_end` hooks, if any, run around each round and may end the
    rounds (`round_callbacks.RoundCallback`).

    With `tensorboard_dir`, each round's classifier training is logged by
    Keras' TensorBoard callback under `<dir>/round_<r>`, and the rounds'
    record (validation / test / agreement accuracy, labelled nodes) under
    `<dir>/rounds`, one step per round."""
    if isinstance(x, Graph):
      if y is not None:
        raise ValueError("fit(graph) takes its labels from the graph; y must "
                         "be None")
      return self._fit_graph(x, **kwargs)
    return super().fit(x, y, **kwargs)

  def get_config(self):
    config = super().get_config()
    # Both follow from `options` and the class.
    del config["graph_reg_config"], config["agreement_options"]
    config.update(options=self.options.to_dict(), multilabel=self.multilabel)
    return config

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    # Made anew at every call: each round re-initialises the models with
    # fresh ones.
    node_config = config.pop("node_model")
    agreement_config = config.pop("agreement_model")
    return cls(
        node_model_fn=lambda: keras.saving.deserialize_keras_object(
            node_config),
        agreement_model_fn=lambda: keras.saving.deserialize_keras_object(
            agreement_config),
        options=CoTrainingOptions.from_dict(config.pop("options")), **config)

  # -- co-training ------------------------------------------------------------

  def _fresh(self, factory: ModelFn, target: keras.Model, input_shape):
    """Copies a freshly initialised model's variables into `target`."""
    fresh = factory()
    fresh.build(input_shape)
    _assign(target.variables, _values(fresh.variables),
            f"re-initialising {target.name}")

  def _fingerprint(self, graph: Graph) -> Dict[str, Any]:
    train_labels = keep_labels(graph.labels, graph.train_mask)
    return {
        "graph": {"name": graph.name, "num_nodes": graph.num_nodes,
                  "num_edges": graph.num_edges,
                  "num_features": graph.num_features,
                  "num_classes": graph.num_classes,
                  "train_labels_sha256": hashlib.sha256(
                      train_labels.astype(np.int64).tobytes()).hexdigest()},
        "options": self.options.to_dict(),
        "node_model": _architecture(self.node_model),
        "agreement_model": _architecture(self.agreement_model),
    }

  def _predict_probabilities(self, graph: Graph) -> np.ndarray:
    """Class probabilities of every node (one pass, in shares across the
    workers of a multi-worker strategy: `training.predict_nodes`)."""
    with self.distribute_strategy.scope():
      logits = predict_nodes(self.node_model, graph,
                             np.arange(graph.num_nodes),
                             self.options.max_neighbors)
    return label_tasks.probabilities(logits, self.multilabel)

  def _label_min_confidence(self, graph: Graph,
                            probabilities: np.ndarray) -> Optional[float]:
    """The round's confidence threshold for new labels; None: label
    nothing (no threshold reaches `min_label_precision` on validation)."""
    options = self.options
    if options.min_label_precision is None:
      return options.min_confidence
    val = graph.split_nodes("val")
    threshold = confidence_for_precision(
        probabilities[val], graph.labels[val], options.min_label_precision,
        self.multilabel)
    return None if threshold is None else max(options.min_confidence,
                                              threshold)

  def _start_run(self, graph: Graph, verbose: int, callbacks,
                 tensorboard_dir: Optional[str]) -> _Run:
    """Checks `graph` against the model and builds the model."""
    if not self.compiled:
      raise RuntimeError("compile the model before fit(graph)")
    graph.require_training_labels()
    if graph.is_multilabel != self.multilabel:
      raise ValueError(
          f"{graph.name} has {'multi' if graph.is_multilabel else 'single'}"
          f"-label labels but the model was made with multilabel="
          f"{self.multilabel}")
    if graph.split_nodes("val").size == 0:
      raise ValueError(f"{graph.name}: GAM selects epochs and rounds by "
                       "validation accuracy, but the graph has no "
                       "validation nodes")
    input_shape = {k: tuple(v.shape) for k, v in prediction_dataset(
        graph, self.node_model, graph.split_nodes("train")[:1],
        self.options.max_neighbors).element_spec.items()}
    # Variables must be created under the strategy the model was made in.
    with self.distribute_strategy.scope():
      self.build(input_shape)
      if not self.optimizer.built:
        self.optimizer.build(self.node_model.trainable_variables)
    original = keep_labels(graph.labels, graph.train_mask)
    run = _Run(graph, input_shape, _values(self.optimizer.variables),
               (class_shares(original, graph.num_classes)
                if self.options.keep_label_proportions else None),
               list(callbacks or []), 1 if verbose == 1 else 0,
               self.distribute_strategy, None)
    if tensorboard_dir:
      run.tensorboard_dir = run.write_dir(tensorboard_dir)
    for callback in run.callbacks:
      callback.set_model(self)
    return run

  def _train_agreement(self, graph: Graph, labels: np.ndarray,
                       round_seed: int) -> AgreementRecord:
    """A GAM round's first step: the agreement model, re-initialised and
    trained on the labelled edges."""
    self._fresh(self.agreement_model_fn, self.agreement_model,
                {"left": (None, graph.num_features),
                 "right": (None, graph.num_features)})
    # Held-out nodes come from the original labels: the self-labels are the
    # classifier's own guesses, and would flatter the measure.
    result = train_agreement_model(
        self.agreement_model, graph, labels,
        dataclasses.replace(self.options.agreement, seed=round_seed),
        held_out_pool=graph.train_mask)
    self.agreement_steps.assign(result.steps)
    return AgreementRecord.from_training(result, None)

  def _regularization_pairs(self, graph: Graph, labels: np.ndarray,
                            agreement: Optional[AgreementRecord]
                            ) -> Tuple[RegularizationPairs,
                                       Optional[AgreementRecord]]:
    """The round's regularised pairs, weighted by the trained agreement
    model (by 1 with `always_agree`), and its record completed."""
    options = self.options
    if options.always_agree:
      return RegularizationPairs.build(
          graph, labels, options.regularization,
          lambda left, right: np.ones(len(left), np.float32)), None
    scores = []

    def agreement_fn(left, right):
      # Each worker scores its share of the pairs, on whole scoring batches
      # (so each score is the one a single worker computes).
      scores.append(map_shards(
          self.distribute_strategy,
          lambda start, stop: agreement_probabilities(
              self.agreement_model, graph, left[start:stop],
              right[start:stop], SCORING_BATCH_SIZE),
          len(left), align=SCORING_BATCH_SIZE))
      return scores[-1]
    pairs = RegularizationPairs.build(graph, labels, options.regularization,
                                      agreement_fn)
    # How often the agreement model calls an unlabelled edge "same".
    edge_agreement = (float(np.mean(np.concatenate(scores) > .5))
                      if scores else None)
    return pairs, dataclasses.replace(agreement,
                                      edge_agreement=edge_agreement)

  def _train_classifier(self, run: _Run, labels: np.ndarray,
                        pairs: Optional[RegularizationPairs],
                        round_index: int, seed: int) -> Tuple[int, int]:
    """The round's second step: the classifier, trained by Keras' `fit`
    (with the agreement term from round 1); its epochs run and kept."""
    options, graph = self.options, run.graph
    full_batch = is_full_batch(self.node_model)
    labelled = np.flatnonzero(labeled_rows(labels))
    max_neighbors = options.max_neighbors if self.node_model.uses_edges else 0
    dataset = regularized_dataset(
        graph, labelled, labels, pairs, options.regularization.num_pairs,
        full_batch, max_neighbors, options.batch_size, seed, self.feature_name,
        takes_sparse_features(self.node_model))
    validation = evaluation_dataset(graph, self.node_model,
                                    graph.split_nodes("val"), max_neighbors)
    monitor = "val_" + label_tasks.monitor_name(self.multilabel)
    stopper = keras.callbacks.EarlyStopping(
        monitor=monitor, mode="max", patience=options.patience,
        restore_best_weights=True)
    history = super().fit(
        dataset, epochs=options.epochs,
        steps_per_epoch=((options.steps_per_epoch or 1) if full_batch
                         else options.steps(labelled.size)),
        validation_data=validation,
        callbacks=[stopper] + run.round_callbacks(round_index),
        verbose=run.verbose, shuffle=False)
    val_history = history.history[monitor]
    return len(val_history), int(np.argmax(val_history)) + 1

  def _split_scores(self, graph: Graph, probabilities: np.ndarray
                    ) -> Dict[str, Dict[str, Optional[float]]]:
    score = label_tasks.score_name(self.multilabel)
    scores = {}
    for split in SPLITS:
      nodes = graph.split_nodes(split)
      scores[split] = (label_tasks.split_scores(probabilities[nodes],
                                                graph.labels[nodes])
                       if nodes.size else {score: None})
    return scores

  def _self_label(self, run: _Run, labels: np.ndarray,
                  probabilities: np.ndarray
                  ) -> Tuple[np.ndarray, Optional[float]]:
    """The round's last step: the most confident candidates' predictions
    join `labels` (in place). Returns their ids and the confidence they
    needed."""
    graph = run.graph
    min_confidence = self._label_min_confidence(graph, probabilities)
    candidates = label_candidates(graph, labels)
    if not candidates.size or min_confidence is None:
      return np.zeros(0, np.int64), min_confidence
    new_ids, new_labels = select_new_labels(
        probabilities[candidates], candidates,
        self.options.num_samples_to_label, min_confidence, run.shares,
        self.multilabel)
    labels[new_ids] = new_labels
    return new_ids, min_confidence

  def _start_round(self, run: _Run, round_index: int, labels: np.ndarray
                   ) -> Optional[AgreementRecord]:
    """A round's models before its classifier trains: the classifier and
    optimizer reset (unless `warm_start`), the agreement model trained from
    round 1 on, and all of it checkpointed inside the round."""
    options = self.options
    if round_index == 0 or not options.warm_start:
      self._fresh(self.node_model_fn, self.node_model, run.input_shape)
      _assign(self.optimizer.variables, run.initial_optimizer,
              "resetting the optimizer")
    if round_index == 0 or options.always_agree:
      return None
    agreement = self._train_agreement(run.graph, labels,
                                      options.round_seed(round_index))
    if run.saver is not None:
      run.saver.save_in_round(InRoundState(round_index, agreement))
    return agreement

  def _run_round(self, run: _Run, round_index: int, labels: np.ndarray,
                 resumed: Optional[InRoundState] = None) -> RoundRecord:
    """Round 0 trains the plain classifier; later rounds regularise it with
    the agreement model. All but round 0 and the last add labels (to
    `labels`, in place). A `resumed` round starts after its agreement
    model's training, as checkpointed."""
    options, graph = self.options, run.graph
    keras.utils.set_random_seed(options.round_seed(round_index))
    start = time.perf_counter()
    labelled = int(labeled_rows(labels).sum())
    agreement = (resumed.agreement if resumed is not None else
                 self._start_round(run, round_index, labels))
    pairs, pairs_seconds = None, 0.0
    if round_index > 0:
      (pairs, agreement), pairs_seconds = _timed(
          self._regularization_pairs, graph, labels, agreement)
    (epochs, best_epoch), classifier_seconds = _timed(
        self._train_classifier, run, labels, pairs, round_index,
        options.round_seed(round_index))
    probabilities, prediction_seconds = _timed(self._predict_probabilities,
                                               graph)
    scores = self._split_scores(graph, probabilities)
    labelling_start = time.perf_counter()
    new_ids, min_confidence = np.zeros(0, np.int64), None
    if 0 < round_index < options.max_rounds:
      new_ids, min_confidence = self._self_label(run, labels, probabilities)
    known = new_ids[labeled_rows(graph.labels)[new_ids]]
    return RoundRecord(
        round=round_index, labelled=labelled, agreement=agreement,
        epochs=epochs, best_epoch=best_epoch, pairs_seconds=pairs_seconds,
        classifier_seconds=classifier_seconds,
        prediction_seconds=prediction_seconds, val_scores=scores["val"],
        test_scores=scores["test"], label_min_confidence=min_confidence,
        new_labels=int(new_ids.size),
        new_label_accuracy=(float(np.mean(label_table.values_agree(
            labels[known], graph.labels[known]))) if known.size else None),
        labelling_seconds=time.perf_counter() - labelling_start,
        seconds=time.perf_counter() - start)

  def _resume(self, run: _Run, checkpoint_dir: str, state: RoundState,
              verbose: int) -> Tuple[RoundState, Optional[InRoundState]]:
    """Opens `run.saver` on `checkpoint_dir` and restores what it holds:
    the last finished round and, if the next one was checkpointed inside,
    that round too."""
    graph = run.graph
    run.saver = RoundCheckpoints(
        checkpoint_dir, self.node_model, self.agreement_model,
        self.optimizer, state.labels, self._fingerprint(graph),
        write_directory=run.write_dir(checkpoint_dir))
    restored = run.saver.restore()
    if restored is None:
      return state, None
    state = dataclasses.replace(
        restored, labels=restored.labels.astype(graph.labels.dtype))
    resumed = (None if state.finished else
               run.saver.restore_in_round(state.next_round))
    if verbose:
      reporting.report(
          f"Resuming from {checkpoint_dir}: {state.next_round} round(s) done"
          + (" (finished)" if state.finished else "")
          + (f", round {resumed.round} from after its agreement model's "
             "training" if resumed else ""))
    return state, resumed

  def _fit_graph(self, graph: Graph, verbose: Union[int, str] = "auto",
                 callbacks: Optional[Sequence[keras.callbacks.Callback]] = None,
                 checkpoint_dir: Optional[str] = None,
                 tensorboard_dir: Optional[str] = None) -> CoTrainingHistory:
    """The rounds, each checkpointed; keeps the best-validation round."""
    if verbose == "auto":
      verbose = 2
    if verbose not in (0, 1, 2):
      raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    run = self._start_run(graph, verbose, callbacks, tensorboard_dir)
    options = self.options
    state = RoundState(
        next_round=0, finished=False,
        labels=keep_labels(graph.labels, graph.train_mask),
        history=CoTrainingHistory(
            score_name=label_tasks.score_name(self.multilabel)),
        best_node=[], best_agreement=[])
    resumed = None
    if checkpoint_dir:
      state, resumed = self._resume(run, checkpoint_dir, state, verbose)
    round_writer = (tf.summary.create_file_writer(
        os.path.join(run.tensorboard_dir, "rounds")) if run.tensorboard_dir
                    else None)
    history = state.history
    while not state.finished:
      run.call_round_hook("on_round_begin", state.next_round)
      record = self._run_round(run, state.next_round, state.labels, resumed)
      resumed = None
      history.rounds.append(record)
      if round_writer is not None:
        reporting.log_round(round_writer, record)
      if (history.best_round is None or history.score(record, "val")
          > history.score(history.best, "val")):
        history.best_round = record.round
        state.best_node = _values(self.node_model.variables)
        state.best_agreement = _values(self.agreement_model.variables)
      # The round's EarlyStopping set it; only a round hook may now.
      self.stop_training = False
      run.call_round_hook("on_round_end", record.round, record.to_dict())
      state.finished = self.stop_training or record.round >= (
          options.max_rounds) or (
              record.round > 0
              and record.new_labels < max(options.min_new_labels, 1))
      state.next_round = record.round + 1
      if verbose:
        reporting.report(
            reporting.progress_line(history, record, options.max_rounds))
      if run.saver is not None:
        run.saver.save(state)

    if round_writer is not None:
      round_writer.close()
    run.remove_worker_files()
    _assign(self.node_model.variables, state.best_node,
            "best round classifier")
    _assign(self.agreement_model.variables, state.best_agreement,
            "best round agreement model")
    self.cotraining_history = history
    self.final_labels = state.labels
    if verbose:
      reporting.report(reporting.summary_line(history))
    return history
