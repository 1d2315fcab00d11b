"""What each GAM round did: typed per-round records and the run's history.

A round's record is written flat (`RoundRecord.to_dict`) in `results.json`,
`gam_history.json` and the checkpoints, one key per number, so that
`CoTrainingHistory.history[key]` lists a number over rounds as a Keras
`History` does.

Example:
  >>> history = model.fit(graph)
  >>> history.best.test_scores["accuracy"], history.rounds[0].new_labels
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Dict, List, Mapping, Optional

# Split scores are keyed `<split>_<score>` in the flat form.
SPLITS = ("val", "test")


def _agreement_key(field: str) -> str:
  """The flat key of an `AgreementRecord` field."""
  return field if field == "edge_agreement" else f"agreement_{field}"


def _measured(value: float) -> Optional[float]:
  """None for NaN (nothing was measured), for the JSON history."""
  return None if math.isnan(value) else float(value)


@dataclasses.dataclass(frozen=True)
class AgreementRecord:
  """The round's agreement model, measured on the labelled edges that touch
  its held-out labelled nodes (`accuracy` and `balanced_accuracy` None when
  no edge did); `edge_agreement` is the share of the regularised pairs it
  called "same label" (None when there were none)."""
  accuracy: Optional[float]
  balanced_accuracy: Optional[float]
  held_out_pairs: int
  held_out_nodes: int
  seconds: float
  edge_agreement: Optional[float] = None

  @classmethod
  def from_training(cls, result, edge_agreement: Optional[float]
                    ) -> "AgreementRecord":
    """From an `AgreementTrainingResult`."""
    return cls(_measured(result.held_out_accuracy),
               _measured(result.held_out_balanced_accuracy),
               result.num_held_out_pairs, result.num_held_out_nodes,
               result.train_seconds, edge_agreement)


@dataclasses.dataclass(frozen=True)
class RoundRecord:
  """One round of `GraphAgreementModel.fit(graph)`.

  Attributes:
    round: 0 for the plain classifier, then 1, 2, ...
    labelled: labels the round's classifier trained on.
    agreement: the round's agreement model; None in round 0 and with
      `always_agree`.
    epochs: classifier epochs run; best_epoch: the one kept (from 1).
    classifier_seconds: time of the classifier's training.
    val_scores / test_scores: `label_tasks.split_scores` of the split
      (`{"accuracy": ...}` single-label); the score is None for a split
      without nodes.
    label_min_confidence: the confidence new labels needed (None: the
      round labelled nothing by design).
    new_labels: labels added after the round.
    new_label_accuracy: share of them that match the graph's labels where it
      has them (a diagnostic, never used for training); None if none known.
    labelling_seconds / seconds: time of the labelling, of the whole round.
    pairs_seconds: time to build the round's regularised pairs (the graph's
      edges split into LL / LU / UU) and to score the LU and UU ones with
      the agreement model; 0 in round 0, which has none.
    prediction_seconds: time to predict every node's class probabilities
      (which the split scores and the labelling read).
    Both are None in records written before they were measured.
  """
  round: int
  labelled: int
  agreement: Optional[AgreementRecord]
  epochs: int
  best_epoch: int
  classifier_seconds: float
  val_scores: Mapping[str, Optional[float]]
  test_scores: Mapping[str, Optional[float]]
  label_min_confidence: Optional[float]
  new_labels: int
  new_label_accuracy: Optional[float]
  labelling_seconds: float
  seconds: float
  # Last, with defaults: histories and checkpoints written before these were
  # measured lack them and still load (`from_dict`).
  pairs_seconds: Optional[float] = None
  prediction_seconds: Optional[float] = None

  def scores(self, split: str) -> Mapping[str, Optional[float]]:
    """`val_scores` or `test_scores` by split name."""
    return {"val": self.val_scores, "test": self.test_scores}[split]

  def to_dict(self) -> Dict[str, Any]:
    """The flat form: `agreement_<field>` and `<split>_<score>` keys."""
    flat = {"round": self.round, "labelled": self.labelled}
    agreement = self.agreement or AgreementRecord(None, None, 0, None, 0.0)
    for field in dataclasses.fields(AgreementRecord):
      flat[_agreement_key(field.name)] = getattr(agreement, field.name)
    flat.update(epochs=self.epochs, best_epoch=self.best_epoch,
                pairs_seconds=self.pairs_seconds,
                classifier_seconds=self.classifier_seconds,
                prediction_seconds=self.prediction_seconds)
    for split in SPLITS:
      flat.update({f"{split}_{name}": value
                   for name, value in self.scores(split).items()})
    flat.update({name: getattr(self, name) for name in (
        "label_min_confidence", "new_labels", "new_label_accuracy",
        "labelling_seconds", "seconds")})
    return flat

  @classmethod
  def from_dict(cls, flat: Mapping[str, Any]) -> "RoundRecord":
    """Reads `to_dict`'s form back."""
    agreement = None
    if flat["agreement_held_out_nodes"] is not None:
      agreement = AgreementRecord(**{
          field.name: flat[_agreement_key(field.name)]
          for field in dataclasses.fields(AgreementRecord)})
    scores = {split: {key[len(split) + 1:]: value
                      for key, value in flat.items()
                      if key.startswith(split + "_")} for split in SPLITS}
    # A field with a default may be missing: it was added after the record
    # was written.
    plain = {field.name: flat[field.name]
             for field in dataclasses.fields(cls)
             if field.name not in ("agreement", "val_scores", "test_scores")
             and (field.name in flat
                  or field.default is dataclasses.MISSING)}
    return cls(agreement=agreement, val_scores=scores["val"],
               test_scores=scores["test"], **plain)


@dataclasses.dataclass
class CoTrainingHistory:
  """The rounds of a GAM run and the one it keeps.

  `best_round` is the round with the best validation `score_name`
  (`accuracy`, or `label_map` for multi-label graphs); `history[key]` lists a
  key of the flat records over rounds, like a Keras `History`.
  """
  rounds: List[RoundRecord] = dataclasses.field(default_factory=list)
  best_round: Optional[int] = None
  score_name: str = "accuracy"

  @property
  def history(self) -> Dict[str, list]:
    flat = [record.to_dict() for record in self.rounds]
    keys = flat[0].keys() if flat else ()
    return {key: [record.get(key) for record in flat] for key in keys}

  @property
  def best(self) -> RoundRecord:
    if self.best_round is None:
      raise ValueError("no round has finished yet")
    return self.rounds[self.best_round]

  def score(self, record: RoundRecord, split: str) -> Optional[float]:
    """`record`'s score of the run's kind on `split`."""
    return record.scores(split).get(self.score_name)

  def to_dict(self) -> Dict[str, Any]:
    return {"rounds": [record.to_dict() for record in self.rounds],
            "best_round": self.best_round, "score_name": self.score_name}

  @classmethod
  def from_dict(cls, values: Mapping[str, Any]) -> "CoTrainingHistory":
    return cls([RoundRecord.from_dict(r) for r in values["rounds"]],
               values["best_round"], values.get("score_name", "accuracy"))

  def save_json(self, path: str) -> None:
    with open(path, "w") as f:
      json.dump(self.to_dict(), f, indent=1)
