"""`gam-train`: train a node classifier and write results, model and plots.

By default it trains the Graph Nets CommNet classifier with Graph Agreement
Models on the embedded Flickr-like graph (generated, no download: few
labels, noisy edges), a line per round and a summary of GAM's gain over
round 0 (the plain classifier):

  gam-train --output runs/default

`--no-gam` trains the plain classifier only. Planetoid Cora is shipped with
the package; the other Planetoid graphs are read from a directory of
`ind.<name>.*` files:

  gam-train --dataset planetoid/cora --model gcn
  gam-train --dataset planetoid/citeseer --data-dir path/to/citeseer

`--task multilabel` predicts concept sets (synthetic graphs: 24 concepts
per image by default) with sigmoid outputs, scored by per-label mAP:

  gam-train --task multilabel --model gcn

GAM (agreement model, agreement-weighted regularisation, self-training
rounds) checkpoints every round in `<output>/checkpoints`; rerunning an
interrupted command resumes it.

`--strategy` trains under a `tf.distribute` strategy: `mirrored` over the
local GPUs (or CPU), `multi_worker` over the cluster in `TF_CONFIG`, `tpu`
on the TPU named by `--tpu`:

  gam-train --model gcn --strategy tpu --tpu grpc://10.0.0.2:8470
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import pathlib
import shutil
import sys
import time
from typing import Any, Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from gam.protocols import PROTOCOLS, GamProtocol, gam_protocol
import gam_datasets
from gam_datasets.planetoid.planetoid_dataset_builder import bundled_dir
from graph_models import distribution, training
from graph_models.errors import InputError
from graph_models.tasks import label_tasks

TASKS = ("single", "multilabel")

# `node2vec` is an MLP over the node features and node2vec embeddings.
NODE2VEC = "node2vec"
MODELS = sorted(training.CLASSIFIERS) + [NODE2VEC]


@dataclasses.dataclass(frozen=True)
class ModelDefaults:
  """The values options left unset take when training one plain classifier
  (`--no-gam`); GAM runs take theirs from their `gam.protocols` protocol."""
  hidden: int
  epochs: int
  learning_rate: float = 0.01
  weight_decay: float = 5e-4


CLASSIFIER_DEFAULTS = {
    "mlp": ModelDefaults(128, 100), "gcn": ModelDefaults(16, 200),
    "commnet": ModelDefaults(64, 50), "graphsage": ModelDefaults(128, 50),
    "maxpool": ModelDefaults(128, 50), "ngcn": ModelDefaults(128, 50),
    NODE2VEC: ModelDefaults(128, 100)}
# Options of plain runs without a per-model default.
PLAIN_DEFAULTS = dict(dropout=0.5, activation="relu", batch_size=64)


def gam_defaults(protocol: GamProtocol) -> Dict[str, Any]:
  """The command-line options a GAM protocol sets, by option name."""
  classifier, options = protocol.classifier, protocol.cotraining
  regularization = options.regularization
  return dict(
      hidden=classifier.hidden, learning_rate=classifier.learning_rate,
      weight_decay=classifier.weight_decay, dropout=classifier.dropout,
      activation=classifier.activation, epochs=options.epochs,
      patience=options.patience, rounds=options.max_rounds,
      steps_per_epoch=options.steps_per_epoch,
      batch_size=options.batch_size, num_pairs=regularization.num_pairs,
      reg_weight_lu=regularization.reg_weight_lu,
      reg_weight_uu=regularization.reg_weight_uu,
      num_samples_to_label=options.num_samples_to_label,
      min_confidence=options.min_confidence,
      min_label_precision=options.min_label_precision)


def _fill_defaults(args: argparse.Namespace) -> None:
  """Sets every option the user left unset, so that results.json records
  the values the run used."""
  if args.gam:
    defaults = gam_defaults(_protocol(args))
  else:
    defaults = dict(dataclasses.asdict(CLASSIFIER_DEFAULTS[args.model]),
                    **PLAIN_DEFAULTS)
  for name, value in defaults.items():
    if getattr(args, name) is None:
      setattr(args, name, value)


def _positive_int(text: str) -> int:
  value = int(text)
  if value < 1:
    raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
  return value


def _verbosity(text: str):
  """Keras' verbose values: "auto" or 0, 1, 2 (argparse checks which)."""
  return text if text == "auto" else int(text)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
  """Shows each option's default, except unset ones (None), whose help
  says where their default comes from."""

  def _get_help_string(self, action):
    if action.default is None:
      return action.help
    return super()._get_help_string(action)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog="gam-train", description=__doc__.split("\n", 1)[0],
      formatter_class=_HelpFormatter)
  _data_options(parser.add_argument_group("data"))
  _model_options(parser.add_argument_group("classifier"))
  _run_options(parser.add_argument_group("run"))
  _gam_options(parser.add_argument_group(
      "Graph Agreement Models (with --gam)"))
  args = parser.parse_args(argv)
  if args.positive_weight != 1.0 and args.task != "multilabel":
    parser.error("--positive-weight is for --task multilabel")
  if args.gam and (args.static_shapes or args.jit_compile):
    parser.error("--static-shapes and --jit-compile train the plain "
                 "classifier; GAM's pair batches do not take them")
  if args.gam:
    try:
      _protocol(args)
    except ValueError as error:
      parser.error(str(error))
  _fill_defaults(args)
  # TPUs compile every step with XLA and need the same shapes each time.
  args.static_shapes = args.static_shapes or args.strategy == "tpu"
  # Every worker of a multi-worker run resumes from the same (the chief's)
  # checkpoints, so the default is fixed before `run` moves `output`.
  args.checkpoint_dir = args.checkpoint_dir or args.output / "checkpoints"
  return args


