"""What a GAM run reports as it goes: a line per round, the closing summary,
and the rounds' numbers for TensorBoard.

Lines go where Keras writes its own progress (`report`): stdout, or the
`gam` logger once `keras.config.disable_interactive_logging()` is set.
"""

from __future__ import annotations

import logging
from typing import Sequence

import keras
import tensorflow as tf

from gam.round_history import CoTrainingHistory, RoundRecord

_LOGGER = logging.getLogger("gam")


def log_round(writer, record: RoundRecord) -> None:
  """Writes a round's numbers at its step; flushed at once, so that an
  interrupted run keeps the rounds its checkpoints keep."""
  with writer.as_default(step=record.round):
    for key, value in record.to_dict().items():
      if value is not None and (key.startswith(("val_", "test_")) or key in (
          "agreement_accuracy", "labelled", "new_label_accuracy", "seconds")):
        tf.summary.scalar(key, float(value))
  writer.flush()


def report(message: str) -> None:
  """A progress line, where Keras writes its own: to stdout, or to the
  `gam` logger once `keras.config.disable_interactive_logging()` routes
  Keras' output to logging (as on servers and in log collectors)."""
  if keras.config.is_interactive_logging_enabled():
    print(message, flush=True)
  else:
    _LOGGER.info(message)


def _format(value) -> str:
  return "n/a" if value is None else f"{value:.4f}"


def summary_line(history: CoTrainingHistory) -> str:
  """Round 0 against the round validation chose, and the gain."""
  score = history.score_name
  first, chosen = history.rounds[0], history.best
  first_test, chosen_test = (history.score(first, "test"),
                             history.score(chosen, "test"))
  line = (f"GAM: round {history.best_round} of {len(history.rounds) - 1} "
          f"chosen by val {score} ({_format(history.score(chosen, 'val'))}):"
          f" test {score} {_format(chosen_test)} vs {_format(first_test)} at "
          "round 0 (the plain classifier)")
  if chosen_test is not None and first_test is not None:
    line += f", {100 * (chosen_test - first_test):+.1f} points"
  return line + _agreement_note(history.rounds[1:])


# Balanced accuracy up to which the agreement model counts as no better than
# chance (0.5) on the few held-out edges a round usually has.
CHANCE_BALANCED_ACCURACY = 0.55


def _agreement_note(rounds: Sequence[RoundRecord]) -> str:
  """Why GAM may not have helped: an agreement model that could not be
  measured, or that was no better than chance, in every GAM round."""
  if not rounds or any(r.agreement is None for r in rounds):
    return ""  # no agreement model (always_agree)
  measured = [r.agreement.balanced_accuracy for r in rounds
              if r.agreement.balanced_accuracy is not None]
  if not measured:
    return ("; no labelled edge touched a held-out node, so the agreement "
            "model could not be measured")
  if max(measured) <= CHANCE_BALANCED_ACCURACY:
    return (f"; the agreement model was no better than chance on unseen "
            f"labelled nodes (balanced accuracy <= {max(measured):.2f} in "
            "every round), so its weights could not tell edges apart")
  return ""


def _plural(count: int, noun: str) -> str:
  return f"{count} {noun}{'s' * (count != 1)}"


def progress_line(history: CoTrainingHistory, record: RoundRecord,
                   max_rounds: int) -> str:
  parts = [f"Round {record.round}/{max_rounds}",
           f"labelled {record.labelled}"]
  if record.new_labels:
    accuracy = record.new_label_accuracy
    parts[-1] += (f" (+{record.new_labels} new" + (
        f", {accuracy:.0%} correct)" if accuracy is not None else ")"))
  agreement = record.agreement
  if agreement is not None and agreement.accuracy is not None:
    # Measured on the labelled edges that touch held-out labelled nodes, so
    # the counts say how much the numbers are worth.
    parts.append(
        f"agreement {_format(agreement.accuracy)} (balanced "
        f"{_format(agreement.balanced_accuracy)}) on "
        f"{_plural(agreement.held_out_pairs, 'edge')} of "
        f"{_plural(agreement.held_out_nodes, 'unseen node')}")
    if agreement.edge_agreement is not None:
      parts[-1] += f" (calls {agreement.edge_agreement:.0%} of edges same)"
  score = history.score_name
  name = "" if score == "accuracy" else f" {score}"
  parts += [f"val{name} {_format(history.score(record, 'val'))}",
            f"test{name} {_format(history.score(record, 'test'))}",
            f"epochs {record.epochs} (best {record.best_epoch})",
            f"{record.seconds:.1f}s"]
  return " | ".join(parts)
