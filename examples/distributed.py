"""Graph-regularised CommNet training under a `tf.distribute` strategy.

The same model code runs on one device, on all local GPUs, on several
machines and on a Cloud TPU; only the strategy changes:

  # Two logical CPU devices (try MirroredStrategy without accelerators):
  python examples/distributed.py --strategy mirrored --logical-cpus 2

  # Every local GPU:
  python examples/distributed.py --strategy mirrored

  # Two machines (or two processes on one): the same command on each, with
  # TF_CONFIG naming the cluster and this process's place in it.
  TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]},
              "task": {"type": "worker", "index": 0}}' \
      python examples/distributed.py --strategy multi_worker

  # A Cloud TPU (static shapes and XLA are switched on for it):
  python examples/distributed.py --strategy tpu --tpu local

`--batch-size` is the global batch: each of the strategy's replicas gets an
equal share of it, so keep it a multiple of the replica count. Prints a
JSON line with the strategy, the replica count and the test accuracy.
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top,wrong-import-position
from graph_models.distribution import (STRATEGIES, configure_logical_cpus,
                                       make_strategy)


def parse_args() -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n", 1)[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument("--strategy", default="mirrored", choices=STRATEGIES)
  parser.add_argument("--tpu", help="TPU name or address (--strategy tpu)")
  parser.add_argument("--logical-cpus", type=int,
                      help="split the CPU into this many devices first")
  parser.add_argument("--dataset", default="flickr_synthetic_small")
  parser.add_argument("--epochs", type=int, default=40)
  parser.add_argument("--batch-size", type=int, default=64,
                      help="global batch size")
  parser.add_argument("--max-neighbors", type=int, default=5)
  parser.add_argument("--static-shapes", action="store_true",
                      help="pad the last batch (always on for tpu)")
  parser.add_argument("--jit-compile", action="store_true",
                      help="compile the steps with XLA (always on for tpu)")
  parser.add_argument("--seed", type=int, default=0)
  return parser.parse_args()


def main() -> None:
  args = parse_args()
  # Device layout and multi-worker clusters must be set up before any other
  # TensorFlow operation in the process.
  if args.logical_cpus:
    configure_logical_cpus(args.logical_cpus)
  strategy = make_strategy(args.strategy, args.tpu)
  on_tpu = args.strategy == "tpu"
  static_shapes = args.static_shapes or on_tpu
  jit_compile = args.jit_compile or on_tpu

  import keras

  import graph_models as gm
  from gam import GraphRegularizationModel
  from graph_models import nsl, training
  from gam_datasets import load_graph

  training.seed_everything(args.seed, deterministic_ops=not jit_compile)
  graph = load_graph(args.dataset, seed=args.seed)

  def batches(split: str, shuffle: bool):
    return gm.packed_dataset(
        graph, graph.split_nodes(split), args.max_neighbors,
        batch_size=args.batch_size, shuffle=shuffle, seed=args.seed,
        pad_remainder=static_shapes)

  # Variables (model and optimizer) are created under the strategy.
  with strategy.scope():
    model = GraphRegularizationModel(
        config=nsl.make_graph_reg_config(max_neighbors=args.max_neighbors,
                                         multiplier=0.02),
        node_model_fn=lambda: gm.GraphConvolutionalNodeClassifier(
            num_classes=graph.num_classes, hidden_units=(64,)))
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # Weighted: the padding of static-shape batches has weight 0.
        weighted_metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile)
  model.fit(batches("train", shuffle=True), epochs=args.epochs,
            validation_data=batches("val", shuffle=False), verbose=2)
  scores = model.evaluate(batches("test", shuffle=False), verbose=0,
                          return_dict=True)
  print(json.dumps({"strategy": args.strategy,
                    "replicas": strategy.num_replicas_in_sync,
                    "static_shapes": static_shapes,
                    "jit_compile": jit_compile,
                    "test_accuracy": scores["accuracy"]}))


if __name__ == "__main__":
  main()
