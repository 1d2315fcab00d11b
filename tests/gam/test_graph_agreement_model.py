"""GraphAgreementModel: the co-training rounds, saving, checkpoints, resume."""

import dataclasses
import logging

import keras
import numpy as np
import pytest

from gam import checkpoints
from gam import graph_agreement_model
from gam.agreement import (AgreementModel, AgreementTrainingOptions,
                           train_agreement_model)
from gam.agreement_regularization import AgreementRegularization
from gam.cotraining import CoTrainingOptions
from gam.round_callbacks import RoundCallback
from gam.round_history import AgreementRecord, CoTrainingHistory, RoundRecord
from gam.graph_agreement_model import GraphAgreementModel
from gam.reporting import progress_line, summary_line
from graph_models.graph import UNLABELED
from gam_datasets.synthetic import generate_flickr_like
from graph_models.training import (build_classifier, prediction_dataset,
                                   seed_everything)

OPTIONS = CoTrainingOptions(
    max_rounds=2, epochs=12, patience=12, num_samples_to_label=30,
    regularization=AgreementRegularization(32, reg_weight_lu=1.0,
                                           reg_weight_uu=0.5),
    agreement=AgreementTrainingOptions(max_steps=40, eval_every=20),
    seed=3)


@pytest.fixture(scope="module")
def graph():
  return generate_flickr_like(num_nodes=240, num_classes=3, num_features=12,
                              labels_per_class=4, num_val=50, num_test=80,
                              avg_degree=6, seed=1)


def make_model(graph, model="gcn", options=OPTIONS, dropout=0.5):
  seed_everything(options.seed)
  gam = GraphAgreementModel(
      node_model_fn=lambda: build_classifier(model, graph.num_classes,
                                             hidden_units=(16,),
                                             dropout=dropout),
      agreement_model_fn=lambda: AgreementModel(hidden_units=(8,)),
      options=options)
  gam.compile(optimizer=keras.optimizers.Adam(0.02))
  return gam


def predictions(model, graph):
  nodes = np.arange(graph.num_nodes)
  return model.predict(prediction_dataset(graph, model.node_model, nodes,
                                          OPTIONS.max_neighbors), verbose=0)


def comparable(history):
  return [{k: v for k, v in record.to_dict().items()
           if not k.endswith("seconds")} for record in history.rounds]


@pytest.fixture(scope="module")
def trained(graph, tmp_path_factory):
  """One uninterrupted checkpointed GCN run, shared by several tests."""
  directory = str(tmp_path_factory.mktemp("gam_run"))
  model = make_model(graph)
  history = model.fit(graph, verbose=0, checkpoint_dir=directory)
  return model, history, directory


def test_rounds_grow_labels_and_keep_the_best_validation_round(graph, trained):
  model, history, _ = trained
  rounds = history.rounds
  assert [r.round for r in rounds] == list(range(len(rounds)))
  assert 2 <= len(rounds) <= OPTIONS.max_rounds + 1
  assert rounds[0].agreement is None  # round 0 is the plain baseline
  assert rounds[0].new_labels == 0
  assert 0 <= rounds[1].agreement.edge_agreement <= 1
  assert all(r.agreement.held_out_nodes >= 1 for r in rounds[1:])
  # No held-out edge (12 labels here): no held-out accuracy either.
  for record in rounds[1:]:
    assert (record.agreement.held_out_pairs == 0) == (
        record.agreement.accuracy is None)
  for before, after in zip(rounds, rounds[1:]):
    assert after.labelled == before.labelled + before.new_labels
  val = [r.val_scores["accuracy"] for r in rounds]
  assert history.best_round == int(np.argmax(val))
  # The model holds the best round's classifier.
  val_nodes = graph.split_nodes("val")
  predicted = predictions(model, graph)[val_nodes].argmax(axis=1)
  assert np.mean(predicted == graph.labels[val_nodes]) == pytest.approx(
      history.best.val_scores["accuracy"])
  assert history.best.test_scores["accuracy"] > graph.majority_class_rate(
      "test")


