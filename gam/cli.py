"""`gam-train`: train a node classifier and write results, model and plots.

By default it trains the CommNet graph classifier on the embedded Flickr-like
graph (generated, no download):

  gam-train --output runs/default

Planetoid data are read from a directory of `ind.<name>.*` files:

  gam-train --dataset planetoid/cora --data-dir path/to/cora --model gcn
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import sys
from typing import Optional, Sequence

# TF's C++ start-up chatter (CUDA probing on CPU-only machines) hides the
# progress bars; it is silenced unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from graph_models import training  # pylint: disable=g-import-not-at-top
from graph_models.sources import GRAPH_NAMES, load_graph  # pylint: disable=g-import-not-at-top

DEFAULT_HIDDEN = {"mlp": 128, "gcn": 16, "commnet": 64}
DEFAULT_EPOCHS = {"mlp": 100, "gcn": 200, "commnet": 50}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog="gam-train", description=__doc__.split("\n", 1)[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument("--dataset", default="flickr_synthetic",
                      choices=GRAPH_NAMES, help="graph to train on")
  parser.add_argument("--data-dir", type=pathlib.Path,
                      help="directory of the ind.<name>.* Planetoid files")
  parser.add_argument("--model", default="commnet",
                      choices=sorted(training.CLASSIFIERS),
                      help="node classifier")
  parser.add_argument("--hidden", type=int,
                      help="hidden width (default: 128 mlp, 16 gcn, 64 commnet)")
  parser.add_argument("--epochs", type=int,
                      help="training epochs (default: 100 mlp, 200 gcn, "
                           "50 commnet)")
  parser.add_argument("--learning-rate", type=float, default=0.01)
  parser.add_argument("--dropout", type=float, default=0.5)
  parser.add_argument("--weight-decay", type=float, default=5e-4)
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--max-neighbors", type=int, default=5,
                      help="neighbours packed per node (mini-batch models)")
  parser.add_argument("--cross-class-edges", type=float,
                      help="share of cross-class edges (synthetic graphs)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--output", type=pathlib.Path,
                      default=pathlib.Path("runs/latest"),
                      help="folder for results.json, model.keras and plots")
  parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2),
                      help="Keras progress output")
  return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
  """Trains as `args` say and returns the results written to results.json."""
  # Imported here so that `--help` answers without loading TensorFlow.
  from gam import plots  # pylint: disable=g-import-not-at-top

  graph = load_graph(args.dataset, args.data_dir, seed=args.seed,
                     cross_class_edge_fraction=args.cross_class_edges)
  print(f"graph: {graph}", flush=True)
  options = training.TrainingOptions(
      epochs=args.epochs or DEFAULT_EPOCHS[args.model],
      learning_rate=args.learning_rate, batch_size=args.batch_size,
      max_neighbors=args.max_neighbors, seed=args.seed)
  result = training.train_node_classifier(
      graph, args.model, options, verbose=args.verbose,
      hidden_units=(args.hidden or DEFAULT_HIDDEN[args.model],),
      dropout=args.dropout, weight_decay=args.weight_decay)
  scores = result.accuracy

  args.output.mkdir(parents=True, exist_ok=True)
  result.model.save(args.output / "model.keras")
  plots.plot_training_curves(
      result.history, args.output / "training_curves.png",
      title=f"{args.model} on {args.dataset}")
  results = {
      "dataset": args.dataset, "model": args.model,
      "test_accuracy": scores.get("test"), "val_accuracy": scores.get("val"),
      "majority_class_test_accuracy": graph.majority_class_rate("test"),
      "train_accuracy": scores.get("train"),
      "train_seconds": result.train_seconds,
      "config": {k: (str(v) if isinstance(v, pathlib.Path) else v)
                 for k, v in vars(args).items()},
      "training_options": dataclasses.asdict(options),
  }
  (args.output / "results.json").write_text(json.dumps(results, indent=2))
  summary = ", ".join(f"{split} {value:.4f}" for split, value in scores.items())
  print(f"accuracy: {summary} -> {args.output}", flush=True)
  return results


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = parse_args(argv)
  try:
    run(args)
  except (ValueError, FileNotFoundError) as error:
    print(f"gam-train: error: {error}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
