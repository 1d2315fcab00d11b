"""GAM rounds on one worker and on two worker processes (127.0.0.1): the same
labels and weights, and the pair scoring shared between the workers.

Runs round 0 and `--rounds` GAM rounds of the full-batch GCN on a Flickr-like
graph of `--nodes` nodes (average degree 20, 64 features, 5% labelled; the
graph of `gam_scale.py`), first in one process with the default strategy,
then in two processes joined by `MultiWorkerMirroredStrategy` through
`TF_CONFIG`. The GCN runs every full-batch step whole on each replica, so
both runs must train the same model; what the workers share is the scoring
of every LU / UU edge pair with the agreement model (`distribution.
map_shards`), each worker scoring its half and the halves all-gathered.

Each process reports, per GAM round, the seconds spent scoring pairs (the
`map_shards` calls, timed here, which include the all-gather's wait for the
slower worker), the seconds its own share of the scoring took
(`share_seconds`), the round's `pairs_seconds` (building the
pair tables, which every worker does, plus the scoring), a hash of the
agreement weights of every pair and of the label table after the round's
self-labelling, and at the end a hash of the model's weights. Prints the
per-worker scoring time over the single worker's and whether every hash
matches; writes `benchmarks/out/gam_workers.json`.

On one 2-core machine a process alone uses both cores where each of two
workers gets one, so the share's time halves only with the threads pinned
(`--threads 1`, both runs); on separate machines each worker keeps its
own cores.

  python benchmarks/gam_workers.py --nodes 100000 --threads 1
"""

import argparse
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
sys.path.insert(0, str(ROOT))


def digest(*arrays) -> str:
  """A short hash of arrays' bytes: equal hashes, bit-identical arrays."""
  sha = hashlib.sha256()
  for array in arrays:
    sha.update(np.ascontiguousarray(array).tobytes())
  return sha.hexdigest()[:16]


def run_worker(args: argparse.Namespace) -> dict:
  """One process's run (a worker of the cluster in `TF_CONFIG`, if set)."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  if args.threads:
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  from graph_models.distribution import make_strategy
  # A multi-worker strategy must exist before any other TF operation.
  strategy = make_strategy(
      "multi_worker" if "TF_CONFIG" in os.environ else "default")
  import gam
  from gam import graph_agreement_model
  from gam.agreement import agreement_probabilities
  from gam.round_callbacks import RoundCallback
  from benchmarks.gam_scale import flickr_graph, package_gam
  # pylint: enable=g-import-not-at-top

  scoring = []  # seconds of each map_shards call, the gather included
  computing = []  # seconds of this worker's share of each call
  shard = graph_agreement_model.map_shards

  def timed_shard(strategy, function, *shard_args, **kwargs):
    def timed_function(start, stop):
      begin = time.perf_counter()
      result = function(start, stop)
      computing.append(time.perf_counter() - begin)
      return result
    begin = time.perf_counter()
    result = shard(strategy, timed_function, *shard_args, **kwargs)
    scoring.append(time.perf_counter() - begin)
    return result
  graph_agreement_model.map_shards = timed_shard

  rounds = []

  class Recording(gam.GraphAgreementModel):
    """Keeps hashes of each round's pair weights and label table."""

    def _regularization_pairs(self, graph, labels, agreement):
      calls, shares = len(scoring), len(computing)
      pairs, agreement = super()._regularization_pairs(graph, labels,
                                                       agreement)
      seconds = sum(scoring[calls:])
      share_seconds = sum(computing[shares:])
      # The shares gathered from the workers against this process scoring
      # every pair itself with the same agreement model.
      alone = {kind: (self.options.regularization.weight(kind) *
                      agreement_probabilities(
                          self.agreement_model, graph, pairs.left[kind],
                          pairs.right[kind])).astype(np.float32)
               for kind in ("lu", "uu") if kind in pairs.kinds}
      rounds.append({
          "scoring_seconds": seconds,
          "share_seconds": share_seconds,
          "shares_equal_scoring_alone": all(
              np.array_equal(pairs.weights[kind], alone[kind])
              for kind in alone),
          "pair_weights": digest(*(pairs.weights[k] for k in pairs.kinds)),
          "weights_file": str(args.arrays / f"round{len(rounds) + 1}_"
                              f"{os.getpid()}.npz")})
      np.savez(rounds[-1]["weights_file"], **pairs.weights)
      return pairs, agreement

    def _self_label(self, run, labels, probabilities):
      result = super()._self_label(run, labels, probabilities)
      if rounds:
        rounds[-1]["labels"] = digest(labels)
      return result

  class EndAfter(RoundCallback):

    def on_round_end(self, round_index, logs=None):
      if round_index >= args.rounds:
        self.model.stop_training = True

  graph = flickr_graph(args.nodes)
  with strategy.scope():
    model, _ = package_gam(
        Recording, graph, "gcn", max_rounds=args.rounds + 1,
        epochs=args.epochs, patience=args.epochs,
        num_samples_to_label=graph.num_nodes // 100,
        agreement_steps=args.agreement_steps)
  history = model.fit(graph, verbose=0, callbacks=[EndAfter()])
  gam_rounds = [r for r in history.rounds if r.round > 0]
  for row, record in zip(rounds, gam_rounds):
    row.update(round=record.round, pairs_seconds=record.pairs_seconds,
               val_accuracy=record.val_scores["accuracy"])
  return {"replicas": strategy.num_replicas_in_sync, "rounds": rounds,
          "weights": digest(*model.get_weights())}