def test_every_phase_of_a_round_is_timed(trained):
  rounds = trained[1].rounds
  phases = ("pairs_seconds", "classifier_seconds", "prediction_seconds",
            "labelling_seconds")
  for record in rounds:
    times = [getattr(record, phase) for phase in phases]
    assert all(isinstance(t, float) and t >= 0 for t in times), times
    agreement = record.agreement.seconds if record.agreement else 0.0
    assert agreement + sum(times) <= record.seconds
    assert record.prediction_seconds > 0
  assert rounds[0].pairs_seconds == 0.0  # round 0 has no pairs
  assert all(r.pairs_seconds > 0 for r in rounds[1:])


def test_self_training_never_labels_validation_or_test_nodes(graph, trained):
  model = trained[0]
  hidden = graph.val_mask | graph.test_mask
  assert (model.final_labels[hidden] == UNLABELED).all()
  assert (model.final_labels[graph.train_mask]
          == graph.labels[graph.train_mask]).all()
  added = (model.final_labels != UNLABELED).sum() - graph.train_mask.sum()
  assert added == sum(r.new_labels for r in trained[1].rounds) > 0


def test_history_is_saved_as_json(trained, tmp_path):
  import json
  history = trained[1]
  history.save_json(tmp_path / "history.json")
  loaded = json.loads((tmp_path / "history.json").read_text())
  assert loaded["best_round"] == history.best_round
  assert [r["val_accuracy"] for r in loaded["rounds"]] == \
      history.history["val_accuracy"]
  assert CoTrainingHistory.from_dict(loaded) == history


def test_save_and_load_give_identical_predictions(graph, trained, tmp_path):
  model = trained[0]
  path = tmp_path / "gam.keras"
  model.save(path)
  loaded = keras.saving.load_model(path)
  assert isinstance(loaded, GraphAgreementModel)
  assert loaded.options == model.options
  np.testing.assert_array_equal(predictions(loaded, graph),
                                predictions(model, graph))


class Interrupt(Exception):
  pass


class InterruptInRound(keras.callbacks.Callback):
  """Raises during the classifier training of the n-th call to fit."""

  def __init__(self, fit_call):
    super().__init__()
    self.fit_call, self.calls = fit_call, 0

  def on_train_begin(self, logs=None):
    self.calls += 1

  def on_epoch_end(self, epoch, logs=None):
    if self.calls == self.fit_call and epoch == 3:
      raise Interrupt()


def test_interrupted_run_resumes_inside_the_round_to_the_same_result(
    graph, trained, tmp_path, monkeypatch, capsys):
  model, history, _ = trained
  directory = str(tmp_path / "run")
  interrupted = make_model(graph)
  with pytest.raises(Interrupt):
    # Round 0 and 1 finish and are checkpointed; round 2 is killed while
    # its classifier trains, after its agreement model was checkpointed.
    interrupted.fit(graph, verbose=0, checkpoint_dir=directory,
                    callbacks=[InterruptInRound(fit_call=3)])
  assert checkpoints.latest_round(directory) == 1
  assert checkpoints.latest_round(f"{directory}/in_round") == 2
  agreement_trainings = []
  monkeypatch.setattr(
      graph_agreement_model, "train_agreement_model",
      lambda *args, **kwargs: agreement_trainings.append(args) or
      train_agreement_model(*args, **kwargs))
  resumed = make_model(graph)
  resumed_history = resumed.fit(graph, checkpoint_dir=directory)
  assert agreement_trainings == []  # round 2 resumed after its agreement
  assert (f"Resuming from {directory}: 2 round(s) done, round 2 from after "
          "its agreement model's training") in capsys.readouterr().out
  assert comparable(resumed_history) == comparable(history)
  np.testing.assert_array_equal(resumed.final_labels, model.final_labels)
  np.testing.assert_array_equal(predictions(resumed, graph),
                                predictions(model, graph))


def test_finished_run_restores_without_training(graph, trained):
  model, history, directory = trained
  again = make_model(graph)
  again_history = again.fit(graph, verbose=0, checkpoint_dir=directory)
  assert comparable(again_history) == comparable(history)
  np.testing.assert_array_equal(predictions(again, graph),
                                predictions(model, graph))


