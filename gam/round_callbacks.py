"""`RoundCallback`: Keras callbacks that also hear about GAM's rounds.

`GraphAgreementModel.fit(graph, callbacks=[...])` hands its callbacks to the
Keras `fit` of every round's classifier, so the usual epoch and batch hooks
apply inside a round. Around each round it also calls the callbacks'
`on_round_begin(round, logs)` and `on_round_end(round, logs)` where they
have them (`logs` of `on_round_end`: the round's `RoundRecord.to_dict()`).
Setting `self.model.stop_training = True` in `on_round_end` ends the rounds
there; the best round so far is kept as usual.

Example:
  >>> class StopAfter(RoundCallback):
  ...   def on_round_end(self, round_index, logs=None):
  ...     if round_index >= 2:
  ...       self.model.stop_training = True
  >>> model.fit(graph, callbacks=[StopAfter()])
"""

from typing import Any, Dict, Optional

import keras


class RoundCallback(keras.callbacks.Callback):
  """A Keras callback with GAM round hooks (module docstring)."""

  def on_round_begin(self, round_index: int,
                     logs: Optional[Dict[str, Any]] = None) -> None:
    """Called before round `round_index` starts."""

  def on_round_end(self, round_index: int,
                   logs: Optional[Dict[str, Any]] = None) -> None:
    """Called after round `round_index`, with its record as `logs`."""
