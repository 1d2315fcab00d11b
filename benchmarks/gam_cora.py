"""Reproduces the GAM table on Planetoid Cora: MLP128 and GCN128, with and
without GAM, over several seeds.

Each (model, seed) is one `gam-train --gam` run of the real Cora files; its
round 0 is the plain classifier (the baseline row) and its best-validation
round is the GAM row, as in the paper's protocol. Runs are resumable: a
finished run is skipped, an interrupted one resumes from its checkpoint.

  python benchmarks/gam_cora.py --data-dir datasets/planetoid/data/cora \
      --seeds 0 1 2 3 4 --models gcn mlp

Prints a table of mean +- std test accuracy, wall time per run, and writes
`benchmarks/out/gam_cora/summary.json` and `benchmarks/gam_cora.png`.
"""

import argparse
import json
import pathlib

from gam_runs import mean_std, run_gam_train

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Per model: the settings of the paper's runs, adapted where measured here
# (see benchmarks/README.md).
SETTINGS = {
    "gcn": ["--hidden", "128", "--learning-rate", "0.01", "--epochs", "300",
            "--patience", "100", "--num-pairs", "512", "--reg-weight-lu", "10",
            "--reg-weight-uu", "5"],
    "mlp": ["--hidden", "128", "--learning-rate", "0.001", "--epochs", "400",
            "--patience", "100", "--steps-per-epoch", "10", "--batch-size",
            "128", "--num-pairs", "128", "--reg-weight-lu", "100",
            "--reg-weight-uu", "50"],
}
PAPER = {"mlp": (0.517, 0.802), "gcn": (0.809, 0.848)}


def run_one(model: str, seed: int, data_dir: pathlib.Path, rounds: int,
            out_dir: pathlib.Path) -> dict:
  results = run_gam_train(
      out_dir / f"{model}_seed{seed}",
      ["--dataset", "planetoid/cora", "--data-dir", data_dir, "--model",
       model, "--seed", seed, "--rounds", rounds, *SETTINGS[model]])
  print(f"{model} seed {seed}: round 0 {results['baseline_test_accuracy']:.4f}"
        f" -> GAM {results['test_accuracy']:.4f} (best round "
        f"{results['best_round']}, {results.get('wall_seconds', 0):.0f} s)",
        flush=True)
  return results


def plot(summary: dict, runs: dict, path: pathlib.Path) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  figure, (bars, curves) = plt.subplots(1, 2, figsize=(11, 4))
  labels, means, stds, paper = [], [], [], []
  for model, row in summary.items():
    for key, name, index in (("baseline", model.upper() + "128", 0),
                             ("gam", model.upper() + "128+GAM", 1)):
      labels.append(name)
      means.append(row[key]["mean"])
      stds.append(row[key]["std"])
      paper.append(PAPER[model][index])
  positions = range(len(labels))
  bars.bar(positions, means, yerr=stds, capsize=4, label="ours (mean, std)")
  bars.scatter(positions, paper, color="black", marker="_", s=400, zorder=3,
               label="paper (corrected)")
  bars.set_xticks(list(positions), labels)
  bars.set_ylim(0.4, 0.9)
  bars.set_ylabel("Cora test accuracy")
  bars.legend(loc="lower right", fontsize="small")
  for model, model_runs in runs.items():
    for results in model_runs:
      rounds = results["rounds"]
      curves.plot([r["round"] for r in rounds],
                  [r["test_accuracy"] for r in rounds], alpha=0.6,
                  color="C0" if model == "gcn" else "C1",
                  label=f"{model.upper()}128" if results is model_runs[0]
                  else None)
  curves.set_xlabel("GAM round (0 = plain classifier)")
  curves.set_ylabel("test accuracy per round, each seed")
  curves.grid(alpha=0.3)
  curves.legend(fontsize="small")
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data-dir", type=pathlib.Path,
                      default=ROOT / "datasets/planetoid/data/cora")
  parser.add_argument("--models", nargs="+", default=["gcn", "mlp"],
                      choices=sorted(SETTINGS))
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
  parser.add_argument("--rounds", type=int, default=8)
  parser.add_argument("--out-dir", type=pathlib.Path,
                      default=ROOT / "benchmarks/out/gam_cora")
  args = parser.parse_args()

  runs = {model: [run_one(model, seed, args.data_dir, args.rounds,
                          args.out_dir) for seed in args.seeds]
          for model in args.models}
  summary = {}
  print("\n| model | seeds | test accuracy (mean +- std) | paper | "
        "best round | wall time per run |")
  print("|---|---|---|---|---|---|")
  for model, model_runs in runs.items():
    baseline = mean_std([r["baseline_test_accuracy"] for r in model_runs])
    gam = mean_std([r["test_accuracy"] for r in model_runs])
    wall = mean_std([r.get("wall_seconds", r["seconds"]) for r in model_runs])
    summary[model] = {
        "seeds": args.seeds,
        "baseline": {"mean": baseline[0], "std": baseline[1]},
        "gam": {"mean": gam[0], "std": gam[1]},
        "best_rounds": [r["best_round"] for r in model_runs],
        "wall_seconds": {"mean": wall[0], "std": wall[1]},
    }
    name = model.upper() + "128"
    print(f"| {name} | {len(model_runs)} | {baseline[0]:.4f} +- "
          f"{baseline[1]:.4f} | {PAPER[model][0]:.3f} | 0 | (round 0) |")
    print(f"| {name}+GAM | {len(model_runs)} | {gam[0]:.4f} +- {gam[1]:.4f} "
          f"| {PAPER[model][1]:.3f} | {summary[model]['best_rounds']} | "
          f"{wall[0]:.0f} +- {wall[1]:.0f} s |")
  args.out_dir.mkdir(parents=True, exist_ok=True)
  (args.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
  plot(summary, runs, ROOT / "benchmarks/gam_cora.png")


if __name__ == "__main__":
  main()