def test_progress_goes_to_the_gam_logger_where_keras_logs_there(
    graph, trained, caplog, capsys):
  directory = trained[2]
  keras.config.disable_interactive_logging()
  try:
    with caplog.at_level(logging.INFO, logger="gam"):
      make_model(graph).fit(graph, verbose=1, checkpoint_dir=directory)
  finally:
    keras.config.enable_interactive_logging()
  assert capsys.readouterr().out == ""
  messages = [r.getMessage() for r in caplog.records if r.name == "gam"]
  assert messages[0] == (f"Resuming from {directory}: 3 round(s) done "
                         "(finished)")
  assert messages[-1].startswith("GAM: round ")


@pytest.mark.parametrize("verbose, round_lines, epoch_bars", [
    (0, False, False), (1, True, True), ("auto", True, False)])
def test_verbose_has_keras_meaning_with_rounds_for_epochs(
    graph, capsys, verbose, round_lines, epoch_bars):
  # "auto" is 2.
  options = dataclasses.replace(OPTIONS, max_rounds=0, epochs=2)
  make_model(graph, options=options).fit(graph, verbose=verbose)
  out = capsys.readouterr().out
  assert ("Round 0/0 |" in out) == round_lines
  assert ("val_accuracy:" in out) == epoch_bars


def test_verbose_must_be_a_keras_value(graph):
  with pytest.raises(ValueError, match="verbose must be 0, 1, 2 or 'auto'"):
    make_model(graph).fit(graph, verbose=3)


def test_checkpoint_of_another_run_is_refused(graph, trained):
  directory = trained[2]
  other = make_model(graph, options=dataclasses.replace(OPTIONS, seed=4))
  with pytest.raises(checkpoints.CheckpointError,
                     match=r"options\.seed: checkpoint has 3, this run has 4"):
    other.fit(graph, verbose=0, checkpoint_dir=directory)


def test_corrupt_checkpoint_is_refused(graph, trained, tmp_path):
  import shutil
  directory = tmp_path / "copy"
  shutil.copytree(trained[2], directory)
  prefix = directory / f"round-{checkpoints.latest_round(directory)}"
  data = next(directory.glob(f"{prefix.name}.data-*"))
  data.write_bytes(data.read_bytes()[:100])
  with pytest.raises(checkpoints.CheckpointError,
                     match=f"{prefix} cannot be"):
    make_model(graph).fit(graph, verbose=0, checkpoint_dir=str(directory))


@pytest.mark.parametrize("name", ["mlp", "commnet"])
def test_minibatch_classifiers_train_with_the_agreement_term(graph, name):
  options = dataclasses.replace(OPTIONS, max_rounds=1, epochs=4, patience=4,
                                batch_size=8, max_neighbors=3)
  model = make_model(graph, name, options)
  logs = []
  record = keras.callbacks.LambdaCallback(
      on_epoch_end=lambda epoch, epoch_logs: logs.append(dict(epoch_logs)))
  history = model.fit(graph, verbose=0, callbacks=[record])
  assert len(history.rounds) == 2
  assert logs[0]["agreement_loss"] == 0  # round 0: plain classifier
  assert logs[-1]["agreement_loss"] > 0
  assert 0 < history.best.val_scores["accuracy"] <= 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gcn", "mlp"])
def test_a_separate_regularization_pass_differs_only_by_its_dropout(graph,
                                                                     name):
  options = dataclasses.replace(OPTIONS, max_rounds=1, epochs=4, patience=4,
                                batch_size=8)
  separate = dataclasses.replace(options, separate_regularization_pass=True)

  def losses(options, dropout):
    """Round 1's training losses, epoch by epoch."""
    logs = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, epoch_logs: logs.append(
            (epoch_logs["loss"], epoch_logs["agreement_loss"])))
    make_model(graph, name, options, dropout).fit(graph, verbose=0,
                                                  callbacks=[record])
    return np.array(logs[-4:])
  # Without dropout both passes see the same model: the same training.
  np.testing.assert_allclose(losses(separate, 0.0), losses(options, 0.0),
                             rtol=1e-4)
  # With it, the pair nodes get dropout masks of their own.
  assert not np.allclose(losses(separate, 0.5), losses(options, 0.5),
                         rtol=1e-3)


