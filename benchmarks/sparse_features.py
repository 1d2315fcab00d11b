"""Sparse against dense node features: a training step of every classifier
with a sparse path, on Cora's bag of words (1.3% non-zero), same run.

Each classifier is trained with `model.fit` on packed batches of Cora's
nodes (the GCN: full-batch steps), once with the features as Planetoid
stores them (sparse: `training.node_datasets` keeps them sparse up to the
first layer) and once with the same values as a dense matrix. Prints the
median step time of each after warm-up (over `--seeds` runs), `sparse /
dense`, and the mean test accuracy of each over the seeds after the run's
steps (the sparse path must not change what the model learns, only the
dropout masks it draws). `--threads 1` pins TF to one intra- and one
inter-op thread.

  python benchmarks/sparse_features.py
  python benchmarks/sparse_features.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from graph_models import training  # pylint: disable=g-import-not-at-top
from gam_datasets import load_graph  # pylint: disable=g-import-not-at-top

OUT = pathlib.Path(__file__).resolve().parent / "out"
MODELS = ("mlp", "commnet", "graphsage", "gcn")


class StepTimer(keras.callbacks.Callback):

  def __init__(self):
    super().__init__()
    self.seconds = []

  def on_train_batch_begin(self, batch, logs=None):
    self._start = time.perf_counter()

  def on_train_batch_end(self, batch, logs=None):
    self.seconds.append(time.perf_counter() - self._start)


def train(graph, name: str, steps: int, seed: int = 0):
  """`(step seconds, test accuracy)` of `name` trained for `steps` steps."""
  training.seed_everything(seed)
  model = training.build_classifier(name, graph.num_classes,
                                    hidden_units=(64,))
  training.compile_classifier(model, 0.01)
  datasets = training.node_datasets(
      graph, model, training.TrainingOptions(batch_size=128))
  timer = StepTimer()
  model.fit(datasets["train"].repeat(), epochs=1, steps_per_epoch=steps,
            callbacks=[timer], verbose=0)
  accuracy = model.evaluate(datasets["test"], verbose=0, return_dict=True)
  return timer.seconds, accuracy["accuracy"]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--models", nargs="+", default=list(MODELS),
                      choices=MODELS)
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--warmup", type=int, default=20)
  parser.add_argument("--seeds", type=int, default=3)
  parser.add_argument("--threads", type=int, default=0,
                      help="TF intra- and inter-op threads (0: TF's default)")
  args = parser.parse_args()
  if args.threads:
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  sparse = load_graph("planetoid/cora", row_normalize=True)
  graphs = {"sparse": sparse,
            "dense": sparse.replace(features=sparse.dense_features())}
  print(f"{'model':>10} {'sparse_ms':>9} {'dense_ms':>8} {'ratio':>6} "
        f"{'sparse_acc':>10} {'dense_acc':>9}", flush=True)
  rows = []
  for name in args.models:
    row = {"model": name, "threads": args.threads}
    for kind, graph in graphs.items():
      runs = [train(graph, name, args.warmup + args.steps, seed)
              for seed in range(args.seeds)]
      row[f"{kind}_ms"] = statistics.median(
          s for seconds, _ in runs for s in seconds[args.warmup:]) * 1e3
      row[f"{kind}_accuracy"] = statistics.mean(a for _, a in runs)
    row["sparse_over_dense"] = row["sparse_ms"] / row["dense_ms"]
    rows.append(row)
    print(f"{name:>10} {row['sparse_ms']:>9.2f} {row['dense_ms']:>8.2f} "
          f"{row['sparse_over_dense']:>6.2f} {row['sparse_accuracy']:>10.3f} "
          f"{row['dense_accuracy']:>9.3f}", flush=True)
  OUT.mkdir(parents=True, exist_ok=True)
  (OUT / f"sparse_features_threads{args.threads}.json").write_text(
      json.dumps(rows, indent=2))


if __name__ == "__main__":
  main()
