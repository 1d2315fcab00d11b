"""Options of GAM's co-training loop."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Optional

from gam.agreement import AgreementTrainingOptions
from gam.agreement_regularization import AgreementRegularization


@dataclasses.dataclass(frozen=True)
class CoTrainingOptions:
  """How `GraphAgreementModel.fit(graph)` runs its rounds.

  The defaults are generic. `gam.gam_protocol(name, model).cotraining`
  holds the settings measured per classifier, which `gam-train` starts
  from (its GAM options override single points, through `with_changes`).

  Attributes:
    max_rounds: most GAM rounds after round 0 (the plain classifier); the
      loop ends earlier when a round labels fewer than `min_new_labels`
      nodes, so the default cap lets it run to exhaustion, as the reference
      code does.
    min_new_labels: a round that labels fewer new nodes than this is the
      last; 1 (the reference's) runs until a round labels nothing, more
      skips the tail of rounds that each retrain everything for a handful
      of (mostly wrong) labels.
    epochs: most classifier epochs per round (full batch: optimiser steps).
    patience: epochs without a better validation accuracy before a round's
      classifier stops; the best epoch's weights are kept.
    steps_per_epoch: training steps between validations (default: one pass
      over the labelled nodes; 1 for full-batch models, whose every step sees
      all of them with newly sampled pairs). Raising it for a full-batch
      model validates less often, as the reference code's every 5 steps.
    batch_size: labelled nodes per mini-batch step (packed models).
    max_neighbors: neighbours packed per node for packed models that use
      edges.
    num_samples_to_label: most new labels per round.
    min_confidence: smallest predicted probability a new label may have.
    min_label_precision: if set, each round also raises `min_confidence` to
      the threshold at which the classifier's validation predictions are
      right at least this often (`self_labeling.confidence_for_precision`),
      and labels nothing when none is; the rounds then end when the
      classifier's confident predictions stop being trustworthy.
    keep_label_proportions: split new labels across classes in the
      proportions of the original labels.
    warm_start: continue the classifier (and its optimizer) from the previous
      round instead of re-initialising it, as the reference's
      `warm_start_cls`.
    regularization: pairs and weights of the agreement term.
    separate_regularization_pass: compute the pair nodes' predictions in a
      forward pass of their own (its own dropout masks), as the reference
      does, instead of in the supervised pass; costs a second pass.
    always_agree: skip the agreement model and weight every pair by 1, i.e.
      plain graph regularisation over the same pairs (the reference's
      `always_agree` ablation).
    agreement: how the agreement model is trained each round.
    seed: seeds every round (initialisation, dropout, sampling).
  """
  max_rounds: int = 100
  min_new_labels: int = 1
  epochs: int = 300
  patience: int = 100
  steps_per_epoch: Optional[int] = None
  batch_size: int = 128
  max_neighbors: int = 5
  num_samples_to_label: int = 200
  min_confidence: float = 0.0
  min_label_precision: Optional[float] = None
  keep_label_proportions: bool = True
  warm_start: bool = False
  regularization: AgreementRegularization = AgreementRegularization()
  separate_regularization_pass: bool = False
  always_agree: bool = False
  agreement: AgreementTrainingOptions = AgreementTrainingOptions()
  seed: int = 0

  def __post_init__(self):
    for field in ("max_rounds", "min_new_labels", "max_neighbors",
                  "num_samples_to_label", "seed"):
      if getattr(self, field) < 0:
        raise ValueError(f"{field} must be >= 0, got {getattr(self, field)}")
    for field in ("epochs", "patience", "batch_size"):
      if getattr(self, field) < 1:
        raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")
    if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
      raise ValueError(f"steps_per_epoch must be >= 1, got "
                       f"{self.steps_per_epoch}")
    if not 0.0 <= self.min_confidence <= 1.0:
      raise ValueError(f"min_confidence must be in [0, 1], got "
                       f"{self.min_confidence}")
    if self.min_label_precision is not None and not (
        0.0 < self.min_label_precision <= 1.0):
      raise ValueError(f"min_label_precision must be in (0, 1], got "
                       f"{self.min_label_precision}")

  def with_changes(self, agreement_steps: Optional[int] = None,
                   **changes) -> "CoTrainingOptions":
    """These options with `changes`, skipping None values (options a
    command line left unset): fields of these options, or of
    `regularization` by their own names; `agreement_steps` caps the
    agreement model's training (`AgreementTrainingOptions.with_max_steps`).

    Example:
      >>> options.with_changes(max_rounds=3, reg_weight_lu=1.0,
      ...                      agreement_steps=500, patience=None)

    Raises:
      TypeError: for a name that is no such field.
    """
    given = {name: value for name, value in changes.items()
             if value is not None}
    pair_fields = {f.name for f in dataclasses.fields(AgreementRegularization)}
    pairs = {name: given.pop(name) for name in list(given)
             if name in pair_fields}
    unknown = set(given) - {f.name for f in dataclasses.fields(self)}
    if unknown:
      raise TypeError(f"CoTrainingOptions has no options {sorted(unknown)}")
    agreement = (self.agreement if agreement_steps is None
                 else self.agreement.with_max_steps(agreement_steps))
    return dataclasses.replace(
        self, regularization=dataclasses.replace(self.regularization,
                                                 **pairs),
        agreement=agreement, **given)

  def round_seed(self, round_index: int) -> int:
    """The seed of round `round_index` (rounds are reproducible one by one)."""
    return (self.seed * 1009 + round_index) % (2 ** 31)

  def steps(self, num_labelled: int) -> int:
    return self.steps_per_epoch or math.ceil(num_labelled / self.batch_size)

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: Dict[str, Any]) -> "CoTrainingOptions":
    values = dict(values)
    values["regularization"] = AgreementRegularization(
        **values.get("regularization", {}))
    values["agreement"] = AgreementTrainingOptions(**values.get("agreement",
                                                                {}))
    return cls(**values)

