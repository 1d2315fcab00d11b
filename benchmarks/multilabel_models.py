"""Multi-label concept prediction: every node classifier, without and with GAM.

On the synthetic multi-label Flickr-like graph (`synthetic_multilabel`:
scene concepts seen by the features, group topics carried by the edges) with
`--cross-class-edges` noisy edges, each model is trained as GAM's classifier
for `--rounds` rounds: round 0 is the plain classifier, the best-validation
round (by per-label mAP) is GAM's result. node2vec runs as an MLP over the
node features concatenated with node2vec embeddings of the graph. The
most-frequent-concepts baseline (Salehi & Kaitha, "Image Tag Recommendation
by Exploiting Social-Network Metadata") is the floor every model must beat.
Prints a table of test per-label mAP, per-image mAP and precision@3
(mean +- std over `--seeds`), writes it as JSON and plots label mAP.

  python benchmarks/multilabel_models.py --output benchmarks/multilabel
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # pylint: disable=g-import-not-at-top
import matplotlib  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

from gam.agreement import AgreementModel  # pylint: disable=g-import-not-at-top
from gam.agreement_regularization import AgreementRegularization  # pylint: disable=g-import-not-at-top
from gam.cotraining import CoTrainingOptions  # pylint: disable=g-import-not-at-top
from gam.graph_agreement_model import GraphAgreementModel  # pylint: disable=g-import-not-at-top
from graph_models import node2vec, training  # pylint: disable=g-import-not-at-top
from graph_models.tasks import label_tasks  # pylint: disable=g-import-not-at-top
from gam_datasets.synthetic_multilabel import generate_multilabel_flickr_like  # pylint: disable=g-import-not-at-top

MODELS = ("mlp", "node2vec", "gcn", "commnet", "graphsage", "maxpool", "ngcn")
HIDDEN = {"gcn": 64, "commnet": 64}
SCORES = ("label_map", "image_map", "precision_at_3")


def multilabel_graph(seed: int, num_nodes: int = 3000,
                     cross_class_edges: float = 0.5):
  """The benchmark's multi-label graph: 300 validation, 1,000 test nodes."""
  return generate_multilabel_flickr_like(
      num_nodes=num_nodes, num_val=300, num_test=1000,
      cross_class_edge_fraction=cross_class_edges, seed=seed)[0]


def run_gam(graph, name: str, seed: int, args) -> dict:
  classifier = "mlp" if name == "node2vec" else name
  if name == "node2vec":
    embeddings = node2vec.train_node2vec(graph, node2vec.Node2VecOptions(
        dimensions=64, walk_length=40, walks_per_node=10, seed=seed))
    graph = node2vec.with_node2vec_features(graph, embeddings, "both")
  options = CoTrainingOptions(
      max_rounds=args.rounds, epochs=args.epochs, patience=args.patience,
      num_samples_to_label=200, min_confidence=args.min_confidence,
      regularization=AgreementRegularization(
          256, 0.0, args.reg_weight_lu, args.reg_weight_uu), seed=seed)
  training.seed_everything(seed)
  model = GraphAgreementModel(
      node_model_fn=lambda: training.build_classifier(
          classifier, graph.num_classes,
          hidden_units=(HIDDEN.get(classifier, 128),)),
      agreement_model_fn=lambda: AgreementModel(hidden_units=(64,)),
      options=options, multilabel=True)
  model.compile(optimizer=keras.optimizers.Adam(0.01))
  start = time.perf_counter()
  history = model.fit(graph, verbose=0)
  seconds = time.perf_counter() - start
  first, best = history.rounds[0], history.best
  return {"plain": {s: first.test_scores[s] for s in SCORES},
          "gam": {s: best.test_scores[s] for s in SCORES},
          "best_round": history.best_round, "seconds": seconds}


def mean_std(values) -> str:
  return f"{np.mean(values):.3f} +- {np.std(values):.3f}"


