"""GAM on Planetoid Cora: MLP128 and GCN128 under the package's protocol and
the reference code's, over several seeds.

Each (model, protocol, seed) is one `gam-train --protocol <protocol>` run
of the real Cora files, to exhaustion (rounds until one labels nothing new);
its round 0 is the plain classifier (the baseline row) and its
best-validation round is the GAM row, as in the paper's protocol. Runs are
resumable: a finished run is skipped, an interrupted one resumes from its
checkpoint.

  python benchmarks/gam_cora.py --models gcn mlp --protocols package reference

Prints a table of mean +- std test accuracy (round 0 and GAM), the gain,
the seeds that ended below their own round 0 and the wall time per run;
writes `benchmarks/out/gam_cora/summary.json` and `benchmarks/gam_cora.png`
(bars, and each run's test accuracy per round).
"""

import argparse
import json
import pathlib

from gam_runs import mean_std, run_gam_train

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Stretcu et al. 2019, "Graph Agreement Models for Semi-Supervised
# Learning", corrected table: (plain classifier, with GAM).
PAPER = {"mlp": (0.517, 0.802), "gcn": (0.809, 0.848)}
PROTOCOL_COLOURS = {"package": "C0", "reference": "C1"}


def run_one(model: str, protocol: str, seed: int, data_dir: pathlib.Path,
            out_dir: pathlib.Path, extra) -> dict:
  results = run_gam_train(
      out_dir / f"{model}_{protocol}_seed{seed}",
      ["--dataset", "planetoid/cora", "--data-dir", data_dir, "--model",
       model, "--protocol", protocol, "--seed", seed, *extra])
  print(f"{model} {protocol} seed {seed}: round 0 "
        f"{results['baseline_test_accuracy']:.4f} -> GAM "
        f"{results['test_accuracy']:.4f} (round {results['best_round']} of "
        f"{len(results['rounds']) - 1}, {results['wall_seconds']:.0f} s)",
        flush=True)
  return results


def summarise(runs) -> dict:
  baseline = [r["baseline_test_accuracy"] for r in runs]
  gam = [r["test_accuracy"] for r in runs]
  gains = [g - b for g, b in zip(gam, baseline)]
  return {
      "seeds": [r["config"]["seed"] for r in runs],
      "baseline": dict(zip(("mean", "std"), mean_std(baseline))),
      "gam": dict(zip(("mean", "std"), mean_std(gam))),
      "gain": dict(zip(("mean", "std"), mean_std(gains))),
      "seeds_below_round_0": sum(gain < 0 for gain in gains),
      "best_rounds": [r["best_round"] for r in runs],
      "rounds_run": [len(r["rounds"]) - 1 for r in runs],
      "wall_seconds": dict(zip(("mean", "std"), mean_std(
          [r["wall_seconds"] for r in runs]))),
  }


def plot(summary: dict, runs: dict, path: pathlib.Path) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  models = sorted({model for model, _ in runs})
  figure, axes = plt.subplots(1, 1 + len(models),
                              figsize=(5 * (1 + len(models)), 4))
  bars, labels = axes[0], []
  for index, ((model, protocol), row) in enumerate(sorted(summary.items())):
    for offset, key in ((0, "baseline"), (1, "gam")):
      x = 2 * index + offset
      bars.bar(x, row[key]["mean"], yerr=row[key]["std"], capsize=3,
               color=PROTOCOL_COLOURS[protocol],
               alpha=0.5 if key == "baseline" else 1.0)
      bars.scatter(x, PAPER[model][offset], color="black", marker="_",
                   s=300, zorder=3)
      labels.append(f"{model.upper()}{'+GAM' if offset else ''}\n{protocol}")
  bars.set_xticks(range(len(labels)), labels, fontsize="x-small")
  bars.set_ylim(0.4, 0.9)
  bars.set_ylabel("Cora test accuracy (mean, std; black: paper)")
  for axis, model in zip(axes[1:], models):
    for (run_model, protocol), model_runs in sorted(runs.items()):
      if run_model != model:
        continue
      for i, results in enumerate(model_runs):
        rounds = results["rounds"]
        axis.plot([r["round"] for r in rounds],
                  [r["test_accuracy"] for r in rounds], alpha=0.6,
                  color=PROTOCOL_COLOURS[protocol],
                  label=protocol if i == 0 else None)
        best = results["best_round"]
        axis.scatter(best, rounds[best]["test_accuracy"], s=20,
                     color=PROTOCOL_COLOURS[protocol], zorder=3)
    axis.set_title(f"{model.upper()}128: test accuracy per round "
                   "(dot: chosen by validation)", fontsize="small")
    axis.set_xlabel("GAM round (0 = plain classifier)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data-dir", type=pathlib.Path,
                      default=ROOT / "datasets/planetoid/data/cora")
  parser.add_argument("--models", nargs="+", default=["gcn", "mlp"],
                      choices=sorted(PAPER))
  parser.add_argument("--protocols", nargs="+",
                      default=["package", "reference"],
                      choices=sorted(PROTOCOL_COLOURS))
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
  parser.add_argument("--out-dir", type=pathlib.Path,
                      default=ROOT / "benchmarks/out/gam_cora")
  parser.add_argument("--finished-only", action="store_true",
                      help="start no run: summarise the finished runs of "
                           "the given models, protocols and seeds")
  parser.add_argument("extra", nargs="*",
                      help="more gam-train options after --, for every run")
  args = parser.parse_args()

  runs = {}
  for model in args.models:
    for protocol in args.protocols:
      seeds = [seed for seed in args.seeds if not args.finished_only or (
          args.out_dir / f"{model}_{protocol}_seed{seed}"
          / "results.json").exists()]
      if seeds:
        runs[(model, protocol)] = [
            run_one(model, protocol, seed, args.data_dir, args.out_dir,
                    args.extra) for seed in seeds]
  summary = {key: summarise(value) for key, value in runs.items()}
  print("\n| model | protocol | seeds | round 0 (mean +- std) | GAM (mean +- "
        "std) | gain | seeds below round 0 | best / last round | wall time |")
  print("|---|---|---|---|---|---|---|---|---|")
  for (model, protocol), row in summary.items():
    print(f"| {model.upper()}128 | {protocol} | {row['seeds']} | "
          f"{row['baseline']['mean']:.4f} +- {row['baseline']['std']:.4f} | "
          f"{row['gam']['mean']:.4f} +- {row['gam']['std']:.4f} | "
          f"{100 * row['gain']['mean']:+.1f} | "
          f"{row['seeds_below_round_0']} of {len(row['seeds'])} | "
          f"{row['best_rounds']} / {row['rounds_run']} | "
          f"{row['wall_seconds']['mean']:.0f} +- "
          f"{row['wall_seconds']['std']:.0f} s |")
  args.out_dir.mkdir(parents=True, exist_ok=True)
  (args.out_dir / "summary.json").write_text(json.dumps(
      {f"{model}/{protocol}": row for (model, protocol), row in
       summary.items()}, indent=2))
  plot(summary, runs, ROOT / "benchmarks/gam_cora.png")


if __name__ == "__main__":
  main()
