"""Mini-batch training on graphs too large for full-batch training: memory
and throughput at 100k and 1M nodes, side by side.

For each size, a fresh process generates a Flickr-like graph (average degree
20: 2M / 20M directed edges, i.e. 1M / 10M undirected ones, 64 features,
7 classes, 70% of the nodes labelled for training) and then

1. trains `GraphConvolutionalNodeClassifier` (CommNet64) with `model.fit` on
   neighbour-packed batches (5 neighbours, batch 512) for one epoch over
   every training node;
2. builds GAM's LL / LU / UU edge pairs of the whole graph (plain weights:
   the pair tables a GAM round holds) and draws `--pair-steps` training
   elements of `regularized_dataset` (512 labelled nodes plus 512 pairs of
   each kind per step, packed with their neighbourhoods).

Each process reports its peak resident memory (`ru_maxrss`) after each
phase, so memory growth with the graph is visible. Writes
`benchmarks/out/scale_minibatch.json`.

  python benchmarks/scale_minibatch.py --nodes 100000 1000000
"""

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def peak_rss_gib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def measure(num_nodes: int, batch_size: int, pair_steps: int) -> dict:
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  # pylint: disable=g-import-not-at-top
  import numpy as np

  from gam.agreement_regularization import (AgreementRegularization,
                                            RegularizationPairs,
                                            regularized_dataset)
  from graph_models import training
  from gam_datasets.synthetic import generate_flickr_like
  # pylint: enable=g-import-not-at-top

  result = {"nodes": num_nodes}
  start = time.perf_counter()
  num_labelled = int(0.7 * num_nodes)
  graph = generate_flickr_like(
      num_nodes=num_nodes, num_features=64, avg_degree=20.0,
      labels_per_class=num_labelled // 7, num_val=num_nodes // 20,
      num_test=num_nodes // 20, seed=0)
  result.update(edges=graph.num_edges,
                train_nodes=int(graph.split_nodes("train").size),
                generate_seconds=time.perf_counter() - start,
                peak_rss_gib_after_graph=peak_rss_gib())
  print(f"{graph}: generated in {result['generate_seconds']:.0f} s",
        flush=True)

  training.seed_everything(0)
  model = training.build_classifier("commnet", graph.num_classes,
                                    hidden_units=(64,))
  training.compile_classifier(model, 0.01)
  options = training.TrainingOptions(batch_size=batch_size, max_neighbors=5)
  train = training.node_datasets(graph, model, options)["train"]
  start = time.perf_counter()
  history = model.fit(train, epochs=1, verbose=2, shuffle=False)
  epoch_seconds = time.perf_counter() - start
  result.update(epoch_seconds=epoch_seconds,
                train_nodes_per_second=result["train_nodes"] / epoch_seconds,
                train_accuracy=float(history.history["accuracy"][-1]),
                peak_rss_gib_after_epoch=peak_rss_gib())

  start = time.perf_counter()
  labels = np.where(graph.train_mask, graph.labels, -1)
  pairs = RegularizationPairs.build(
      graph, labels, AgreementRegularization(batch_size, reg_weight_ll=1.0),
      lambda left, right: np.ones(len(left), np.float32))
  result.update(pair_counts={kind: pairs.count(kind) for kind in pairs.kinds},
                pairs_build_seconds=time.perf_counter() - start)
  dataset = regularized_dataset(
      graph, graph.split_nodes("train"), labels, pairs, batch_size,
      full_batch=False, max_neighbors=5, batch_size=batch_size)
  iterator = iter(dataset)
  next(iterator)  # builds the pipeline
  start = time.perf_counter()
  for _ in range(pair_steps):
    next(iterator)
  seconds = time.perf_counter() - start
  result.update(pair_steps_per_second=pair_steps / seconds,
                peak_rss_gib=peak_rss_gib())
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--nodes", nargs="+", type=int,
                      default=[100_000, 1_000_000])
  parser.add_argument("--batch-size", type=int, default=512)
  parser.add_argument("--pair-steps", type=int, default=200)
  parser.add_argument("--child", action="store_true",
                      help=argparse.SUPPRESS)  # one size in this process
  args = parser.parse_args()
  if args.child:
    print(json.dumps(measure(args.nodes[0], args.batch_size,
                             args.pair_steps)), flush=True)
    return
  rows = []
  for nodes in args.nodes:
    # A process per size: each peak RSS is that size's alone.
    output = subprocess.run(
        [sys.executable, __file__, "--child", "--nodes", str(nodes),
         "--batch-size", str(args.batch_size), "--pair-steps",
         str(args.pair_steps)], check=True, stdout=subprocess.PIPE, text=True)
    rows.append(json.loads(output.stdout.strip().splitlines()[-1]))
    print(json.dumps(rows[-1]), flush=True)
  print(f"{'nodes':>9} {'edges':>10} {'epoch_s':>8} {'nodes/s':>8} "
        f"{'pairs steps/s':>13} {'peak RSS GiB':>12}")
  for row in rows:
    print(f"{row['nodes']:>9} {row['edges']:>10} {row['epoch_seconds']:>8.1f} "
          f"{row['train_nodes_per_second']:>8.0f} "
          f"{row['pair_steps_per_second']:>13.1f} {row['peak_rss_gib']:>12.2f}")
  OUT.mkdir(parents=True, exist_ok=True)
  (OUT / "scale_minibatch.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
  main()