# Options whose default depends on the model and, with GAM, the protocol say
# so instead of showing argparse's "(default: None)".
PER_MODEL = "per model and protocol, see the README"


def _data_options(data) -> None:
  data.add_argument("--dataset", default="flickr_synthetic",
                    choices=gam_datasets.GRAPH_NAMES,
                    help="graph to train on")
  data.add_argument("--data-dir", type=pathlib.Path,
                    help="directory of the ind.<name>.* Planetoid files")
  data.add_argument("--tfds-data-dir", type=pathlib.Path,
                    help="where Planetoid graphs are built on first use "
                         "(default: TFDS's, $TFDS_DATA_DIR or "
                         "~/tensorflow_datasets)")
  data.add_argument("--task", default="single", choices=TASKS,
                    help="one class per node, or a set of concepts "
                         "(multilabel: synthetic graphs)")
  data.add_argument("--num-concepts", type=int, default=24,
                    help="concepts per image of --task multilabel")
  data.add_argument("--cross-class-edges", type=float,
                    help="share of cross-class edges (synthetic graphs)")


def _model_options(model) -> None:
  model.add_argument("--model", default="commnet", choices=MODELS,
                     help="node classifier: commnet is the Graph Nets "
                          "CommNet of the NSL talk "
                          "(GraphConvolutionalNodeClassifier), gcn Kipf & "
                          "Welling's GCN (GCNNodeClassifier), node2vec an "
                          "MLP over the features and node2vec embeddings")
  model.add_argument("--node2vec-dimensions", type=int, default=64,
                     help="node2vec embedding size (walks of 40 steps, 10 "
                          "per node, p = q = 1)")
  model.add_argument("--hidden", type=_positive_int,
                     help=f"hidden width (default: {PER_MODEL})")
  model.add_argument("--epochs", type=_positive_int,
                     help=f"most training epochs (default: {PER_MODEL})")
  model.add_argument("--learning-rate", type=float,
                     help=f"Adam's learning rate (default: {PER_MODEL})")
  model.add_argument("--dropout", type=float,
                     help=f"dropout rate (default: {PER_MODEL})")
  model.add_argument("--activation",
                     help=f"hidden activation, a Keras name (default: "
                          f"{PER_MODEL})")
  model.add_argument("--weight-decay", type=float,
                     help=f"L2 weight of the first layer (default: "
                          f"{PER_MODEL})")
  model.add_argument("--batch-size", type=_positive_int,
                     help=f"labelled nodes per mini-batch step (default: "
                          f"{PER_MODEL})")
  model.add_argument("--max-neighbors", type=int, default=5,
                     help="neighbours packed per node (mini-batch models)")
  model.add_argument("--positive-weight", type=float, default=1.0,
                     help="weight of positive entries in the multi-label "
                          "loss (> 1 for sparse concept sets)")


def _run_options(run) -> None:
  run.add_argument("--seed", type=int, default=0)
  run.add_argument("--output", type=pathlib.Path,
                   default=pathlib.Path("runs/latest"),
                   help="folder for results.json, model.keras and plots")
  run.add_argument("--strategy", default="default",
                   choices=distribution.STRATEGIES,
                   help="tf.distribute strategy to train under")
  run.add_argument("--tpu", metavar="ADDRESS",
                   help="TPU name or grpc:// address (--strategy tpu); "
                        "'local' for a TPU VM's own chips")
  run.add_argument("--static-shapes", action="store_true",
                   help="pad the last mini-batch to --batch-size (every "
                        "step the same shapes; on by default for tpu)")
  run.add_argument("--jit-compile", action="store_true",
                   help="compile the training steps with XLA")
  run.add_argument("--tensorboard", type=pathlib.Path, metavar="DIR",
                   help="write TensorBoard logs here (GAM: one run per "
                        "round plus the rounds' record)")
  run.add_argument("--verbose", type=_verbosity, default="auto",
                   choices=("auto", 0, 1, 2),
                   help="Keras' progress output: 0 silent, 1 progress "
                        "bars, 2 a line per epoch, auto 1 (GAM: 1 bars and "
                        "a line per round, 2 and auto a line per round)")