def test_a_label_precision_target_raises_the_confidence_threshold(graph):
  base = dataclasses.replace(OPTIONS, max_rounds=2, min_confidence=0.0)
  plain = make_model(graph, options=base).fit(graph, verbose=0)
  strict = make_model(graph, options=dataclasses.replace(
      base, min_label_precision=0.99)).fit(graph, verbose=0)
  assert plain.rounds[1].label_min_confidence == 0.0
  assert strict.rounds[0].label_min_confidence is None  # no labelling
  threshold = strict.rounds[1].label_min_confidence
  assert threshold is None or threshold > 0.0
  assert strict.rounds[1].new_labels < plain.rounds[1].new_labels


def test_rounds_run_until_no_candidate_is_left(graph):
  """The default cap is only a cap: the loop ends with the first round that
  labels nothing new (here after 60 + 38 of the 98 candidates)."""
  candidates = graph.num_nodes - (graph.train_mask | graph.val_mask
                                  | graph.test_mask).sum()
  assert candidates == 98
  options = dataclasses.replace(
      OPTIONS, max_rounds=CoTrainingOptions().max_rounds,
      num_samples_to_label=60, keep_label_proportions=False)
  history = make_model(graph, options=options).fit(graph, verbose=0)
  assert history.history["new_labels"] == [0, 60, 38, 0]
  assert history.rounds[-1].labelled == 12 + 98
  # With a floor on new labels, the round that adds only 38 is the last.
  short = make_model(graph, options=dataclasses.replace(
      options, min_new_labels=50)).fit(graph, verbose=0)
  assert short.history["new_labels"] == [0, 60, 38]


def test_full_batch_rounds_take_steps_per_epoch_steps_between_validations(
    graph):
  class StepCounter(keras.callbacks.Callback):

    def __init__(self):
      super().__init__()
      self.steps, self.epochs = 0, 0

    def on_train_batch_end(self, batch, logs=None):
      self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
      self.epochs += 1

  counter = StepCounter()
  options = dataclasses.replace(OPTIONS, max_rounds=1, steps_per_epoch=3)
  make_model(graph, options=options).fit(graph, verbose=0,
                                         callbacks=[counter])
  assert counter.epochs >= 2 and counter.steps == 3 * counter.epochs


def test_a_round_callback_hears_every_round_and_can_stop_the_rounds(graph):
  class StopAfterRound1(RoundCallback):

    def __init__(self):
      super().__init__()
      self.begun, self.ended = [], []

    def on_round_begin(self, round_index, logs=None):
      self.begun.append(round_index)

    def on_round_end(self, round_index, logs=None):
      self.ended.append((round_index, logs["new_labels"]))
      if round_index == 1:
        self.model.stop_training = True

  stopper = StopAfterRound1()
  options = dataclasses.replace(OPTIONS, max_rounds=4, epochs=3)
  history = make_model(graph, options=options).fit(graph, verbose=0,
                                                    callbacks=[stopper])
  assert [r.round for r in history.rounds] == [0, 1]
  assert stopper.begun == [0, 1]
  assert stopper.ended == [(0, 0), (1, history.rounds[1].new_labels)]
  assert history.rounds[1].new_labels > 0  # stopped by the callback alone


def test_fit_graph_errors(graph):
  model = GraphAgreementModel(
      node_model_fn=lambda: build_classifier("mlp", graph.num_classes))
  with pytest.raises(RuntimeError, match="compile the model before"):
    model.fit(graph)
  model.compile()
  with pytest.raises(ValueError, match="y must be None"):
    model.fit(graph, graph.labels)
  no_val = graph.replace(val_mask=np.zeros(graph.num_nodes, bool))
  with pytest.raises(ValueError, match="no validation nodes"):
    model.fit(no_val, verbose=0)


def test_constructor_validates_arguments():
  with pytest.raises(ValueError, match="node_model_fn must be"):
    GraphAgreementModel()
  with pytest.raises(ValueError, match="options must be CoTrainingOptions"):
    GraphAgreementModel(node_model_fn=lambda: build_classifier("mlp", 3),
                        options={"max_rounds": 2})
  with pytest.raises(ValueError, match="returned int"):
    GraphAgreementModel(node_model_fn=lambda: 3)
  with pytest.raises(ValueError, match="patience must be >= 1"):
    CoTrainingOptions(patience=0)


