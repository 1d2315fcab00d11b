"""A full GAM run at scale: round 0 and GAM rounds of the CommNet
classifier on Flickr-like graphs of 100k, 1M and 10M nodes, every phase
timed, peak memory measured.

For each size, a fresh process (so that `ru_maxrss` is that size's alone)
memory-maps a Flickr-like graph (average degree 20: 2M / 20M / 200M
directed edges, i.e. 1M / 10M / 100M undirected ones, 64 features, 7
classes; generated once into `benchmarks/out/graphs/` by a process of its
own, whose time and peak RSS are reported apart, and mapped back with
`graph_arrays.load_arrays`) with 5% of the nodes
labelled for training, 1% for validation and 5% for test, so that about 95%
of the nodes are unlabelled and the LU and UU edge pairs number in the
millions. It then trains CommNet64 for one epoch over every training node
(`model.fit` on packed batches, timed; peak RSS after it) and runs
`GraphAgreementModel.fit(graph)` with the CommNet
classifier and reads every phase's time from the rounds' `RoundRecord`s:
the agreement model's training (`agreement.seconds`), the building and
scoring of every LU / UU edge pair with it (`pairs_seconds`), the
regularised classifier's training (`classifier_seconds`), the prediction of
every node (`prediction_seconds`) and the self-labelling
(`labelling_seconds`).

Settings (bounded so that a round is a few minutes at 1M nodes on 2 cores):

* classifier: `gam_protocol("package", "commnet")` (CommNet64, Adam 0.01,
  weight decay 5e-4, dropout 0.5), packed batches of 512 labelled nodes
  with 5 neighbours each, `--epochs` (4) epochs of `--steps` (50) steps per
  round, validated after each epoch on the validation nodes;
* agreement term: 512 pairs of each kind per step (LU weight 10, UU 5, the
  package's; LL pairs weigh 0 and are left out), the agreement model
  trained for at most `--agreement-steps` (500) steps of 128 pairs;
* self-labelling: the `--label-share` (1%) of the nodes most confidently
  predicted (confidence >= 0.4), in the original labels' class proportions;
* `--rounds` (2) GAM rounds after round 0. `fit` gets `max_rounds` one
  higher and a round callback ends the run after the last: the product
  skips the labelling of its `max_rounds`-th round (labels nobody trains
  on), and here every GAM round runs every phase.

Per size it prints and writes: nodes, directed edges, split sizes, the LU /
UU pair counts of each GAM round, the generation time, each round's phase
times, validation / test accuracy, and the peak RSS after generation, after
each phase of each round and at the end (with the resident RSS at each of
those points, to tell what a phase keeps from what it passes). Rows go
to `benchmarks/out/gam_scale.json` (merged by node count, so a later size
joins the earlier ones) and the plot of phase times and peak RSS against
nodes to `benchmarks/gam_scale.png`.

  python benchmarks/gam_scale.py --nodes 100000 1000000
"""

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
GRAPHS = OUT / "graphs"
PHASES = ("agreement_seconds", "pairs_seconds", "classifier_seconds",
          "prediction_seconds", "labelling_seconds")


def peak_rss_gib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def rss_gib() -> float:
  """The resident memory now (`VmRSS`), to see what a round keeps."""
  with open("/proc/self/status") as status:
    for line in status:
      if line.startswith("VmRSS:"):
        return int(line.split()[1]) / 2**20
  return float("nan")