def report(results: dict, output: pathlib.Path) -> None:
  """Prints the table and plots `multilabel_models.png` from `results`."""
  config = results["config"]  # as strings
  seeds, edges = config["seeds"], float(config["cross_class_edges"])
  print(f"\nTest scores, mean +- std over seeds {seeds} "
        f"({config['num_nodes']} nodes, {edges:.0%} cross-class edges)")
  print("| model | label mAP | image mAP | P@3 | seconds per run |")
  print("|---|---|---|---|---|")
  print("| most frequent concepts | " + " | ".join(
      mean_std([b[s] for b in results["baseline"]]) for s in SCORES) + " | |")
  for name, runs in results["models"].items():
    for kind, label in (("plain", name), ("gam", f"{name} + GAM")):
      print(f"| {label} | " + " | ".join(
          mean_std([r[kind][s] for r in runs]) for s in SCORES) + " | " + (
              f"{np.mean([r['seconds'] for r in runs]):.0f} (both) |"
              if kind == "gam" else " |"))

  figure, axis = plt.subplots(figsize=(9, 4))
  names = list(results["models"])
  positions = np.arange(len(names))
  for offset, kind, label in ((-0.2, "plain", "classifier alone"),
                              (0.2, "gam", "with GAM")):
    means = [np.mean([r[kind]["label_map"] for r in results["models"][n]])
             for n in names]
    stds = [np.std([r[kind]["label_map"] for r in results["models"][n]])
            for n in names]
    axis.bar(positions + offset, means, 0.4, yerr=stds, capsize=3,
             label=label)
  axis.axhline(np.mean([b["label_map"] for b in results["baseline"]]),
               color="black", linestyle="--", label="most frequent concepts")
  axis.set_xticks(positions, names)
  axis.set_ylabel("test per-label mAP")
  axis.set_title(f"multi-label synthetic graph, {edges:.0%} noisy edges, "
                 f"seeds {seeds}")
  axis.set_ylim(0, axis.get_ylim()[1] * 1.2)  # room for the legend
  axis.legend(fontsize="small", loc="upper center", ncol=3)
  axis.grid(alpha=0.3, axis="y")
  figure.tight_layout()
  figure.savefig(output / "multilabel_models.png", dpi=100)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--models", nargs="+", default=list(MODELS),
                      choices=MODELS)
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
  parser.add_argument("--num-nodes", type=int, default=3000)
  parser.add_argument("--cross-class-edges", type=float, default=0.5)
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--epochs", type=int, default=200)
  parser.add_argument("--patience", type=int, default=50)
  parser.add_argument("--reg-weight-lu", type=float, default=30.0)
  parser.add_argument("--reg-weight-uu", type=float, default=15.0)
  parser.add_argument("--min-confidence", type=float, default=0.6)
  parser.add_argument("--output", type=pathlib.Path,
                      default=pathlib.Path("benchmarks/multilabel"))
  parser.add_argument("--report-only", action="store_true",
                      help="only print and plot <output>/results.json")
  args = parser.parse_args()
  if args.report_only:
    report(json.loads((args.output / "results.json").read_text()),
           args.output)
    return
  args.output.mkdir(parents=True, exist_ok=True)

  results = {"config": {k: str(v) for k, v in vars(args).items()},
             "baseline": [], "models": {name: [] for name in args.models}}
  for seed in args.seeds:
    graph = multilabel_graph(seed, args.num_nodes, args.cross_class_edges)
    results["baseline"].append(label_tasks.most_frequent_scores(graph))
    for name in args.models:
      run = run_gam(graph, name, seed, args)
      results["models"][name].append(run)
      print(f"seed {seed} {name}: plain {run['plain']} | GAM {run['gam']} "
            f"(round {run['best_round']}, {run['seconds']:.0f}s)", flush=True)
  (args.output / "results.json").write_text(json.dumps(results, indent=1))
  report(results, args.output)
  print(f"-> {args.output}")


if __name__ == "__main__":
  main()
