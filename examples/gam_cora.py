"""GCN with Graph Agreement Models on Planetoid Cora, loaded through TFDS.

`import gam_datasets` registers the `planetoid` TFDS builder; it is built
from the eight `ind.cora.*` files in `--manual-dir` (by default the copy
the package ships), turned into the package's `Graph` and trained with
`GraphAgreementModel` with the GCN settings of a GAM protocol
(`gam.protocols`: the package's, or the reference code's): round 0 is the
plain GCN, each later round trains an agreement model, the
agreement-regularised GCN and self-labels the most confident nodes, until a
round labels nothing; the round with the best validation accuracy is kept.

  python examples/gam_cora.py
  python examples/gam_cora.py --protocol reference

  # One GAM round, short rounds (about a minute on 2 CPU cores):
  python examples/gam_cora.py --rounds 1 --epochs 50 --agreement-steps 200

A full run takes 5-10 minutes on 2 CPU cores (see `benchmarks/gam_cora.py`).
Prints a line per round and ends with a JSON line: the table row (round-0
test accuracy, best-validation round, GAM test accuracy) and the
majority-class rate.
"""

import argparse
import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top,wrong-import-position
import keras

import gam
import gam_datasets
from gam.protocols import PROTOCOLS
import graph_models as gm
from graph_models import training


def parse_args() -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n", 1)[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument("--manual-dir", type=pathlib.Path,
                      help="directory holding the ind.cora.* files "
                           "(default: the package's own copy)")
  parser.add_argument("--data-dir", type=pathlib.Path,
                      help="TFDS data directory (default: TFDS's, "
                           "~/tensorflow_datasets)")
  parser.add_argument("--protocol", default="package", choices=PROTOCOLS,
                      help="GAM settings (gam.protocols); the options below "
                           "override single points")
  parser.add_argument("--rounds", type=int,
                      help="most GAM rounds after round 0 (the plain GCN; "
                           "default: until one labels nothing)")
  parser.add_argument("--epochs", type=int,
                      help="most GCN epochs per round (default: the "
                           "protocol's)")
  parser.add_argument("--patience", type=int,
                      help="epochs without better validation accuracy "
                           "before a round stops (default: the protocol's)")
  parser.add_argument("--agreement-steps", type=int,
                      help="most training steps of each round's agreement "
                           "model (default: the protocol's)")
  parser.add_argument("--checkpoint-dir", type=pathlib.Path,
                      help="checkpoint every round here; rerun to resume")
  parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2),
                      help="2: a line per round, 1: also Keras progress")
  parser.add_argument("--seed", type=int, default=0)
  return parser.parse_args()


def main() -> None:
  args = parse_args()
  start = time.perf_counter()
  protocol = gam.gam_protocol(args.protocol, "gcn")
  # Built into --data-dir on the first call, read back from there after.
  # The builder stores the raw bag of words; Kipf's GCN normalises rows.
  graph = gam_datasets.load_graph(
      "planetoid/cora", args.data_dir, args.manual_dir,
      row_normalize=protocol.classifier.row_normalize_features)
  print(f"graph: {graph} (loaded in {time.perf_counter() - start:.1f}s)",
        flush=True)

  training.seed_everything(args.seed)
  # The protocol's options, with the points the command line sets.
  options = protocol.cotraining.with_changes(
      max_rounds=args.rounds, epochs=args.epochs, patience=args.patience,
      agreement_steps=args.agreement_steps, seed=args.seed)
  model = gam.GraphAgreementModel(
      node_model_fn=lambda: gm.GCNNodeClassifier(
          graph.num_classes, **protocol.classifier.model_kwargs("gcn")),
      agreement_model_fn=lambda: gam.AgreementModel(hidden_units=(128,)),
      options=options)
  model.compile(optimizer=keras.optimizers.Adam(
      protocol.classifier.learning_rate))
  start = time.perf_counter()
  history = model.fit(
      graph, verbose=args.verbose,
      checkpoint_dir=str(args.checkpoint_dir) if args.checkpoint_dir else None)
  seconds = time.perf_counter() - start

  round0 = history.rounds[0].test_scores["accuracy"]
  best = history.best.test_scores["accuracy"]
  print("| model | Cora test accuracy | best-validation round |")
  print("|---|---|---|")
  hidden = protocol.classifier.hidden
  print(f"| GCN{hidden} (round 0) | {round0:.4f} | |")
  print(f"| GCN{hidden}+GAM | {best:.4f} | {history.best_round} |")
  print(json.dumps({
      "dataset": graph.name, "protocol": args.protocol,
      "rounds": len(history.rounds) - 1, "epochs": options.epochs,
      "round0_test_accuracy": round0, "best_round": history.best_round,
      "gam_test_accuracy": best,
      "gam_val_accuracy": history.best.val_scores["accuracy"],
      "test_accuracy_per_round": history.history["test_accuracy"],
      "majority_class_test_accuracy": graph.majority_class_rate("test"),
      "seconds": round(seconds, 1)}))


if __name__ == "__main__":
  main()
