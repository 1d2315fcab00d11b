"""How well GAM's agreement model tells agreeing from disagreeing Cora edges.

A diagnostic for the GAM targets the GCN misses (see
`agreement_ceiling.py`: with the true agreement in its place, one GAM round
takes the GCN from 0.825 to 0.845). Each seed trains the agreement model as
GAM's round 1 does (MLP128, `dist`, default `AgreementTrainingOptions`) on
Cora's 140 training labels, optionally plus `--extra` more training
candidates with their *true* labels (what perfect self-labels would give
later rounds), then scores every edge with one unlabelled end (LU) and with
two (UU) against the true agreement of the ends:

- AUC: the chance that an agreeing edge scores above a disagreeing one (0.5
  is chance; GAM uses the scores as weights, so their ranking is what counts);
- balanced accuracy of p > 0.5, and the share of edges called "same" (81% of
  Cora's edges join same-class nodes).

`--inputs` also tries graph-propagated node features as the agreement
model's inputs (Â the GCN's normalised adjacency): `AX` = ÂX, `A2X` = Â²X,
`X_AX_A2X` = [X, ÂX, Â²X].

  python benchmarks/agreement_quality.py \
      --data-dir datasets/planetoid/data/cora --seeds 0 1 --extra 0 200 600
"""

from __future__ import annotations

import argparse
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
import scipy.stats  # pylint: disable=g-import-not-at-top

from gam.agreement import (AgreementModel, AgreementTrainingOptions,  # pylint: disable=g-import-not-at-top
                           agreement_probabilities, balanced_accuracy,
                           train_agreement_model)
from gam.self_labeling import label_candidates  # pylint: disable=g-import-not-at-top
from graph_models.label_table import UNLABELED, labeled_rows, labels_agree  # pylint: disable=g-import-not-at-top
from gam_datasets import load_graph  # pylint: disable=g-import-not-at-top


def auc(same: np.ndarray, scores: np.ndarray) -> float:
  """Area under the ROC curve (Mann-Whitney U over ranks, ties averaged)."""
  ranks = scipy.stats.rankdata(scores)
  positives, negatives = same.sum(), (~same).sum()
  return float((ranks[same].sum() - positives * (positives + 1) / 2)
               / (positives * negatives))


def with_inputs(graph, inputs: str):
  """`graph` with the agreement model's input features of `inputs`."""
  if inputs == "X":
    return graph
  features = graph.dense_features().astype(np.float32)
  adjacency = graph.kipf_normalized().adjacency
  once = adjacency @ features
  if inputs == "AX":
    return graph.replace(features=np.asarray(once, np.float32))
  twice = adjacency @ once
  if inputs == "X_AX_A2X":
    twice = np.hstack([features, once, twice])
  return graph.replace(features=np.asarray(twice, np.float32))


def edge_scores(graph, labels: np.ndarray, seed: int) -> dict:
  """Trains the agreement model on `labels`; its LU and UU edge scores."""
  keras.utils.set_random_seed(seed)
  model = AgreementModel(hidden_units=(128,))
  train_agreement_model(model, graph, labels,
                        AgreementTrainingOptions(seed=seed))
  senders, receivers, _ = graph.edges()
  keep = senders < receivers
  senders, receivers = senders[keep], receivers[keep]
  known = labeled_rows(labels)
  out = {}
  for kind, mask in (("LU", known[senders] != known[receivers]),
                     ("UU", ~known[senders] & ~known[receivers])):
    left, right = senders[mask], receivers[mask]
    scores = agreement_probabilities(model, graph, left, right)
    same = labels_agree(graph.labels, left, right)
    called = scores > 0.5
    out[kind] = {"auc": auc(same, scores),
                 "balanced": balanced_accuracy(called, same),
                 "called_same": float(called.mean())}
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--data-dir", type=pathlib.Path,
                      help="another copy of the Planetoid Cora files "
                           "(default: the package's)")
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
  parser.add_argument("--extra", nargs="+", type=int, default=[0],
                      help="true labels added to the 140 training labels")
  parser.add_argument("--inputs", nargs="+", default=["X"],
                      choices=["X", "AX", "A2X", "X_AX_A2X"])
  args = parser.parse_args()
  cora = load_graph("planetoid/cora", manual_dir=args.data_dir,
                    row_normalize=True)
  print("| inputs | labels | seed | LU AUC | LU balanced | LU called same "
        "| UU AUC | UU balanced | UU called same |")
  print("|---|---|---|---|---|---|---|---|---|")
  for inputs in args.inputs:
    graph = with_inputs(cora, inputs)
    for extra in args.extra:
      for seed in args.seeds:
        labels = np.where(graph.train_mask, graph.labels, UNLABELED)
        candidates = label_candidates(graph, labels)
        if extra > candidates.size:
          parser.error(f"--extra {extra}: Cora has only {candidates.size} "
                       f"training candidates")
        added = np.random.default_rng(seed).choice(candidates, extra,
                                                   replace=False)
        labels[added] = graph.labels[added]
        scores = edge_scores(graph, labels, seed)
        num_labels = int(labeled_rows(labels).sum())
        print(f"| {inputs} | {num_labels} | {seed} | " + " | ".join(
            f"{scores[kind]['auc']:.3f} | {scores[kind]['balanced']:.3f} | "
            f"{scores[kind]['called_same']:.2f}" for kind in ("LU", "UU"))
              + " |", flush=True)


if __name__ == "__main__":
  main()