def _gam_options(gam) -> None:
  gam.add_argument("--gam", action=argparse.BooleanOptionalAction,
                   default=True,
                   help="train with GAM co-training rounds (--no-gam: the "
                        "plain classifier)")
  gam.add_argument("--protocol", default="package", choices=PROTOCOLS,
                   help="GAM settings for the model (gam.protocols): the "
                        "package's, or the reference code's (gcn and mlp); "
                        "the options below override single points")
  gam.add_argument("--rounds", type=int,
                   help="most GAM rounds after round 0 (the plain "
                        "classifier); it stops earlier when a round labels "
                        f"nothing new (default: {PER_MODEL})")
  gam.add_argument("--patience", type=_positive_int,
                   help="epochs without better validation accuracy before "
                        f"a round stops (default: {PER_MODEL})")
  gam.add_argument("--steps-per-epoch", type=_positive_int,
                   help="training steps between validations (default: "
                        f"{PER_MODEL}; unset: 1 full-batch, one pass over "
                        "the labels otherwise)")
  gam.add_argument("--num-pairs", type=_positive_int,
                   help="edge pairs of each kind (LL, LU, UU) per step "
                        f"(default: {PER_MODEL})")
  gam.add_argument("--reg-weight-ll", type=float, default=0.0)
  gam.add_argument("--reg-weight-lu", type=float,
                   help="weight of labelled-unlabelled pairs (default: "
                        f"{PER_MODEL})")
  gam.add_argument("--reg-weight-uu", type=float,
                   help=f"weight of unlabelled pairs (default: {PER_MODEL})")
  gam.add_argument("--num-samples-to-label", type=int,
                   help=f"most new labels per round (default: {PER_MODEL})")
  gam.add_argument("--min-confidence", type=float,
                   help="smallest predicted probability of a new label "
                        f"(default: {PER_MODEL})")
  gam.add_argument("--min-label-precision", type=float,
                   help="raise the confidence threshold each round until "
                        "the validation predictions above it are right at "
                        f"least this often (default: {PER_MODEL})")
  gam.add_argument("--agreement-hidden", type=int, default=128,
                   help="hidden width of the agreement model's encoder")
  gam.add_argument("--agreement-steps", type=_positive_int,
                   help="most training steps of each round's agreement "
                        "model (default: the protocol's)")
  gam.add_argument("--always-agree", action="store_true",
                   help="no agreement model: weight every pair by 1 (plain "
                        "graph regularisation over the same pairs)")
  gam.add_argument("--warm-start", action="store_true",
                   help="continue the classifier across rounds instead of "
                        "re-initialising it")
  gam.add_argument("--checkpoint-dir", type=pathlib.Path,
                   help="round checkpoints (default: <output>/checkpoints)")


def _classifier_name(args: argparse.Namespace) -> str:
  return "mlp" if args.model == NODE2VEC else args.model


def _with_node2vec(graph, args: argparse.Namespace):
  """The graph whose features are [features, node2vec embeddings]."""
  from graph_models import node2vec  # pylint: disable=g-import-not-at-top
  embeddings = node2vec.train_node2vec(graph, node2vec.Node2VecOptions(
      dimensions=args.node2vec_dimensions, walk_length=40, walks_per_node=10,
      seed=args.seed), verbose=1 if args.verbose == "auto" else args.verbose)
  return node2vec.with_node2vec_features(graph, embeddings, "both")


def _classifier_kwargs(args: argparse.Namespace) -> dict:
  kwargs = dict(hidden_units=(args.hidden,), dropout=args.dropout,
                weight_decay=args.weight_decay, activation=args.activation)
  if args.gam and _classifier_name(args) == "gcn":
    kwargs["use_bias"] = _protocol(args).classifier.use_bias
  return kwargs


def _protocol(args: argparse.Namespace) -> GamProtocol:
  return gam_protocol(args.protocol, _classifier_name(args))


def _config(args: argparse.Namespace) -> dict:
  return {k: (str(v) if isinstance(v, pathlib.Path) else v)
          for k, v in vars(args).items()}


