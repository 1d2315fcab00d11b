"""Full-batch GCN training epoch: ours against PyTorch Geometric, same run.

On each graph (Planetoid Cora; a synthetic graph of GraphSAINT Flickr's size,
89,250 nodes, about 900k directed edges, 500 features, 7 classes) and hidden
width, times in one run:

* `ours_ms`: `GCNNodeClassifier` trained with `model.fit`, one full-batch
  step per epoch, as users run it (Keras' per-epoch work included);
* `bare_tf_ms`: a hand-written `tf.function` GCN step (sparse-dense matmul,
  dense features, Keras Adam), the floor for TensorFlow on this machine;
* `pyg_ms`: PyG's 2-layer `GCNConv` model (`pyg_gcn_epoch.py`) in a side
  environment with torch 2.13.0 (CPU) and torch_geometric, made on first
  use in `benchmarks/.pyg-venv`.

Prints the median epoch time of each after warm-up and `ours / pyg`, and
writes `benchmarks/out/gcn_vs_pyg_threads<N>.json`. `--threads 1` pins both
libraries to one thread (TF's intra- and inter-op pools, torch's
`set_num_threads`), which compares per-core speed; the default, 0, leaves
each library its own default.

  python benchmarks/gcn_vs_pyg.py
  python benchmarks/gcn_vs_pyg.py --threads 1
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # pylint: disable=g-import-not-at-top
import numpy as np
import tensorflow as tf

from graph_models import training
from gam_datasets import load_graph
from gam_datasets.synthetic import generate_flickr_like

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
PYG_VENV = ROOT / "benchmarks" / ".pyg-venv"
PYG_SCRIPT = ROOT / "benchmarks" / "pyg_gcn_epoch.py"


class EpochTimer(keras.callbacks.Callback):

  def __init__(self):
    super().__init__()
    self.seconds = []

  def on_epoch_begin(self, epoch, logs=None):
    self._start = time.perf_counter()

  def on_epoch_end(self, epoch, logs=None):
    self.seconds.append(time.perf_counter() - self._start)


def time_ours(graph, hidden, epochs, warmup):
  training.seed_everything(0)
  model = training.build_classifier("gcn", graph.num_classes,
                                    hidden_units=(hidden,))
  training.compile_classifier(model, 0.01)
  train = training.node_datasets(graph, model, training.TrainingOptions())[
      "train"]
  timer = EpochTimer()
  model.fit(train, epochs=warmup + epochs, verbose=0, callbacks=[timer],
            shuffle=False)
  return timer.seconds[warmup:]


def time_bare_tf(graph, hidden, epochs, warmup):
  """The reference: a hand-written TF GCN step, no Keras model or fit loop."""
  adjacency = graph.kipf_normalized().adjacency.tocoo()
  a = tf.sparse.reorder(tf.SparseTensor(
      np.stack([adjacency.row, adjacency.col], 1).astype(np.int64),
      adjacency.data, adjacency.shape))
  x = tf.constant(graph.dense_features())
  train = graph.split_nodes("train")
  y = tf.constant(graph.labels[train])
  train = tf.constant(train)
  init = keras.initializers.GlorotUniform(seed=0)
  w0 = tf.Variable(init((graph.num_features, hidden)))
  w1 = tf.Variable(init((hidden, graph.num_classes)))
  optimizer = keras.optimizers.Adam(0.01)
  optimizer.build([w0, w1])

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      h = tf.nn.relu(tf.sparse.sparse_dense_matmul(
          a, tf.nn.dropout(x, 0.5) @ w0))
      logits = tf.sparse.sparse_dense_matmul(a, tf.nn.dropout(h, 0.5) @ w1)
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          y, tf.gather(logits, train))) + 5e-4 * tf.nn.l2_loss(w0)
    grads = tape.gradient(loss, [w0, w1])
    optimizer.apply(grads, [w0, w1])
    return loss

  seconds = []
  for _ in range(warmup + epochs):
    start = time.perf_counter()
    step().numpy()
    seconds.append(time.perf_counter() - start)
  return seconds[warmup:]


def pyg_python() -> pathlib.Path:
  """The side environment's Python, made on first use (torch's CPU build
  lies on disk here for `torch==2.13.0`; torch_geometric is pure Python)."""
  python = PYG_VENV / "bin" / "python"
  if not python.exists():
    subprocess.run([sys.executable, "-m", "venv", str(PYG_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q",
                    "torch==2.13.0", "torch_geometric"], check=True)
  return python


def time_pyg(graph, name, hidden, epochs, warmup, threads):
  path = OUT / f"{name}_graph.npz"
  if not path.exists():
    senders, receivers, weights = graph.edges()
    np.savez(path, features=graph.dense_features(), labels=graph.labels,
             train=graph.split_nodes("train"), senders=senders,
             receivers=receivers, weights=weights)
  result = subprocess.run(
      [str(pyg_python()), str(PYG_SCRIPT), str(path), "--hidden", str(hidden),
       "--epochs", str(epochs), "--warmup", str(warmup),
       "--threads", str(threads)],
      capture_output=True, text=True, check=True)
  return json.loads(result.stdout.strip().splitlines()[-1])["seconds"]


def flickr_sized_graph():
  """GraphSAINT Flickr's shape: 89,250 nodes, about 900k directed edges, 500
  features, 7 classes."""
  return generate_flickr_like(num_nodes=89_250, num_features=500,
                              avg_degree=10.0, seed=0)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--data-dir", type=pathlib.Path,
                      help="another copy of the Planetoid Cora files "
                           "(default: the package's)")
  parser.add_argument("--graphs", nargs="+", default=["cora", "flickr_sized"],
                      choices=["cora", "flickr_sized"])
  parser.add_argument("--hidden", nargs="+", type=int, default=[16, 128])
  parser.add_argument("--epochs", type=int, default=50)
  parser.add_argument("--warmup", type=int, default=10)
  parser.add_argument("--threads", type=int, default=0,
                      help="threads for both libraries (0: their defaults)")
  args = parser.parse_args()
  if args.threads:
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  OUT.mkdir(parents=True, exist_ok=True)
  print(f"{tf.config.threading.get_intra_op_parallelism_threads()} TF "
        f"intra-op threads (0 = all), {os.cpu_count()} CPUs", flush=True)
  print(f"{'graph':>12} {'hidden':>6} {'ours_ms':>8} {'bare_tf_ms':>10} "
        f"{'pyg_ms':>7} {'ours/pyg':>8} {'bare/pyg':>8}", flush=True)
  rows = []
  for name in args.graphs:
    graph = (load_graph("planetoid/cora", manual_dir=args.data_dir,
                        row_normalize=True) if name == "cora"
             else flickr_sized_graph())
    for hidden in args.hidden:
      times = {label: statistics.median(timer(graph, hidden, args.epochs,
                                              args.warmup)) * 1e3
               for label, timer in (
                   ("ours_ms", time_ours), ("bare_tf_ms", time_bare_tf),
                   ("pyg_ms", lambda *a, n=name: time_pyg(a[0], n, *a[1:],
                                                         args.threads)))}
      row = dict(graph=name, nodes=graph.num_nodes, edges=graph.num_edges,
                 features=graph.num_features, hidden=hidden, **times,
                 ours_over_pyg=times["ours_ms"] / times["pyg_ms"],
                 bare_over_pyg=times["bare_tf_ms"] / times["pyg_ms"])
      rows.append(row)
      print(f"{name:>12} {hidden:>6} {row['ours_ms']:>8.1f} "
            f"{row['bare_tf_ms']:>10.1f} {row['pyg_ms']:>7.1f} "
            f"{row['ours_over_pyg']:>8.2f} {row['bare_over_pyg']:>8.2f}",
            flush=True)
  (OUT / f"gcn_vs_pyg_threads{args.threads}.json").write_text(
      json.dumps(rows, indent=2))


if __name__ == "__main__":
  main()
