"""How much a better agreement model could give GAM's multi-label GCN.

A diagnostic for the one row of `multilabel_models.py` that GAM does not
lift (the GCN on the noisy multi-label graph). Each seed trains the GCN
alone (round 0) and then one GAM round with the agreement weights of the
edge pairs taken from:

- `learned`: the agreement model, as GAM trains it (features only);
- `label_sets`: the true label-set agreement (Jaccard >= 0.5) of the two
  ends, i.e. a perfect agreement model;
- `scene`: whether the two ends share their scene concept (the class the
  features show), a perfect model of the part of agreement the features can
  tell.

The two perfect models read the graph's true labels, test nodes included:
they are ceilings, not methods. They replace the agreement model's scores
by patching `gam.graph_agreement_model.agreement_probabilities` for the run.
Also printed: how often the learned model's call (p > 0.5) matches each
kind of truth on the scored edges. Test per-label mAP is split into scene
and topic concepts.

  python benchmarks/multilabel_agreement_ceiling.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import os
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from gam import graph_agreement_model  # pylint: disable=g-import-not-at-top
from gam.agreement import AgreementModel  # pylint: disable=g-import-not-at-top
from gam.agreement_regularization import AgreementRegularization  # pylint: disable=g-import-not-at-top
from gam.cotraining import CoTrainingOptions  # pylint: disable=g-import-not-at-top
from graph_models import label_tasks, training  # pylint: disable=g-import-not-at-top
from graph_models.multilabel_metrics import average_precision  # pylint: disable=g-import-not-at-top
from graph_models.synthetic import FlickrLikeConfig  # pylint: disable=g-import-not-at-top
from graph_models.synthetic_multilabel import generate_multilabel_flickr_like  # pylint: disable=g-import-not-at-top

AGREEMENTS = ("learned", "label_sets", "scene")


def concept_maps(probabilities: np.ndarray, labels: np.ndarray,
                 num_scenes: int) -> dict:
  """Test per-label mAP over scene concepts, topic concepts and all."""
  relevant = labels.T.astype(np.float32)  # one ranking per concept
  ap, has_positive = (t.numpy() for t in average_precision(
      relevant, probabilities.T.astype(np.float32), np.ones_like(relevant)))
  ap = np.where(has_positive, ap, np.nan)
  return {"scene": float(np.nanmean(ap[:num_scenes])),
          "topic": float(np.nanmean(ap[num_scenes:])),
          "all": float(np.nanmean(ap))}


def run(graph, seed: int, agreement: str, args) -> dict:
  """Round 0 and one GAM round; returns test concept mAPs of both."""
  scene = graph.labels[:, :args.num_scenes].argmax(axis=1)
  learned = graph_agreement_model.agreement_probabilities
  calls = []

  def scores(model, graph_, left, right):
    p = learned(model, graph_, left, right)
    calls.append((np.mean((p > 0.5) == label_tasks.labels_agree(
        graph.labels, left, right)), np.mean((p > 0.5) == (
            scene[left] == scene[right]))))
    if agreement == "label_sets":
      return label_tasks.labels_agree(graph.labels, left, right).astype(
          np.float32)
    if agreement == "scene":
      return (scene[left] == scene[right]).astype(np.float32)
    return p

  test = graph.split_nodes("test")
  maps = []
  predict = graph_agreement_model.GraphAgreementModel._predict_probabilities

  def recorded(model, graph_):
    probabilities = predict(model, graph_)
    maps.append(concept_maps(probabilities[test], graph.labels[test],
                             args.num_scenes))
    return probabilities

  options = CoTrainingOptions(
      max_rounds=1, epochs=200, patience=50, min_confidence=0.6,
      regularization=AgreementRegularization(
          256, 0.0, args.reg_weight_lu, args.reg_weight_uu), seed=seed)
  training.seed_everything(seed)
  model = graph_agreement_model.GraphAgreementModel(
      node_model_fn=lambda: training.build_classifier(
          "gcn", graph.num_classes, hidden_units=(64,)),
      agreement_model_fn=lambda: AgreementModel(hidden_units=(64,)),
      options=options, multilabel=True)
  model.compile(optimizer=keras.optimizers.Adam(0.01))
  with mock.patch.object(graph_agreement_model, "agreement_probabilities",
                         scores), mock.patch.object(
                             graph_agreement_model.GraphAgreementModel,
                             "_predict_probabilities", recorded):
    model.fit(graph, verbose=0)
  return {"round0": maps[0], "gam": maps[1],
          "learned_matches": np.mean(calls, axis=0).tolist()}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
  parser.add_argument("--num-nodes", type=int, default=3000)
  parser.add_argument("--cross-class-edges", type=float, default=0.5)
  parser.add_argument("--reg-weight-lu", type=float, default=30.0)
  parser.add_argument("--reg-weight-uu", type=float, default=15.0)
  args = parser.parse_args()
  # The scene concepts come first, one per latent class.
  args.num_scenes = FlickrLikeConfig().num_classes

  table = {name: [] for name in ("round 0",) + AGREEMENTS}
  for seed in args.seeds:
    graph, _ = generate_multilabel_flickr_like(
        num_nodes=args.num_nodes, num_val=300, num_test=1000,
        cross_class_edge_fraction=args.cross_class_edges, seed=seed)
    for agreement in AGREEMENTS:
      result = run(graph, seed, agreement, args)
      if agreement == "learned":
        table["round 0"].append(result["round0"])
        print(f"seed {seed}: the learned agreement model's calls match "
              f"label-set agreement on {result['learned_matches'][0]:.0%} "
              f"of the scored edges, scene agreement on "
              f"{result['learned_matches'][1]:.0%}", flush=True)
      table[agreement].append(result["gam"])
      print(f"seed {seed} {agreement}: " + ", ".join(
          f"{k} {result['round0'][k]:.3f} -> {result['gam'][k]:.3f}"
          for k in ("scene", "topic", "all")), flush=True)

  print(f"\nTest per-label mAP, mean over seeds {args.seeds} "
        f"({args.cross_class_edges:.0%} cross-class edges)")
  print("| GCN | scene concepts | topic concepts | all |")
  print("|---|---|---|---|")
  for name, rows in table.items():
    label = name if name == "round 0" else f"+ GAM round, {name} agreement"
    print(f"| {label} | " + " | ".join(
        f"{np.mean([r[k] for r in rows]):.3f}"
        for k in ("scene", "topic", "all")) + " |")


if __name__ == "__main__":
  main()
