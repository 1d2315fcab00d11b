"""GAM on Cora with the GCN, one protocol point at a time.

Starts from the package's GCN protocol (`gam.protocols`, the reference
code's settings with shorter patience) and changes one point back to the
choice the package made before it adopted the reference's, so that each
point's share of the gain shows on its own. Each (variant, seed) runs to
exhaustion as `gam-train --protocol package` does and is kept in
`benchmarks/out/gam_ablation/<variant>_seed<seed>.json`; finished runs are
skipped, interrupted ones resume from their checkpoints.

  python benchmarks/gam_ablation.py --seeds 0 1
  python benchmarks/gam_ablation.py --variants base class_quotas --seeds 0

Prints, per variant, round 0 and GAM test accuracy (best-validation round)
and the gain, mean over the seeds run.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import time
from typing import Callable, Dict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top,wrong-import-position
import keras

import gam
from gam_datasets import load_graph
from gam_runs import mean_std
from graph_models import training

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _cotraining(**changes) -> Callable[[gam.GamProtocol], gam.GamProtocol]:
  return lambda p: dataclasses.replace(
      p, cotraining=dataclasses.replace(p.cotraining, **changes))


def _classifier(**changes) -> Callable[[gam.GamProtocol], gam.GamProtocol]:
  return lambda p: dataclasses.replace(
      p, classifier=dataclasses.replace(p.classifier, **changes))


def _regularization(**changes) -> Callable[[gam.GamProtocol],
                                           gam.GamProtocol]:
  return lambda p: _cotraining(regularization=dataclasses.replace(
      p.cotraining.regularization, **changes))(p)


# Each variant: one point set back to the package's earlier choice.
VARIANTS: Dict[str, Callable[[gam.GamProtocol], gam.GamProtocol]] = {
    "base": lambda p: p,
    # Self-labels in the training labels' class proportions.
    "class_quotas": _cotraining(keep_label_proportions=True),
    # The pair term divided by the LU and UU pairs only.
    "ll_left_out": _regularization(mean_over_all_kinds=False),
    "pairs_with_replacement": _regularization(sampling="replacement"),
    "lu_uu_10_5": _regularization(reg_weight_lu=10.0, reg_weight_uu=5.0),
    # Supervised and pair terms from one forward pass (one dropout mask).
    "shared_regularization_pass": _cotraining(
        separate_regularization_pass=False),
    # The agreement model's former training: half random labelled pairs,
    # mean loss, evaluated every 50 steps, patience 10, no minimum.
    "agreement_random_pairs": _cotraining(
        agreement=gam.AgreementTrainingOptions()),
    "row_normalized_features": _classifier(row_normalize_features=True),
    "gcn_bias": _classifier(use_bias=True),
    "adam_0.01_weight_decay": _classifier(learning_rate=0.01,
                                          weight_decay=5e-4),
}


def run_one(variant: str, seed: int, out_dir: pathlib.Path) -> dict:
  path = out_dir / f"{variant}_seed{seed}.json"
  if path.exists():
    return json.loads(path.read_text())
  protocol = VARIANTS[variant](gam.gam_protocol("package", "gcn"))
  graph = load_graph("planetoid/cora", row_normalize=
                     protocol.classifier.row_normalize_features)
  training.seed_everything(seed)
  model = gam.GraphAgreementModel(
      node_model_fn=lambda: training.build_classifier(
          "gcn", graph.num_classes, **protocol.classifier.model_kwargs("gcn")),
      agreement_model_fn=lambda: gam.AgreementModel(hidden_units=(128,)),
      options=dataclasses.replace(protocol.cotraining, seed=seed))
  model.compile(optimizer=keras.optimizers.Adam(
      protocol.classifier.learning_rate))
  start = time.perf_counter()
  history = model.fit(graph, verbose=1, checkpoint_dir=str(
      out_dir / "checkpoints" / f"{variant}_seed{seed}"))
  results = {"variant": variant, "seed": seed,
             "round0": history.score(history.rounds[0], "test"),
             "gam": history.score(history.best, "test"),
             "best_round": history.best_round,
             "rounds": history.to_dict()["rounds"],
             "seconds": time.perf_counter() - start}
  path.write_text(json.dumps(results, indent=1))
  return results


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--variants", nargs="+", default=list(VARIANTS),
                      choices=list(VARIANTS))
  parser.add_argument("--seeds", nargs="+", type=int, default=[0])
  parser.add_argument("--out-dir", type=pathlib.Path,
                      default=ROOT / "benchmarks" / "out" / "gam_ablation")
  args = parser.parse_args()
  args.out_dir.mkdir(parents=True, exist_ok=True)
  rows = []
  for variant in args.variants:
    runs = [run_one(variant, seed, args.out_dir) for seed in args.seeds]
    round0 = mean_std([r["round0"] for r in runs])
    gam_accuracy = mean_std([r["gam"] for r in runs])
    gains = [100 * (r["gam"] - r["round0"]) for r in runs]
    rows.append(f"| {variant} | {round0[0]:.3f} | {gam_accuracy[0]:.3f} | "
                f"{sum(gains) / len(gains):+.1f} "
                f"({', '.join(f'{g:+.1f}' for g in gains)}) |")
    print(rows[-1], flush=True)
  print(f"\nCora GCN128, package protocol, seeds {args.seeds}: test accuracy")
  print("| variant | round 0 | GAM | gain (per seed) |\n|---|---|---|---|")
  print("\n".join(rows))


if __name__ == "__main__":
  main()
