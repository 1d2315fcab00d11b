"""Shared by the GAM benchmarks: resumable `gam-train --gam` runs."""

import json
import pathlib
import statistics
import subprocess
import sys
import time


def run_gam_train(run_dir: pathlib.Path, arguments) -> dict:
  """Runs `python -m gam --gam <arguments> --output run_dir` once.

  A run whose `results.json` exists is not rerun; an interrupted one resumes
  from its checkpoints. The wall time is added to `results.json`.
  """
  results_path = run_dir / "results.json"
  if not results_path.exists():
    run_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "gam", "--gam", *map(str, arguments),
               "--output", str(run_dir)]
    start = time.perf_counter()
    with open(run_dir / "log.txt", "a") as log:
      subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    results = json.loads(results_path.read_text())
    results["wall_seconds"] = time.perf_counter() - start
    results_path.write_text(json.dumps(results, indent=2))
  return json.loads(results_path.read_text())


def mean_std(values):
  values = list(values)
  return (statistics.mean(values),
          statistics.stdev(values) if len(values) > 1 else 0.0)
