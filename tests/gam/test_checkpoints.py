"""Round checkpoints: round trip, inside a round, rotation, and refusing
what is not ours."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from gam import checkpoints
from gam.agreement import AgreementModel
from gam.checkpoints import (CheckpointError, InRoundState, RoundCheckpoints,
                             RoundState, latest_round)
from gam.round_history import AgreementRecord, CoTrainingHistory, RoundRecord

FINGERPRINT = {"graph": {"name": "toy", "nodes": 5},
               "options": {"seed": 3, "rounds": 4},
               "models": ["mlp", [32, 16]]}
LABELS = np.array([0, 1, -1, -1, 2])


def model(width=4, seed=0):
  keras.utils.set_random_seed(seed)
  network = keras.Sequential([keras.layers.Dense(width),
                              keras.layers.Dropout(0.5, seed=seed),
                              keras.layers.Dense(3)])
  network.build((None, 2))
  return network


def parts(width=4, seed=0):
  """A node model, an agreement model and a built optimizer."""
  node = model(width, seed)
  # Its encoder layers are kept in a list, which tf.train.Checkpoint's
  # object graph does not see.
  agreement = AgreementModel(hidden_units=(width, 3), dropout=0.5)
  agreement.build({"left": (None, 2), "right": (None, 2)})
  optimizer = keras.optimizers.Adam()
  optimizer.build(node.trainable_variables)
  return node, agreement, optimizer


def train_step(node, optimizer):
  """One step that moves the weights, the optimizer and the dropout seed."""
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(node(tf.ones((2, 2)), training=True))
  optimizer.apply(tape.gradient(loss, node.trainable_variables),
                  node.trainable_variables)


def history(rounds):
  return CoTrainingHistory([
      RoundRecord(round=r, labelled=2 + r, agreement=None, epochs=3,
                  best_epoch=1, classifier_seconds=0.5,
                  val_scores={"accuracy": 0.5 + r / 10},
                  test_scores={"accuracy": 0.4}, label_min_confidence=None,
                  new_labels=1, new_label_accuracy=1.0,
                  labelling_seconds=0.0, seconds=1.0)
      for r in range(rounds)], best_round=rounds - 1, score_name="accuracy")


def state_after(round_index, node, agreement, finished=False):
  labels = LABELS.copy()
  labels[2] = round_index % 3
  return RoundState(
      next_round=round_index + 1, finished=finished, labels=labels,
      history=history(round_index + 1),
      best_node=[v.numpy() * 2 for v in node.variables],
      best_agreement=[v.numpy() for v in agreement.variables])


def saver(directory, node, agreement, optimizer, fingerprint=FINGERPRINT,
          keep=2):
  return RoundCheckpoints(directory, node, agreement, optimizer, LABELS,
                          fingerprint, keep=keep)


def values(variables):
  return [v.numpy() for v in variables]


def test_round_trip_restores_models_optimizer_rng_and_state(tmp_path):
  node, agreement, optimizer = parts()
  train_step(node, optimizer)
  state = state_after(1, node, agreement, finished=True)
  saver(tmp_path, node, agreement, optimizer).save(state)

  fresh = parts(seed=7)
  restored = saver(tmp_path, *fresh).restore()
  for before, after in ((node, fresh[0]), (agreement, fresh[1]),
                        (optimizer, fresh[2])):
    for a, b in zip(values(before.variables), values(after.variables)):
      np.testing.assert_array_equal(a, b)
  # The dropout seed state is among them: the next step draws the same.
  assert any("seed_generator" in v.path for v in fresh[0].variables)
  assert int(fresh[2].iterations.numpy()) == 1
  assert restored.next_round == 2 and restored.finished
  np.testing.assert_array_equal(restored.labels, state.labels)
  assert restored.history == state.history
  for a, b in zip(restored.best_node + restored.best_agreement,
                  state.best_node + state.best_agreement):
    np.testing.assert_array_equal(a, b)


class HistoryBeforePhaseTimes(CoTrainingHistory):
  """Writes its rounds as checkpoints did before `pairs_seconds` and
  `prediction_seconds` were measured."""

  def to_dict(self):
    values = super().to_dict()
    for record in values["rounds"]:
      del record["pairs_seconds"], record["prediction_seconds"]
    return values


def test_checkpoint_written_before_the_phase_times_restores(tmp_path):
  node, agreement, optimizer = parts()
  state = state_after(1, node, agreement)
  old = HistoryBeforePhaseTimes(state.history.rounds, state.history.best_round)
  saver(tmp_path, node, agreement, optimizer).save(
      dataclasses.replace(state, history=old))
  restored = saver(tmp_path, *parts(seed=7)).restore()
  assert restored.history == state.history
  assert restored.history.rounds[1].prediction_seconds is None


def test_in_round_checkpoint_restores_the_round_it_was_written_in(tmp_path):
  node, agreement, optimizer = parts()
  rounds = saver(tmp_path, node, agreement, optimizer)
  rounds.save(state_after(0, node, agreement))
  train_step(node, optimizer)
  record = AgreementRecord(accuracy=0.75, balanced_accuracy=None,
                           held_out_pairs=4, held_out_nodes=2, seconds=1.5)
  rounds.save_in_round(InRoundState(1, record))
  assert latest_round(tmp_path) == 0  # the round checkpoints are unchanged

  fresh = parts(seed=7)
  restoring = saver(tmp_path, *fresh)
  assert restoring.restore().next_round == 1
  assert restoring.restore_in_round(2) is None  # not the round written
  assert restoring.restore_in_round(1) == InRoundState(1, record)
  for before, after in ((node, fresh[0]), (agreement, fresh[1]),
                        (optimizer, fresh[2])):
    for a, b in zip(values(before.variables), values(after.variables)):
      np.testing.assert_array_equal(a, b)


def test_latest_is_the_newest_round_and_only_keep_rounds_remain(tmp_path):
  node, agreement, optimizer = parts()
  rounds = saver(tmp_path, node, agreement, optimizer, keep=2)
  for r in range(4):
    rounds.save(state_after(r, node, agreement))
  assert latest_round(tmp_path) == 3
  assert sorted(p.name.split(".")[0] for p in tmp_path.glob("round-*.index")
                ) == ["round-2", "round-3"]
  assert saver(tmp_path, *parts()).restore().next_round == 4


def test_nothing_to_restore_is_none(tmp_path):
  assert latest_round(tmp_path / "missing") is None
  assert saver(tmp_path, *parts()).restore() is None


@pytest.mark.parametrize("fingerprint, message", [
    ({**FINGERPRINT, "options": {"seed": 4, "rounds": 4}},
     r"options\.seed: checkpoint has 3, this run has 4"),
    ({**FINGERPRINT, "graph": {"name": "toy"}},
     r"graph\.nodes: checkpoint has 5, this run has None"),
    ({**FINGERPRINT, "models": ("mlp", (32, 16))}, None),  # same as JSON
])
def test_another_runs_checkpoint_is_refused_naming_the_field(
    tmp_path, fingerprint, message):
  node, agreement, optimizer = parts()
  saver(tmp_path, node, agreement, optimizer).save(
      state_after(0, node, agreement))
  other = saver(tmp_path, *parts(), fingerprint=fingerprint)
  if message is None:
    assert other.restore().next_round == 1
    return
  with pytest.raises(CheckpointError, match="written by a different run.*"
                     + message):
    other.restore()


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_checkpoint_is_refused_naming_it(tmp_path, damage):
  node, agreement, optimizer = parts()
  saver(tmp_path, node, agreement, optimizer).save(
      state_after(0, node, agreement))
  data = next(tmp_path.glob("round-0.data-*"))
  content = bytearray(data.read_bytes())
  if damage == "truncate":
    content = content[:len(content) // 2]
  else:
    content[len(content) // 3] ^= 0xFF
  data.write_bytes(bytes(content))
  with pytest.raises(CheckpointError, match=f"{tmp_path / 'round-0'} cannot "
                                            "be (read|restored)"):
    saver(tmp_path, *parts()).restore()


@pytest.mark.parametrize("listing, damage", [
    ("checkpoint", lambda text: b"\x9e" + text[1:]),   # not UTF-8
    ("checkpoint", lambda text: b""),                   # truncated
    ("checkpoint", lambda text: text.replace(b"round-0", b"round-7")),
    ("in_round/checkpoint", lambda text: text[:len(text) // 3]),
])
def test_a_damaged_listing_is_refused_not_taken_for_a_fresh_start(
    tmp_path, listing, damage):
  node, agreement, optimizer = parts()
  rounds = saver(tmp_path, node, agreement, optimizer)
  rounds.save(state_after(0, node, agreement))
  rounds.save_in_round(InRoundState(1, None))
  path = tmp_path / listing
  path.write_bytes(damage(path.read_bytes()))
  with pytest.raises(CheckpointError, match=f"^{path} is damaged"):
    saver(tmp_path, *parts()).restore()


def test_models_of_another_shape_are_refused(tmp_path):
  node, agreement, optimizer = parts()
  saver(tmp_path, node, agreement, optimizer).save(
      state_after(0, node, agreement))
  with pytest.raises(CheckpointError, match="cannot be restored"):
    saver(tmp_path, *parts(width=5)).restore()


def test_a_checkpoint_of_another_format_is_refused(tmp_path, monkeypatch):
  node, agreement, optimizer = parts()
  monkeypatch.setattr(checkpoints, "FORMAT_VERSION", 1)
  saver(tmp_path, node, agreement, optimizer).save(
      state_after(0, node, agreement))
  monkeypatch.undo()
  with pytest.raises(CheckpointError, match="unknown checkpoint format"):
    saver(tmp_path, *parts()).restore()


def test_a_write_killed_midway_leaves_the_previous_round(tmp_path):
  node, agreement, optimizer = parts()
  saver(tmp_path, node, agreement, optimizer).save(
      state_after(0, node, agreement))
  # What a process killed inside TF's write leaves: a temporary folder of
  # the next round, never listed in `checkpoint`.
  (tmp_path / "round-1_temp").mkdir()
  (tmp_path / "round-1_temp" / "part-00000-of-00001.data-00000-of-00001"
   ).write_bytes(b"half")
  assert latest_round(tmp_path) == 0
  assert saver(tmp_path, *parts()).restore().next_round == 1
