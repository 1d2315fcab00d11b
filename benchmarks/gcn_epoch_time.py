"""Full-batch GCN training epoch time on Planetoid Cora.

Times `GCNNodeClassifier` trained with `model.fit` (one full-batch step per
epoch, as users run it) against a bare TensorFlow reference measured in the
same run: a `tf.function` GCN step with `tf.sparse.sparse_dense_matmul`, dense
features and Keras Adam. Prints the median epoch time of each after warm-up
and their ratio.

  python benchmarks/gcn_epoch_time.py --data-dir ../shared/data/planetoid/cora
"""

import argparse
import os
import pathlib
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # pylint: disable=g-import-not-at-top
import numpy as np
import tensorflow as tf

from graph_models import training
from graph_models.sources import load_graph

ROOT = pathlib.Path(__file__).resolve().parents[1]


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
  model.fit(train, epochs=warmup + epochs, verbose=0, callbacks=[timer])
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


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--data-dir", type=pathlib.Path,
                      default=ROOT.parent / "shared/data/planetoid/cora")
  parser.add_argument("--epochs", type=int, default=100)
  parser.add_argument("--warmup", type=int, default=10)
  args = parser.parse_args()
  graph = load_graph("planetoid/cora", args.data_dir)
  print(f"{graph}; {tf.config.threading.get_intra_op_parallelism_threads()} "
        f"intra-op threads, {os.cpu_count()} CPUs")
  print(f"{'hidden':>6} {'ours_ms':>8} {'bare_tf_ms':>10} {'ratio':>6}")
  for hidden in (16, 128):
    ours = statistics.median(time_ours(graph, hidden, args.epochs,
                                       args.warmup)) * 1e3
    bare = statistics.median(time_bare_tf(graph, hidden, args.epochs,
                                          args.warmup)) * 1e3
    print(f"{hidden:>6} {ours:>8.1f} {bare:>10.1f} {ours / bare:>6.2f}",
          flush=True)


if __name__ == "__main__":
  main()
