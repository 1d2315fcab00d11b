"""GAM on the synthetic Flickr-like graph with noisy edges.

Half of the graph's edges join images of different classes
(`--cross-class-edges 0.5`). Three arms over the same seeds, all GCN:

* GCN: the plain classifier (round 0 of the GAM run);
* graph regularisation: the same GCN trained once with the same LL / LU / UU
  pair term but every pair weighted 1 (`--always-agree`, no self-labelling);
* GCN + GAM: pairs weighted by the agreement model, with self-labelling,
  best-validation round.

  python benchmarks/gam_synthetic.py --seeds 0 1 2

Prints the table, writes `benchmarks/out/gam_synthetic/summary.json` and
`benchmarks/gam_synthetic.png`.
"""

import argparse
import json
import pathlib

from gam_runs import mean_std, run_gam_train

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMON = ["--dataset", "flickr_synthetic", "--model", "gcn", "--hidden", "64",
          "--learning-rate", "0.01", "--epochs", "300", "--patience", "100",
          "--num-pairs", "512", "--reg-weight-lu", "10", "--reg-weight-uu",
          "5"]
ARMS = ("GCN", "GCN + graph regularisation", "GCN + GAM")


def run_seed(seed: int, cross: float, rounds: int,
             out_dir: pathlib.Path) -> dict:
  arguments = [*COMMON, "--cross-class-edges", cross, "--seed", seed]
  gam = run_gam_train(out_dir / f"gam_seed{seed}",
                      [*arguments, "--rounds", rounds])
  regularised = run_gam_train(
      out_dir / f"graph_reg_seed{seed}",
      [*arguments, "--rounds", 1, "--always-agree",
       "--num-samples-to-label", 0])
  accuracies = {ARMS[0]: gam["baseline_test_accuracy"],
                ARMS[1]: regularised["rounds"][1]["test_accuracy"],
                ARMS[2]: gam["test_accuracy"]}
  print(f"seed {seed}: " + ", ".join(f"{arm} {value:.4f}" for arm, value in
                                      accuracies.items())
        + f" (GAM best round {gam['best_round']}, "
        f"{gam.get('wall_seconds', 0):.0f} s)", flush=True)
  return accuracies


def plot(per_seed, path: pathlib.Path) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  figure, axes = plt.subplots(figsize=(6.5, 4))
  for index, arm in enumerate(ARMS):
    values = [accuracies[arm] for accuracies in per_seed]
    axes.bar(index, mean_std(values)[0], yerr=mean_std(values)[1], capsize=4,
             color=f"C{index}", alpha=0.7)
    axes.scatter([index] * len(values), values, color="black", s=12, zorder=3)
  axes.set_xticks(range(len(ARMS)), ARMS, fontsize="small")
  low = min(min(a.values()) for a in per_seed)
  axes.set_ylim(low - 0.05, 1.0)
  axes.set_ylabel("test accuracy (bars: mean, dots: seeds)")
  axes.set_title("Synthetic Flickr-like graph, 50% cross-class edges")
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
  parser.add_argument("--cross-class-edges", type=float, default=0.5)
  parser.add_argument("--rounds", type=int, default=8)
  parser.add_argument("--out-dir", type=pathlib.Path,
                      default=ROOT / "benchmarks/out/gam_synthetic")
  args = parser.parse_args()
  per_seed = [run_seed(seed, args.cross_class_edges, args.rounds, args.out_dir)
              for seed in args.seeds]
  summary = {"seeds": args.seeds, "cross_class_edges": args.cross_class_edges}
  print("\n| model | test accuracy (mean +- std) | GAM gain (points) |")
  print("|---|---|---|")
  gam = [a[ARMS[2]] for a in per_seed]
  for arm in ARMS:
    values = [a[arm] for a in per_seed]
    mean, std = mean_std(values)
    gain = mean_std([g - v for g, v in zip(gam, values)])[0] * 100
    summary[arm] = {"mean": mean, "std": std, "per_seed": values,
                    "gam_gain_points": gain}
    print(f"| {arm} | {mean:.4f} +- {std:.4f} | "
          f"{'' if arm == ARMS[2] else f'{gain:+.1f}'} |")
  args.out_dir.mkdir(parents=True, exist_ok=True)
  (args.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
  plot(per_seed, ROOT / "benchmarks/gam_synthetic.png")


if __name__ == "__main__":
  main()
