"""How much a better agreement model could give GAM's GCN.

A diagnostic for the GAM targets the GCN misses: on real Cora (single
label) and on the noisy multi-label synthetic graph of
`multilabel_models.py`. Each seed trains the GCN alone (round 0), then one
GAM round with the agreement weights of the edge pairs taken from:

- `learned`: the agreement model, as GAM trains it (node features only);
- `true`: the true agreement of the two ends (equal classes; for label sets
  Jaccard >= 0.5), i.e. a perfect agreement model;
- `scene` (multi-label only): whether the two ends share their scene
  concept (the class the features show), a perfect model of the part of
  agreement the features can tell.

The perfect models read the graph's true labels, test nodes included: they
are ceilings, not methods. They replace the agreement model's scores by
patching `gam.graph_agreement_model.agreement_probabilities` for the run.
Also printed: the learned model's balanced accuracy (p > 0.5 against the
true agreement) on the scored edges. Multi-label test per-label mAP is split
into scene and topic concepts.

  python benchmarks/agreement_ceiling.py --dataset cora \
      --data-dir datasets/planetoid/data/cora --seeds 0 1 2 3 4
  python benchmarks/agreement_ceiling.py --dataset multilabel --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import os
import pathlib
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from gam import graph_agreement_model  # pylint: disable=g-import-not-at-top
from gam.agreement import AgreementModel  # pylint: disable=g-import-not-at-top
from gam.agreement_regularization import AgreementRegularization  # pylint: disable=g-import-not-at-top
from gam.cotraining import CoTrainingOptions  # pylint: disable=g-import-not-at-top
from graph_models import training  # pylint: disable=g-import-not-at-top
from graph_models import label_table  # pylint: disable=g-import-not-at-top
from graph_models.tasks.multilabel_metrics import average_precision  # pylint: disable=g-import-not-at-top
from gam_datasets import load_graph  # pylint: disable=g-import-not-at-top
from gam_datasets.synthetic import FlickrLikeConfig  # pylint: disable=g-import-not-at-top
from gam.agreement import balanced_accuracy  # pylint: disable=g-import-not-at-top
from multilabel_models import multilabel_graph  # pylint: disable=g-import-not-at-top

# Per dataset: GCN hidden units, Adam rate, epochs, patience, pairs, LU and
# UU weights, min_confidence; those of gam_cora.py and multilabel_models.py.
SETTINGS = {"cora": (128, 0.01, 300, 100, 512, 10.0, 5.0, 0.4),
            "multilabel": (64, 0.01, 200, 50, 256, 30.0, 15.0, 0.6)}
# The multi-label graph's scene concepts come first, one per latent class.
NUM_SCENES = FlickrLikeConfig().num_classes


def scores_on_test(probabilities: np.ndarray, labels: np.ndarray) -> dict:
  """Test accuracy, or per-label mAP over scene / topic / all concepts."""
  if labels.ndim == 1:
    return {"all": float(np.mean(probabilities.argmax(axis=1) == labels))}
  relevant = labels.T.astype(np.float32)  # one ranking per concept
  ap, has_positive = (t.numpy() for t in average_precision(
      relevant, probabilities.T.astype(np.float32), np.ones_like(relevant)))
  ap = np.where(has_positive, ap, np.nan)
  return {"scene": float(np.nanmean(ap[:NUM_SCENES])),
          "topic": float(np.nanmean(ap[NUM_SCENES:])),
          "all": float(np.nanmean(ap))}


def run(graph, seed: int, agreement: str, dataset: str) -> dict:
  """Round 0 and one GAM round: test scores of both, and the learned
  agreement model's balanced accuracy on the scored edges."""
  truth = {"true": lambda l, r: label_table.labels_agree(graph.labels, l, r)}
  if graph.is_multilabel:
    scene = graph.labels[:, :NUM_SCENES].argmax(axis=1)
    truth["scene"] = lambda l, r: scene[l] == scene[r]
  learned = graph_agreement_model.agreement_probabilities
  balanced = []

  def scores(model, graph_, left, right):
    p = learned(model, graph_, left, right)
    same, called = truth["true"](left, right), p > 0.5
    balanced.append(balanced_accuracy(called, same))
    if agreement == "learned":
      return p
    return truth[agreement](left, right).astype(np.float32)

  test = graph.split_nodes("test")
  results = []
  predict = graph_agreement_model.GraphAgreementModel._predict_probabilities

  def recorded(model, graph_):
    probabilities = predict(model, graph_)
    results.append(scores_on_test(probabilities[test], graph.labels[test]))
    return probabilities

  hidden, rate, epochs, patience, pairs, lu, uu, confidence = SETTINGS[
      dataset]
  options = CoTrainingOptions(
      max_rounds=1, epochs=epochs, patience=patience,
      min_confidence=confidence,
      regularization=AgreementRegularization(pairs, 0.0, lu, uu), seed=seed)
  training.seed_everything(seed)
  model = graph_agreement_model.GraphAgreementModel(
      node_model_fn=lambda: training.build_classifier(
          "gcn", graph.num_classes, hidden_units=(hidden,)),
      agreement_model_fn=lambda: AgreementModel(hidden_units=(hidden,)),
      options=options, multilabel=graph.is_multilabel)
  model.compile(optimizer=keras.optimizers.Adam(rate))
  with mock.patch.object(graph_agreement_model, "agreement_probabilities",
                         scores), mock.patch.object(
                             graph_agreement_model.GraphAgreementModel,
                             "_predict_probabilities", recorded):
    model.fit(graph, verbose=0)
  return {"round0": results[0], "gam": results[1],
          "balanced": [float(b) for b in balanced]}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--dataset", choices=sorted(SETTINGS),
                      default="multilabel")
  parser.add_argument("--data-dir", type=pathlib.Path,
                      help="another copy of the Planetoid Cora files "
                           "(--dataset cora; default: the package's)")
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
  args = parser.parse_args()

  agreements = ("learned", "true") + (("scene",) if args.dataset
                                      == "multilabel" else ())
  table = {name: [] for name in ("round 0",) + agreements}
  for seed in args.seeds:
    graph = (load_graph("planetoid/cora", manual_dir=args.data_dir,
                        row_normalize=True)
             if args.dataset == "cora" else multilabel_graph(seed))
    for agreement in agreements:
      result = run(graph, seed, agreement, args.dataset)
      if agreement == "learned":
        table["round 0"].append(result["round0"])
        print(f"seed {seed}: learned agreement, balanced accuracy on the "
              f"scored LU / UU edges " + " / ".join(
                  f"{b:.3f}" for b in result["balanced"]), flush=True)
      table[agreement].append(result["gam"])
      print(f"seed {seed} {agreement}: " + ", ".join(
          f"{k} {result['round0'][k]:.3f} -> {result['gam'][k]:.3f}"
          for k in result["gam"]), flush=True)

  keys = list(table["round 0"][0])
  print(f"\nGCN test {'per-label mAP' if len(keys) > 1 else 'accuracy'} "
        f"on {args.dataset}, mean over seeds {args.seeds}")
  print("| GCN | " + " | ".join(keys) + " |")
  print("|---|" + "---|" * len(keys))
  for name, rows in table.items():
    label = name if name == "round 0" else f"+ GAM round, {name} agreement"
    print(f"| {label} | " + " | ".join(
        f"{np.mean([r[k] for r in rows]):.3f}" for k in keys) + " |")


if __name__ == "__main__":
  main()
