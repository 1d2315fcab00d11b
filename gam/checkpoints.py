"""Round checkpoints of the GAM co-training loop, on `tf.train.Checkpoint`.

After every round, `RoundCheckpoints.save` writes one TensorFlow checkpoint
(`<dir>/round-<r>.index` and `.data-*`, listed in `<dir>/checkpoint` by
`tf.train.CheckpointManager`) holding, by object name:

* `node`, `agreement`: every variable of the classifier and of the
  agreement model (`model.variables`, their dropout seed states included,
  so that a resumed run draws as an uninterrupted one), as they are at the
  end of the round, listed in the model's own order. Not the models
  themselves: Keras 3 layers kept in Python lists (an encoder's layers) are
  not in `tf.train.Checkpoint`'s object graph, and their variables would
  silently not be saved. The fingerprint below guarantees the same
  architecture, and TensorFlow checks every shape;
* `optimizer`: the optimizer;
* `best_node`, `best_agreement`: the variables of the best round so far;
* `labels`: the label table the rounds have grown;
* `state`: JSON of the round, whether the loop has finished, the per-round
  history and the run's fingerprint (graph, options, model configs).

Inside a round, once its agreement model has trained, `save_in_round`
writes the same objects to `<dir>/in_round/` (the newest only), its `state`
naming the round and the agreement model's record: a run killed while the
classifier trains then resumes there, not at the round's start.

The manager writes atomically and keeps the newest `keep` rounds. Restoring
reads `state` first and refuses a checkpoint of another run, naming what
differs; TensorFlow's checksums refuse damaged files, and the error names
the checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from gam.round_history import AgreementRecord, CoTrainingHistory
from graph_models.errors import InputError

FORMAT_VERSION = 3
PREFIX = "round"
IN_ROUND = "in_round"
_STATE_KEY = "state/.ATTRIBUTES/VARIABLE_VALUE"


class CheckpointError(InputError):
  """A checkpoint is corrupt, incomplete or belongs to another run."""


@dataclasses.dataclass
class RoundState:
  """Where the loop stands after a round: what a checkpoint restores."""
  next_round: int
  finished: bool
  labels: np.ndarray
  history: CoTrainingHistory
  best_node: List[np.ndarray]
  best_agreement: List[np.ndarray]


@dataclasses.dataclass(frozen=True)
class InRoundState:
  """A round checkpointed after its agreement model trained."""
  round: int
  agreement: Optional[AgreementRecord]


def _latest(directory: str) -> Optional[str]:
  """The newest checkpoint `directory`'s listing names; None without one.

  TensorFlow only logs a warning when the listing is unreadable or names
  files that are gone, and would then start the run afresh over it."""
  listing = os.path.join(directory, "checkpoint")
  if not os.path.exists(listing):
    return None
  try:
    state = tf.train.get_checkpoint_state(directory)
  except (tf.errors.OpError, UnicodeDecodeError, ValueError) as error:
    raise CheckpointError(f"{listing} is damaged: {error}") from None
  path = state.model_checkpoint_path if state else ""
  if not path or not tf.io.gfile.exists(path + ".index"):
    saved = sorted(p.rsplit(".", 1)[0] for p in os.listdir(directory)
                   if p.endswith(".index"))
    raise CheckpointError(
        f"{listing} is damaged or names no saved round ({path!r}); the "
        f"rounds saved here are {saved or 'none'}: delete {listing} to start "
        "afresh, or mend it")
  return path


def latest_round(directory: os.PathLike) -> Optional[int]:
  """The newest round checkpointed in `directory`, or None."""
  path = tf.train.latest_checkpoint(os.fspath(directory))
  return None if path is None else _round_of(path)


def _round_of(path: str) -> int:
  return int(path.rsplit("-", 1)[1])


def _copies(variables: Sequence[tf.Variable]) -> List[tf.Variable]:
  return [tf.Variable(v.numpy(), trainable=False) for v in variables]


def _assign(targets: Sequence[tf.Variable], values: Sequence[Any]) -> None:
  for target, value in zip(targets, values):
    target.assign(value)


def _differences(expected: Any, found: Any, path: str = "") -> List[str]:
  """Where two JSON values differ, as `field: checkpoint has ..., this run
  has ...` lines."""
  if isinstance(expected, dict) and isinstance(found, dict):
    out = []
    for key in sorted(set(expected) | set(found)):
      out += _differences(expected.get(key), found.get(key),
                          f"{path}.{key}" if path else key)
    return out
  return [] if expected == found else [f"{path}: checkpoint has {found!r}, "
                                       f"this run has {expected!r}"]


class RoundCheckpoints:
  """Saves and restores the GAM loop's rounds in `directory` (saves go to
  `write_directory` instead when one is given).

  Example:
    >>> saver = RoundCheckpoints("runs/gam", node_model, agreement_model,
    ...                          optimizer, graph.labels, fingerprint)
    >>> state = saver.restore()  # None when there is nothing to resume
    >>> saver.save(state)        # after every round
  """

  def __init__(self, directory: os.PathLike, node_model: keras.Model,
               agreement_model: keras.Model,
               optimizer: keras.optimizers.Optimizer, labels: np.ndarray,
               fingerprint: Dict[str, Any], keep: int = 2,
               write_directory: Optional[os.PathLike] = None):
    self._directory = os.fspath(directory)
    self._fingerprint = json.loads(json.dumps(fingerprint))
    self._best = {"node": _copies(node_model.variables),
                  "agreement": _copies(agreement_model.variables)}
    self._labels = tf.Variable(np.asarray(labels, np.int64), trainable=False)
    self._state = tf.Variable("", dtype=tf.string, trainable=False)
    self._checkpoint = tf.train.Checkpoint(
        node=list(node_model.variables),
        agreement=list(agreement_model.variables), optimizer=optimizer,
        best_node=self._best["node"], best_agreement=self._best["agreement"],
        labels=self._labels, state=self._state)
    # A multi-worker run's other workers write elsewhere
    # (`distribution.write_dir`) and restore the chief's rounds.
    write_directory = os.fspath(write_directory or directory)
    for listed in (write_directory, os.path.join(write_directory, IN_ROUND)):
      _latest(listed)  # the managers below read the listings too
    self._manager = tf.train.CheckpointManager(
        self._checkpoint, write_directory, max_to_keep=keep,
        checkpoint_name=PREFIX)
    self._in_round = tf.train.CheckpointManager(
        self._checkpoint, os.path.join(write_directory, IN_ROUND),
        max_to_keep=1, checkpoint_name=PREFIX)

  def _state_json(self, **fields) -> str:
    return json.dumps({"format_version": FORMAT_VERSION,
                       "fingerprint": self._fingerprint, **fields})

  def save(self, state: RoundState) -> str:
    """Writes the round before `state.next_round`; returns its path."""
    _assign(self._best["node"], state.best_node)
    _assign(self._best["agreement"], state.best_agreement)
    self._labels.assign(state.labels.astype(np.int64))
    self._state.assign(self._state_json(
        finished=state.finished, history=state.history.to_dict()))
    return self._manager.save(checkpoint_number=state.next_round - 1)

  def save_in_round(self, in_round: InRoundState) -> str:
    """Writes the models, optimizer and RNG as they are inside a round."""
    agreement = in_round.agreement
    self._state.assign(self._state_json(
        round=in_round.round, agreement=None if agreement is None
        else dataclasses.asdict(agreement)))
    return self._in_round.save(checkpoint_number=in_round.round)

  def restore_in_round(self, round_index: int) -> Optional[InRoundState]:
    """Round `round_index` as `save_in_round` wrote it, with the models,
    the optimizer and the RNG restored; None if it was not written."""
    path = _latest(os.path.join(self._directory, IN_ROUND))
    if path is None or _round_of(path) != round_index:
      return None
    agreement = self._read_state(path)["agreement"]
    self._read(path)
    return InRoundState(round_index, None if agreement is None
                        else AgreementRecord(**agreement))

  def restore(self) -> Optional[RoundState]:
    """The latest round's state, with the models and the optimizer restored;
    None when `directory` holds no checkpoint.

    Raises:
      CheckpointError: the checkpoint is damaged, of another format, or of
        a run with another fingerprint.
    """
    path = _latest(self._directory)
    if path is None:
      return None
    state = self._read_state(path)
    self._read(path)
    labels = self._labels.numpy()
    return RoundState(
        next_round=_round_of(path) + 1,
        finished=bool(state["finished"]), labels=labels,
        history=CoTrainingHistory.from_dict(state["history"]),
        best_node=[v.numpy() for v in self._best["node"]],
        best_agreement=[v.numpy() for v in self._best["agreement"]])

  def _read(self, path: str) -> None:
    try:
      self._checkpoint.read(path).assert_existing_objects_matched()
    # A damaged file fails in TF's reader with OpError (DataLossError) or,
    # when truncated, IndexError (as in `_read_state`); a variable the
    # checkpoint lacks or holds in another shape with AssertionError or
    # ValueError.
    except (tf.errors.OpError, AssertionError, IndexError, ValueError
            ) as error:
      raise CheckpointError(f"{path} cannot be restored: {error}") from None

  def _read_state(self, path: str) -> Dict[str, Any]:
    """The checkpoint's JSON state, checked against this run."""
    try:
      raw = tf.train.load_checkpoint(path).get_tensor(_STATE_KEY)
      state = json.loads(raw)
    except (tf.errors.OpError, IndexError, ValueError,
            UnicodeDecodeError) as error:
      raise CheckpointError(f"{path} cannot be read: {error}") from None
    if not isinstance(state, dict) or state.get(
        "format_version") != FORMAT_VERSION:
      raise CheckpointError(f"{path}: unknown checkpoint format (expected "
                            f"format_version {FORMAT_VERSION})")
    found = _differences(self._fingerprint, state.get("fingerprint"))
    if found:
      raise CheckpointError(
          f"{path} was written by a different run; use another checkpoint "
          f"directory or delete it. Differences: " + "; ".join(found[:5]))
    return state