def run(args: argparse.Namespace) -> dict:
  """Trains as `args` say and returns the results written to results.json."""
  # First: a multi-worker strategy must exist before any other TF operation.
  strategy = distribution.make_strategy(args.strategy, args.tpu)
  graph = _load_graph(args)
  if args.model == NODE2VEC:
    graph = _with_node2vec(graph, args)
  print(f"graph: {graph}", flush=True)
  # Only the chief keeps its results, model, plots and logs; the other
  # workers of a multi-worker run write theirs to temporary directories.
  chief = distribution.is_chief(strategy)
  shared_output = args.output
  args.output = distribution.write_dir(args.output, strategy)
  if args.tensorboard:
    args.tensorboard = distribution.write_dir(args.tensorboard, strategy)
  args.output.mkdir(parents=True, exist_ok=True)
  results = (run_gam if args.gam else run_classifier)(graph, args, strategy)
  results.update(strategy=args.strategy,
                 num_replicas_in_sync=strategy.num_replicas_in_sync)
  (args.output / "results.json").write_text(json.dumps(results, indent=2))
  score = results["score"]
  if not args.gam:
    print(f"test {score} {results[f'test_{score}']:.4f}, validation "
          f"{results[f'val_{score}']:.4f}", flush=True)
  if args.strategy == "multi_worker":
    print(f"final weights sha256 {results['weights_sha256']}", flush=True)
  if chief:
    print(f"results, model and plots in {args.output}", flush=True)
  else:
    for path in {args.output, args.tensorboard} - {None}:
      shutil.rmtree(path, ignore_errors=True)
    print(f"results, model and plots are the chief's, in {shared_output}",
          flush=True)
  return results


def _load_graph(args: argparse.Namespace):
  """`--dataset` through `gam_datasets.load_graph`, the examples' way in.

  The command line reads local files only: a Planetoid graph the package
  does not ship (Cora it does) needs `--data-dir`.
  """
  name = args.dataset
  if (name.startswith("planetoid/") and args.data_dir is None and
      bundled_dir(name.split("/", 1)[1]) is None):
    raise InputError(f"{name} needs --data-dir: the directory holding the "
                     f"ind.{name.split('/', 1)[1]}.* files")
  row_normalize = not args.gam or _protocol(
      args).classifier.row_normalize_features
  return gam_datasets.load_graph(
      name, args.tfds_data_dir, args.data_dir,
      multilabel=args.task == "multilabel",
      seed=args.seed, cross_class_edge_fraction=args.cross_class_edges,
      num_concepts=args.num_concepts, row_normalize=row_normalize)


def run_classifier(graph, args: argparse.Namespace,
                   strategy: tf.distribute.Strategy) -> dict:
  # Imported here so that `--help` answers without loading TensorFlow.
  from gam import plots  # pylint: disable=g-import-not-at-top

  options = training.TrainingOptions(
      epochs=args.epochs,
      learning_rate=args.learning_rate, batch_size=args.batch_size,
      max_neighbors=args.max_neighbors, seed=args.seed,
      static_shapes=args.static_shapes, jit_compile=args.jit_compile)
  import keras  # pylint: disable=g-import-not-at-top

  callbacks = ([keras.callbacks.TensorBoard(str(args.tensorboard))]
               if args.tensorboard else [])
  with strategy.scope():
    result = training.train_node_classifier(
        graph, _classifier_name(args), options, verbose=args.verbose,
        callbacks=callbacks, positive_weight=args.positive_weight,
        **_classifier_kwargs(args))
  result.model.save(args.output / "model.keras")
  title = f"{args.model} on {args.dataset}"
  plots.plot_training_curves(
      result.history, args.output / "training_curves.png", title=title,
      metric=label_tasks.monitor_name(graph.is_multilabel))
  _plot_test_predictions(result.model, graph, args, title)
  return {
      "dataset": args.dataset, "model": args.model, "task": args.task,
      "score": label_tasks.score_name(graph.is_multilabel),
      **{f"{split}_{key}": value for split, scores in result.scores.items()
         for key, value in scores.items()},
      **_reference_scores(graph),
      "train_seconds": result.train_seconds,
      "weights_sha256": _weights_sha256(result.model),
      "config": _config(args),
      "training_options": dataclasses.asdict(options),
  }


