"""Per-round records: the flat form written to JSON and checkpoints reads
back to the same records."""

import dataclasses
import json

import pytest

from gam.round_history import AgreementRecord, CoTrainingHistory, RoundRecord


def record(round_index, agreement=None, **scores):
  return RoundRecord(
      round=round_index, labelled=140, agreement=agreement, epochs=30,
      best_epoch=12, classifier_seconds=3.5,
      val_scores={k: v for k, v in scores.items() if k != "test"},
      test_scores={"label_map": scores.get("test")}, label_min_confidence=0.4,
      new_labels=20, new_label_accuracy=0.95, labelling_seconds=0.01,
      seconds=4.0, pairs_seconds=0.25, prediction_seconds=0.125)


HISTORY = CoTrainingHistory([
    record(0, label_map=0.5, precision_at_3=0.6, test=0.45),
    record(1, AgreementRecord(0.75, 0.6, 12, 14, 2.0, 0.8), label_map=0.55,
           precision_at_3=0.62, test=None)], best_round=1,
                            score_name="label_map")


def test_the_flat_form_reads_back_to_the_same_records():
  flat = json.loads(json.dumps(HISTORY.to_dict()))
  assert CoTrainingHistory.from_dict(flat) == HISTORY
  first = flat["rounds"][0]
  assert first["agreement_held_out_nodes"] is None  # no agreement model
  assert first["agreement_seconds"] == 0.0 and first["edge_agreement"] is None
  assert flat["rounds"][1]["agreement_balanced_accuracy"] == 0.6
  assert first["val_precision_at_3"] == 0.6
  assert flat["rounds"][1]["test_label_map"] is None


def test_every_phase_time_is_written_flat():
  first = HISTORY.to_dict()["rounds"][0]
  assert (first["pairs_seconds"], first["classifier_seconds"],
          first["prediction_seconds"], first["labelling_seconds"]) == (
              0.25, 3.5, 0.125, 0.01)
  assert HISTORY.history["prediction_seconds"] == [0.125, 0.125]


def test_a_history_written_before_the_phase_times_still_loads():
  flat = json.loads(json.dumps(HISTORY.to_dict()))
  for written in flat["rounds"]:
    del written["pairs_seconds"], written["prediction_seconds"]
  old = CoTrainingHistory.from_dict(flat)
  # Not measured then: None, not a made-up 0.
  assert [(r.pairs_seconds, r.prediction_seconds) for r in old.rounds] == [
      (None, None), (None, None)]
  assert old.rounds == [dataclasses.replace(
      r, pairs_seconds=None, prediction_seconds=None) for r in HISTORY.rounds]
  assert old.history["pairs_seconds"] == [None, None]
  # Fields that every history has are still required.
  del flat["rounds"][0]["classifier_seconds"]
  with pytest.raises(KeyError, match="classifier_seconds"):
    CoTrainingHistory.from_dict(flat)


def test_history_lists_a_key_over_rounds_and_scores_by_its_kind():
  assert HISTORY.history["val_label_map"] == [0.5, 0.55]
  assert HISTORY.history["edge_agreement"] == [None, 0.8]
  assert HISTORY.score(HISTORY.best, "val") == 0.55
  assert HISTORY.score(HISTORY.rounds[0], "test") == 0.45


def test_best_needs_a_finished_round():
  with pytest.raises(ValueError, match="no round has finished yet"):
    CoTrainingHistory().best