def test_always_agree_weights_every_pair_by_one_without_an_agreement_model(
    graph, monkeypatch):
  import gam.graph_agreement_model as module  # pylint: disable=g-import-not-at-top
  built = []
  original_build = module.RegularizationPairs.build

  def spy_build(graph_, labels, options, agreement_fn):
    pairs = original_build(graph_, labels, options, agreement_fn)
    built.append(pairs)
    return pairs

  def no_agreement_training(*args, **kwargs):
    raise AssertionError("the agreement model must not be trained")

  monkeypatch.setattr(module.RegularizationPairs, "build", spy_build)
  monkeypatch.setattr(module, "train_agreement_model", no_agreement_training)
  options = dataclasses.replace(OPTIONS, max_rounds=1, always_agree=True)
  history = make_model(graph, options=options).fit(graph, verbose=0)
  assert len(history.rounds) == 2 and len(built) == 1
  assert history.rounds[1].agreement is None
  weights = {"lu": 1.0, "uu": 0.5}
  assert set(built[0].weights) == set(weights)
  for kind, weight in weights.items():
    np.testing.assert_array_equal(built[0].weights[kind], weight)


@pytest.mark.parametrize("pairs, nodes, shown", [
    (12, 14, "on 12 edges of 14 unseen nodes"),
    (1, 1, "on 1 edge of 1 unseen node")])
def test_progress_line_says_what_the_agreement_was_measured_on(
    pairs, nodes, shown):
  record = _record(1, labelled=140, new_labels=196, new_label_accuracy=0.954,
                   agreement=AgreementRecord(0.75, 0.6, pairs, nodes, 1.0,
                                             0.68),
                   val_scores={"accuracy": 0.804},
                   test_scores={"accuracy": 0.819}, epochs=221,
                   best_epoch=121, seconds=12.34)
  assert progress_line(CoTrainingHistory([record], 0), record, 8) == (
      "Round 1/8 | labelled 140 (+196 new, 95% correct) | agreement 0.7500 "
      f"(balanced 0.6000) {shown} (calls 68% of edges same) | "
      "val 0.8040 | test 0.8190 | epochs 221 (best 121) | 12.3s")


def _record(round_index, **fields):
  defaults = dict(labelled=12, agreement=None, epochs=10, best_epoch=5,
                  classifier_seconds=1.0, label_min_confidence=0.4,
                  new_labels=0, new_label_accuracy=None,
                  labelling_seconds=0.1, seconds=2.0)
  return RoundRecord(round=round_index, **{**defaults, **fields})


def _history(*balanced, nodes=14):
  rounds = [_record(0, val_scores={"accuracy": 0.70},
                    test_scores={"accuracy": 0.80})]
  for r, value in enumerate(balanced, start=1):
    rounds.append(_record(
        r, val_scores={"accuracy": 0.70 + 0.01 * r},
        test_scores={"accuracy": 0.80 + 0.02 * r},
        agreement=None if nodes is None else AgreementRecord(
            None if value is None else 0.8, value,
            0 if value is None else 10, nodes, 1.0)))
  return CoTrainingHistory(rounds=rounds, best_round=len(balanced))


def test_summary_line_states_the_gain_over_round_0():
  assert summary_line(_history(0.9, 0.8)) == (
      "GAM: round 2 of 2 chosen by val accuracy (0.7200): test accuracy "
      "0.8400 vs 0.8000 at round 0 (the plain classifier), +4.0 points")


def test_summary_line_says_when_the_agreement_model_is_no_better_than_chance():
  assert summary_line(_history(0.5, 0.55)).endswith(
      "+4.0 points; the agreement model was no better than chance on unseen "
      "labelled nodes (balanced accuracy <= 0.55 in every round), so its "
      "weights could not tell edges apart")
  assert summary_line(_history(None, None)).endswith(
      "; no labelled edge touched a held-out node, so the agreement model "
      "could not be measured")
  # One round above chance is enough; no agreement model, nothing to say.
  assert summary_line(_history(0.5, 0.7)).endswith("+4.0 points")
  assert summary_line(_history(None, nodes=None)).endswith("+2.0 points")