def run_gam(graph, args: argparse.Namespace,
            strategy: tf.distribute.Strategy) -> dict:
  import keras  # pylint: disable=g-import-not-at-top

  from gam import plots  # pylint: disable=g-import-not-at-top
  from gam.agreement import AgreementModel  # pylint: disable=g-import-not-at-top
  from gam.graph_agreement_model import GraphAgreementModel  # pylint: disable=g-import-not-at-top

  # The protocol's options, with the points the command line sets.
  options = _protocol(args).cotraining.with_changes(
      max_rounds=args.rounds, epochs=args.epochs, patience=args.patience,
      steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
      max_neighbors=args.max_neighbors,
      num_samples_to_label=args.num_samples_to_label,
      min_confidence=args.min_confidence,
      min_label_precision=args.min_label_precision,
      warm_start=args.warm_start, num_pairs=args.num_pairs,
      reg_weight_ll=args.reg_weight_ll, reg_weight_lu=args.reg_weight_lu,
      reg_weight_uu=args.reg_weight_uu, always_agree=args.always_agree,
      agreement_steps=args.agreement_steps, seed=args.seed)
  training.seed_everything(args.seed)
  with strategy.scope():
    model = GraphAgreementModel(
        node_model_fn=lambda: training.build_classifier(
            _classifier_name(args), graph.num_classes,
            **_classifier_kwargs(args)),
        agreement_model_fn=lambda: AgreementModel(
            hidden_units=(args.agreement_hidden,)),
        options=options, multilabel=graph.is_multilabel)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                  loss=(label_tasks.SigmoidCrossEntropy(args.positive_weight)
                        if graph.is_multilabel else None))
  start = time.perf_counter()
  history = model.fit(
      graph, verbose=args.verbose, checkpoint_dir=str(args.checkpoint_dir),
      tensorboard_dir=str(args.tensorboard) if args.tensorboard else None)
  seconds = time.perf_counter() - start
  model.save(args.output / "model.keras")
  history.save_json(args.output / "gam_history.json")
  title = f"GAM with {args.model} on {args.dataset}"
  score = history.score_name
  plots.plot_round_history(history, args.output / "gam_rounds.png", title)
  _plot_test_predictions(model.node_model, graph, args,
                         f"{title}, round {history.best_round}")
  best, first = history.best, history.rounds[0]
  return {
      "dataset": args.dataset, "model": args.model, "task": args.task,
      "gam": True, "score": score,
      f"test_{score}": history.score(best, "test"),
      f"val_{score}": history.score(best, "val"),
      f"baseline_test_{score}": history.score(first, "test"),
      f"baseline_val_{score}": history.score(first, "val"),
      "best_round": history.best_round,
      "rounds": history.to_dict()["rounds"],
      **_reference_scores(graph),
      "seconds": seconds,
      "weights_sha256": _weights_sha256(model),
      "config": _config(args),
      "cotraining_options": options.to_dict(),
  }


def _plot_test_predictions(classifier, graph, args: argparse.Namespace,
                           title: str) -> None:
  """`test_predictions.png`: confusion matrix and 2-D view of the logits
  (multi-label: each label's average precision)."""
  from gam import plots  # pylint: disable=g-import-not-at-top
  nodes = graph.split_nodes("test")
  if nodes.size == 0:
    return
  logits = classifier.predict(training.prediction_dataset(
      graph, classifier, nodes, args.max_neighbors), verbose=0)
  plot = (plots.plot_label_average_precision if graph.is_multilabel
          else plots.plot_predictions)
  plot(graph.labels[nodes], logits, args.output / "test_predictions.png",
       title)


def _weights_sha256(model) -> str:
  """A digest of the saved model's weights: the same on every worker of a
  multi-worker run, and what ties results.json to model.keras."""
  digest = hashlib.sha256()
  for weight in model.weights:
    digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
  return digest.hexdigest()


def _reference_scores(graph) -> dict:
  """What a model must beat: the majority class, or for multi-label graphs
  the most frequent training concepts on test (the baseline of Salehi &
  Kaitha, "Image Tag Recommendation by Exploiting Social-Network
  Metadata")."""
  if not graph.is_multilabel:
    return {"majority_class_test_accuracy": graph.majority_class_rate("test")}
  if graph.split_nodes("test").size == 0:
    return {}
  return {f"most_frequent_test_{key}": value for key, value in
          label_tasks.most_frequent_scores(graph, "test").items()}


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = parse_args(argv)
  try:
    run(args)
  # Bad input (a graph, a data file, a checkpoint, the cluster) gets one
  # line; any other exception is a bug and keeps its traceback.
  except (InputError, FileNotFoundError) as error:
    print(f"gam-train: error: {error}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    if args.gam:
      print("gam-train: interrupted; run the same command again to resume "
            "from the last finished round", file=sys.stderr)
    return 130
  return 0


if __name__ == "__main__":
  sys.exit(main())