def flickr_graph(num_nodes: int):
  """The Flickr-like graph of `scale_minibatch.py`, with few labels."""
  from gam_datasets.synthetic import generate_flickr_like  # pylint: disable=g-import-not-at-top
  return generate_flickr_like(
      num_nodes=num_nodes, num_features=64, avg_degree=20.0,
      labels_per_class=num_nodes // 20 // 7, num_val=num_nodes // 100,
      num_test=num_nodes // 20, seed=0)


def generate(num_nodes: int, directory: pathlib.Path) -> None:
  """Generates `flickr_graph(num_nodes)` into `directory` (`save_arrays`),
  with the generation's time and peak RSS in `generation.json`."""
  from graph_models.graph_arrays import save_arrays  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  graph = flickr_graph(num_nodes)
  seconds = time.perf_counter() - start
  save_arrays(graph, directory)
  (directory / "generation.json").write_text(json.dumps({
      "generate_seconds": seconds,
      "save_seconds": time.perf_counter() - start - seconds,
      "generate_peak_rss_gib": peak_rss_gib()}))


def stored_graph(num_nodes: int) -> pathlib.Path:
  """The folder of `flickr_graph(num_nodes)` under `GRAPHS`, generated
  there first by its own process if absent (so that neither the
  generation's peak nor the generator's arrays count in the run's
  memory). Delete the folder to generate it again."""
  directory = GRAPHS / f"flickr_{num_nodes}"
  if not (directory / "generation.json").exists():
    subprocess.run([sys.executable, __file__, "--generate", str(directory),
                    "--nodes", str(num_nodes)], check=True)
  return directory


def memory_now() -> dict:
  return {"peak_rss_gib": peak_rss_gib(), "rss_gib": rss_gib()}


# A round's phases as `GraphAgreementModel` runs them, by its methods.
PHASE_METHODS = {"agreement": "_train_agreement",
                 "pairs": "_regularization_pairs",
                 "classifier": "_train_classifier",
                 "prediction": "_predict_probabilities",
                 "labelling": "_self_label"}


def measured_gam_class(pair_counts: list, phase_memory: dict):
  """`GraphAgreementModel` that also keeps what `fit` does not return: the
  pairs each GAM round scored (into `pair_counts`) and the memory after
  each phase of the current round (into `phase_memory`), to tell which
  phase raises the peak."""
  import gam  # pylint: disable=g-import-not-at-top

  def after(phase, method):
    def measured(self, *args):
      result = method(self, *args)
      phase_memory[phase] = memory_now()
      if phase == "pairs":
        pair_counts.append({kind: result[0].count(kind)
                            for kind in ("ll", "lu", "uu")})
      return result
    return measured

  return type("MeasuredGAM", (gam.GraphAgreementModel,), {
      name: after(phase, getattr(gam.GraphAgreementModel, name))
      for phase, name in PHASE_METHODS.items()})


def package_gam(model_class, graph, classifier: str, **changes):
  """`model_class` (a `GraphAgreementModel`) with the package protocol's
  `classifier`, a 128-wide agreement model and the protocol's options with
  `changes`, seeded and compiled; and those options."""
  # pylint: disable=g-import-not-at-top
  import keras

  import gam
  from graph_models import training
  # pylint: enable=g-import-not-at-top

  protocol = gam.gam_protocol("package", classifier)
  options = protocol.cotraining.with_changes(seed=0, **changes)
  training.seed_everything(0)
  model = model_class(
      node_model_fn=lambda: training.build_classifier(
          classifier, graph.num_classes,
          **protocol.classifier.model_kwargs(classifier)),
      agreement_model_fn=lambda: gam.AgreementModel(hidden_units=(128,)),
      options=options)
  model.compile(optimizer=keras.optimizers.Adam(
      protocol.classifier.learning_rate))
  return model, options


def gam_model(graph, args: argparse.Namespace, pair_counts: list,
              phase_memory: dict):
  """CommNet GAM with the package's settings, bounded (module docstring),
  measured (`measured_gam_class`), and its options."""
  return package_gam(
      measured_gam_class(pair_counts, phase_memory), graph, "commnet",
      max_rounds=args.rounds + 1, epochs=args.epochs, patience=args.epochs,
      steps_per_epoch=args.steps, batch_size=512, num_pairs=512,
      num_samples_to_label=int(args.label_share * graph.num_nodes),
      agreement_steps=args.agreement_steps)


def commnet_epoch(graph) -> dict:
  """One epoch of CommNet64 (`model.fit`, packed batches of 512 nodes with
  5 neighbours) over every training node: its time, throughput and the
  peak RSS after it."""
  # pylint: disable=g-import-not-at-top
  from graph_models import training
  # pylint: enable=g-import-not-at-top
  training.seed_everything(0)
  model = training.build_classifier("commnet", graph.num_classes,
                                    hidden_units=(64,))
  training.compile_classifier(model, 0.01)
  train = training.node_datasets(graph, model, training.TrainingOptions(
      batch_size=512, max_neighbors=5))["train"]
  start = time.perf_counter()
  model.fit(train, epochs=1, verbose=2, shuffle=False)
  seconds = time.perf_counter() - start
  nodes = graph.split_nodes("train").size
  print(f"CommNet epoch over {nodes} training nodes: {seconds:.1f} s",
        flush=True)
  return {"epoch_seconds": seconds, "epoch_nodes_per_second": nodes / seconds,
          **{f"{key}_after_epoch": value
             for key, value in memory_now().items()}}


def round_row(record, memory: dict) -> dict:
  """A round's phase times (`agreement_seconds` is 0 in round 0, which
  trains no agreement model), scores and memory."""
  flat = record.to_dict()
  row = {key: flat[key] for key in (
      "round", "labelled", "epochs", "best_epoch", "new_labels",
      "new_label_accuracy", "val_accuracy", "test_accuracy", "seconds",
      *PHASES)}
  return {**row, **memory}


def measure(num_nodes: int, args: argparse.Namespace) -> dict:
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  # pylint: disable=g-import-not-at-top
  from gam.round_callbacks import RoundCallback
  from graph_models.graph_arrays import load_arrays
  # pylint: enable=g-import-not-at-top

  directory = stored_graph(num_nodes)
  generation = json.loads((directory / "generation.json").read_text())
  start = time.perf_counter()
  graph = load_arrays(directory)
  result = {"nodes": num_nodes, "edges": int(graph.num_edges),
            **{f"{split}_nodes": int(graph.split_nodes(split).size)
               for split in ("train", "val", "test")},
            **generation, "load_seconds": time.perf_counter() - start,
            **{f"{key}_after_graph": value
               for key, value in memory_now().items()}}
  print(f"{graph}: generated in {result['generate_seconds']:.1f} s (peak "
        f"RSS {result['generate_peak_rss_gib']:.2f} GiB), mapped in "
        f"{result['load_seconds']:.1f} s, peak RSS "
        f"{result['peak_rss_gib_after_graph']:.2f} GiB", flush=True)

  result.update(commnet_epoch(graph))
  memory, pair_counts, phase_memory = [], [], {}

  class EndAfter(RoundCallback):
    """Records memory after each round and its phases; ends the run after
    `--rounds`."""

    def on_round_end(self, round_index, logs=None):
      memory.append({**memory_now(), "phases": dict(phase_memory)})
      phase_memory.clear()
      print(f"round {round_index}: peak RSS {memory[-1]['peak_rss_gib']:.2f}"
            f" GiB, resident {memory[-1]['rss_gib']:.2f} GiB; peak after "
            + ", ".join(f"{phase} {used['peak_rss_gib']:.2f}"
                        for phase, used in memory[-1]["phases"].items()),
            flush=True)
      if round_index >= args.rounds:
        self.model.stop_training = True

  model, options = gam_model(graph, args, pair_counts, phase_memory)
  start = time.perf_counter()
  history = model.fit(graph, verbose=2, callbacks=[EndAfter()])
  result.update(
      fit_seconds=time.perf_counter() - start,
      pair_counts=pair_counts,
      rounds=[round_row(record, used)
              for record, used in zip(history.rounds, memory)],
      best_round=history.best_round, peak_rss_gib=peak_rss_gib(),
      settings={"rounds": args.rounds, "epochs": options.epochs,
                "steps_per_epoch": options.steps_per_epoch,
                "batch_size": options.batch_size,
                "max_neighbors": options.max_neighbors,
                "num_pairs": options.regularization.num_pairs,
                "agreement_max_steps": options.agreement.max_steps,
                "num_samples_to_label": options.num_samples_to_label})
  return result


def merged_rows(rows: list, path: pathlib.Path) -> list:
  """`rows` with the sizes `path` already holds that they do not measure."""
  old = json.loads(path.read_text()) if path.exists() else []
  sizes = {row["nodes"] for row in rows}
  return sorted([row for row in old if row["nodes"] not in sizes] + rows,
                key=lambda row: row["nodes"])


def gam_rounds_mean(row: dict, phase: str) -> float:
  gam_rounds = [r[phase] for r in row["rounds"] if r["round"] > 0]
  return sum(gam_rounds) / max(len(gam_rounds), 1)


def plot(rows: list, path: pathlib.Path) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  nodes = [row["nodes"] for row in rows]
  figure, (times, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
  times.plot(nodes, [row["generate_seconds"] for row in rows], "k--o",
             label="graph generation (once)")
  times.plot(nodes, [row["epoch_seconds"] for row in rows], "--o",
             color="grey", label="CommNet epoch, every training node")
  for phase in PHASES:
    times.plot(nodes, [gam_rounds_mean(row, phase) for row in rows], "-o",
               label=phase.replace("_seconds", ""))
  times.plot(nodes, [gam_rounds_mean(row, "seconds") for row in rows], "k-s",
             label="whole round")
  times.set(xscale="log", yscale="log", xlabel="nodes",
            ylabel="seconds (mean of the GAM rounds)",
            title="Wall time per phase of a GAM round")
  times.legend(fontsize=8)
  memory.plot(nodes, [row["generate_peak_rss_gib"] for row in rows], "k--o",
              label="graph generation (its own process)")
  memory.plot(nodes, [row["peak_rss_gib_after_graph"] for row in rows], "-o",
              label="run: peak after mapping the graph")
  memory.plot(nodes, [row["peak_rss_gib"] for row in rows], "-o",
              label="run: peak at the end")
  memory.axhline(8, color="red", linestyle=":", label="8 GiB (1M target)")
  memory.axhline(16, color="darkred", linestyle=":",
                 label="16 GiB (10M target)")
  memory.set(xscale="log", xlabel="nodes", ylabel="GiB",
             title="Peak RSS (ru_maxrss) of the run's process")
  memory.set_ylim(bottom=0)
  memory.legend(fontsize=8)
  for axes in (times, memory):
    axes.grid(True, which="both", alpha=0.3)
  figure.suptitle("GAM with CommNet on Flickr-like graphs (average degree "
                  "20, 64 features, 5% labelled)", fontsize=10)
  figure.tight_layout()
  figure.savefig(path, dpi=110)


def print_table(rows: list) -> None:
  columns = ("agreement", "pairs", "classifier", "prediction", "labelling",
             "round")
  print(f"{'nodes':>9} {'round':>5} "
        + " ".join(f"{name + '_s':>12}" for name in columns)
        + f" {'peak_GiB':>8}")
  for row in rows:
    for r in row["rounds"]:
      times = [r[phase] for phase in PHASES] + [r["seconds"]]
      print(f"{row['nodes']:>9} {r['round']:>5} "
            + " ".join(f"{t:>12.1f}" for t in times)
            + f" {r['peak_rss_gib']:>8.2f}")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--nodes", nargs="+", type=int,
                      default=[100_000, 1_000_000])
  parser.add_argument("--rounds", type=int, default=2,
                      help="GAM rounds after round 0")
  parser.add_argument("--epochs", type=int, default=4)
  parser.add_argument("--steps", type=int, default=50,
                      help="classifier steps per epoch")
  parser.add_argument("--agreement-steps", type=int, default=500)
  parser.add_argument("--label-share", type=float, default=0.01,
                      help="most new labels per round, as a share of nodes")
  parser.add_argument("--output", type=pathlib.Path,
                      default=OUT / "gam_scale.json")
  parser.add_argument("--plot", type=pathlib.Path,
                      default=ROOT / "benchmarks" / "gam_scale.png")
  parser.add_argument("--child", type=pathlib.Path,
                      help=argparse.SUPPRESS)  # one size, result to this file
  parser.add_argument("--generate", type=pathlib.Path,
                      help=argparse.SUPPRESS)  # one size, graph to this folder
  args = parser.parse_args()
  if args.generate:
    generate(args.nodes[0], args.generate)
    return
  if args.child:
    args.child.write_text(json.dumps(measure(args.nodes[0], args)))
    return
  rows = []
  for nodes in args.nodes:
    # A process per size: each peak RSS is that size's alone. Its progress
    # goes to this process's output; its result comes back in a file.
    with tempfile.TemporaryDirectory() as scratch:
      result = pathlib.Path(scratch) / "result.json"
      subprocess.run(
          [sys.executable, __file__, "--child", str(result), "--nodes",
           str(nodes), "--rounds", str(args.rounds), "--epochs",
           str(args.epochs), "--steps", str(args.steps), "--agreement-steps",
           str(args.agreement_steps), "--label-share", str(args.label_share)],
          check=True)
      rows.append(json.loads(result.read_text()))
    print(json.dumps(rows[-1]), flush=True)
  print_table(rows)
  args.output.parent.mkdir(parents=True, exist_ok=True)
  rows = merged_rows(rows, args.output)
  args.output.write_text(json.dumps(rows, indent=2))
  plot(rows, args.plot)
  print(f"wrote {args.output} and {args.plot}")


if __name__ == "__main__":
  main()