def launch(args: argparse.Namespace, workers: int) -> list:
  """Every worker's result, from `workers` processes."""
  from tests.cluster import worker_tf_configs  # pylint: disable=g-import-not-at-top
  configs = worker_tf_configs(workers) if workers > 1 else [None]
  command = [sys.executable, __file__, "--worker", "--nodes",
             str(args.nodes), "--rounds", str(args.rounds), "--epochs",
             str(args.epochs), "--agreement-steps", str(args.agreement_steps),
             "--arrays", str(args.arrays), "--threads", str(args.threads)]
  processes = [subprocess.Popen(
      command, stdout=subprocess.PIPE, text=True, cwd=ROOT,
      env={**os.environ, **({"TF_CONFIG": config} if config else {})})
               for config in configs]
  results = []
  for process in processes:
    stdout, _ = process.communicate()
    if process.returncode:
      raise SystemExit(f"a worker failed with exit code {process.returncode}")
    results.append(json.loads(stdout.strip().splitlines()[-1]))
  return results


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--nodes", type=int, default=100_000)
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--epochs", type=int, default=20)
  parser.add_argument("--agreement-steps", type=int, default=500)
  parser.add_argument("--threads", type=int, default=0,
                      help="TensorFlow threads per process (0: its default)")
  parser.add_argument("--worker", action="store_true",
                      help=argparse.SUPPRESS)
  parser.add_argument("--arrays", type=pathlib.Path, default=OUT / "workers",
                      help="where each process writes its pair weights")
  args = parser.parse_args()
  args.arrays.mkdir(parents=True, exist_ok=True)
  if args.worker:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(json.dumps(run_worker(args)), flush=True)
    return
  single, = launch(args, 1)
  pair = launch(args, 2)
  print(f"{'round':>5} {'one_worker_s':>12} {'two_workers_s':>13} "
        f"{'ratio':>6} {'share_one_s':>11} {'share_two_s':>11} "
        f"{'ratio':>6} {'max_weight_diff':>15} {'shares_exact':>12}")
  for index, one in enumerate(single["rounds"]):
    alone = np.load(one["weights_file"])
    for worker in pair:
      two = np.load(worker["rounds"][index]["weights_file"])
      worker["rounds"][index]["max_weight_diff"] = max(
          float(np.max(np.abs(alone[kind] - two[kind]), initial=0.0))
          for kind in alone)
    slowest = max(w["rounds"][index]["scoring_seconds"] for w in pair)
    share = max(w["rounds"][index]["share_seconds"] for w in pair)
    print(f"{one['round']:>5} {one['scoring_seconds']:>12.2f} "
          f"{slowest:>13.2f} {slowest / one['scoring_seconds']:>6.2f} "
          f"{one['share_seconds']:>11.2f} {share:>11.2f} "
          f"{share / one['share_seconds']:>6.2f} "
          f"{max(w['rounds'][index]['max_weight_diff'] for w in pair):>15.2e} "
          f"{all(w['rounds'][index]['shares_equal_scoring_alone'] for w in pair)!s:>12}")
  for name in ("labels", "pair_weights"):
    print(f"same {name} in every round: " + str(all(
        [r[name] for r in w["rounds"]] == [r[name] for r in single["rounds"]]
        for w in pair)))
  print("same model weights: "
        + str(all(w["weights"] == single["weights"] for w in pair)))
  (OUT / "gam_workers.json").write_text(json.dumps(
      {"nodes": args.nodes, "threads": args.threads, "one_worker": single,
       "two_workers": pair},
      indent=2))


if __name__ == "__main__":
  main()
