"""`tf.distribute` strategies by name, and logical CPU devices for testing.

The same training code runs under any strategy: build and compile the model
inside `strategy.scope()`, then `fit` as usual. The package's models derive
from `DistributedModel`, which makes their `fit`, `evaluate` and `predict`
under a strategy match the single-device results (see its docstring for
what Keras does differently on its own). Logical CPU devices (to try
`MirroredStrategy` on a machine without accelerators) must be configured
before anything else touches the TF runtime, so call `configure_logical_cpus`
first thing in the process.

Example:
  >>> configure_logical_cpus(2)  # optional, before any other TF call
  >>> strategy = make_strategy("mirrored")
  >>> strategy.num_replicas_in_sync
  2
  >>> with strategy.scope():
  ...   model = build_classifier("gcn", graph.num_classes)
  ...   compile_classifier(model, learning_rate=0.01)
  >>> model.fit(whole_graph_dataset(graph, graph.split_nodes("train")))
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from typing import Any, Callable, Mapping, Optional

import keras
import numpy as np
import tensorflow as tf

from graph_models.private_apis import control_flow_util
from graph_models.errors import InputError

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def compiling_with_xla() -> bool:
  """Whether the code being traced will be compiled by XLA
  (`jit_compile=True`, TPUs), which lacks some kernels (sparse ops) and
  shape-changing state."""
  return control_flow_util.GraphOrParentsInXlaContext(
      tf.compat.v1.get_default_graph())


def configure_logical_cpus(count: int) -> None:
  """Splits the (first) physical CPU into `count` logical devices.

  Raises:
    ValueError: if `count` < 1.
    RuntimeError: if the TF runtime is already initialised with another
      device layout (any TF op, even `tf.config.list_logical_devices`,
      initialises it).
  """
  if count < 1:
    raise ValueError(f"count must be >= 1, got {count}")
  cpu = tf.config.list_physical_devices("CPU")[0]
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * count)
  except RuntimeError as error:
    raise RuntimeError(
        f"cannot split the CPU into {count} logical devices: the TensorFlow "
        "runtime is already initialised (call configure_logical_cpus before "
        f"any other TensorFlow operation in the process): {error}") from error


class StrategyError(InputError):
  """The strategy asked for cannot be made; the message says why."""


def make_strategy(name: str,
                  tpu_address: Optional[str] = None) -> tf.distribute.Strategy:
  """The `tf.distribute` strategy called `name`.

  Args:
    name: one of `STRATEGIES`:
      * `default`: no distribution (`tf.distribute.get_strategy()`);
      * `mirrored`: `MirroredStrategy` over the visible GPUs, else over the
        visible logical CPUs (see `configure_logical_cpus`);
      * `multi_worker`: `MultiWorkerMirroredStrategy` over the cluster in the
        `TF_CONFIG` environment variable (create it before other TF ops);
      * `tpu`: `TPUStrategy` on the TPU at `tpu_address`.
    tpu_address: the TPU's name or `grpc://` address, `local` for a TPU VM's
      own chips; only for `tpu`.

  Raises:
    StrategyError: for an unknown name, a missing or malformed `TF_CONFIG`, a
      TPU address given for another strategy, or a TPU that cannot be
      reached or initialised.
  """
  if name not in STRATEGIES:
    raise StrategyError(f"unknown strategy {name!r}; choose one of "
                        f"{list(STRATEGIES)}")
  if tpu_address is not None and name != "tpu":
    raise StrategyError(f"a TPU address is only used by the tpu strategy, "
                        f"not {name!r}")
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    devices = (tf.config.list_logical_devices("GPU")
               or tf.config.list_logical_devices("CPU"))
    return tf.distribute.MirroredStrategy([d.name for d in devices])
  if name == "multi_worker":
    check_tf_config(os.environ.get("TF_CONFIG"))
    return tf.distribute.MultiWorkerMirroredStrategy()
  return _tpu_strategy(tpu_address)


def check_tf_config(value: Optional[str]) -> None:
  """Raises a `StrategyError` naming TF_CONFIG unless `value` describes a
  cluster and this process's task in it."""
  if not value:
    raise StrategyError("the multi_worker strategy reads the cluster from "
                        "the TF_CONFIG environment variable, which is not set")
  try:
    config: Any = json.loads(value)
  except json.JSONDecodeError as error:
    raise StrategyError(f"TF_CONFIG is not valid JSON: {error}") from None
  cluster = config.get("cluster") if isinstance(config, dict) else None
  task = config.get("task") if isinstance(config, dict) else None
  if not isinstance(cluster, dict) or not cluster or not all(
      isinstance(hosts, list) and hosts for hosts in cluster.values()):
    raise StrategyError('TF_CONFIG needs a "cluster" mapping each job name to '
                        'a non-empty list of host:port addresses, got '
                        f'{value!r}')
  if (not isinstance(task, dict) or task.get("type") not in cluster
      or not isinstance(task.get("index"), int)
      or not 0 <= task["index"] < len(cluster[task["type"]])):
    raise StrategyError('TF_CONFIG needs a "task" with a "type" from its '
                        'cluster and an "index" into that job\'s addresses, '
                        f"got {value!r}")


def _tpu_strategy(address: Optional[str]) -> tf.distribute.TPUStrategy:
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, tf.errors.OpError) as error:
    reason = str(error).strip().split("\n", 1)[0]
    where = f"at {address!r}" if address else "(no --tpu address given)"
    raise StrategyError(f"no TPU could be found or initialised {where}; the "
                        f"tpu strategy needs a TPU ({reason})") from error
  return tf.distribute.TPUStrategy(resolver)


def all_gather_element(data: Any) -> Any:
  """Inside a replica of a multi-replica strategy, the element `data` was cut
  from: every tensor gathered from all replicas along axis 0, in replica
  order. Elsewhere `data` itself."""
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return data
  # Multi-worker strategies hand out input tensors without a device, and
  # their all_gather needs one: the identity takes the replica's device.
  return tf.nest.map_structure(
      lambda t: None if t is None else context.all_gather(tf.identity(t),
                                                          axis=0), data)


def first_replica_only(outputs: Any) -> Any:
  """`outputs` on the first replica, empty (zero rows) on the others."""
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return outputs
  first = tf.equal(context.replica_id_in_sync_group, 0)
  return tf.nest.map_structure(
      lambda t: t[:tf.where(first, tf.shape(t)[0], 0)], outputs)


def share_bounds(count: int, shares: int, align: int = 1) -> np.ndarray:
  """`shares + 1` increasing bounds cutting `[0, count)` into contiguous
  shares of whole `align`-blocks, as equal as blocks allow."""
  blocks = -(-count // align)
  return np.minimum(np.linspace(0, blocks, shares + 1).astype(np.int64)
                    * align, count)


def map_shards(strategy: tf.distribute.Strategy,
               function: Callable[[int, int], np.ndarray], count: int,
               align: int = 1) -> np.ndarray:
  """`function(0, count)`, computed by the replicas of `strategy` in shares.

  Replica r calls `function(start, stop)` on its share of `[0, count)`
  (`share_bounds`; `align` keeps the shares on whole batches of a batched
  `function`, so that each batch, and so each result, is the one a single
  call makes), and every worker gets all the shares, concatenated in
  order, by one all-gather. Each worker computes only its own replicas'
  shares: heavy host-side passes over every item (scoring every edge pair)
  then take 1/workers of the time instead of being repeated everywhere.
  `function` must return `[stop - start, ...]` arrays of one dtype and
  trailing shape. Every worker must call this (a collective), with the
  same `count`.

  Example:
    >>> map_shards(strategy, lambda lo, hi: scores(pairs[lo:hi]), len(pairs),
    ...            align=4096)
  """
  replicas = strategy.num_replicas_in_sync
  if replicas == 1:
    return np.asarray(function(0, count))
  bounds = share_bounds(count, replicas, align)
  size = int(np.max(np.diff(bounds)))

  def padded_share(context):
    replica = context.replica_id_in_sync_group
    share = np.asarray(function(int(bounds[replica]),
                                int(bounds[replica + 1])))
    padded = np.zeros((size,) + share.shape[1:], share.dtype)
    padded[:len(share)] = share
    return tf.constant(padded)

  shares = strategy.experimental_distribute_values_from_function(
      padded_share)
  # The identity puts each value on its replica's device, as the
  # multi-worker all-gather needs (see `all_gather_element`).
  gathered = strategy.run(
      lambda share: tf.distribute.get_replica_context().all_gather(
          tf.identity(share), axis=0), args=(shares,))
  blocks = strategy.experimental_local_results(gathered)[0].numpy()
  return np.concatenate([
      blocks[r * size:r * size + bounds[r + 1] - bounds[r]]
      for r in range(replicas)])


def _in_multi_worker_mode() -> bool:
  strategy = tf.distribute.get_strategy()
  # The test Keras applies before its cross-worker reduction of step logs.
  return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
          and strategy.extended._in_multi_worker_mode())  # pylint: disable=protected-access


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process writes a run's files: the `chief` task, or worker
  0 of a cluster without one; every process that is not in a cluster."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if (not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
      or resolver is None or resolver.task_type is None):
    return True
  return is_chief_task(resolver.task_type, resolver.task_id,
                       resolver.cluster_spec().as_dict())


def is_chief_task(task_type: str, task_id: int,
                  cluster: Mapping[str, Any]) -> bool:
  """TF's rule: the `chief` task, else worker 0 when there is no chief."""
  if task_type == "chief":
    return True
  return task_type == "worker" and task_id == 0 and "chief" not in cluster


def write_dir(directory: os.PathLike,
              strategy: tf.distribute.Strategy) -> pathlib.Path:
  """Where this process writes what belongs in `directory`: `directory` on
  the chief, a new temporary directory on the other workers.

  Every worker still writes (saving may run collective ops that need all
  of them), as Keras' multi-worker guide does, but only the chief's files
  are kept; remove the others' with `shutil.rmtree` when done.
  """
  if is_chief(strategy):
    return pathlib.Path(directory)
  resolver = strategy.cluster_resolver
  return pathlib.Path(tempfile.mkdtemp(
      prefix=f"{resolver.task_type}{resolver.task_id}-"))


def reducible_across_workers(logs: Any) -> Any:
  """`logs` with scalars as 1-vectors when training across workers.

  Keras reduces step logs across workers with `strategy.reduce("MEAN", v,
  axis=0)`, which fails on scalars ("Invalid reduction dimension 0"); on a
  1-vector it is the mean over replicas, as on one worker.
  """
  if not _in_multi_worker_mode():
    return logs
  return tf.nest.map_structure(
      lambda t: tf.reshape(t, [1]) if t.shape.rank == 0 else t, logs)


class DistributedModel(keras.Model):
  """A `keras.Model` that trains under `tf.distribute` as on one device.

  Keras 3.15 differs in two ways, which this class corrects:

  * Under a strategy, `fit`, `evaluate` and `predict` first build the model
    from a batch averaged over the replicas. That reads one extra batch (a
    dataset that reshuffles on every pass then starts from its second
    order), turns integer ids into floats and fails when replicas get
    batches of different sizes (an odd batch on two replicas). Here the
    model is built from the dataset's element spec instead (through Keras'
    private `_maybe_symbolic_build` hook).
  * tf.distribute cuts every tensor of an element along axis 0, one piece
    per replica. Elements that are not batches of independent examples
    (`is_unsplittable`, e.g. a whole graph) are gathered back whole on every
    replica, which then runs the full step: the compiled loss is scaled by
    1 / num_replicas_in_sync and the replicas' gradients are summed, so the
    update is the single-device one. For them, only the first replica
    returns predictions.

  Batches that are split keep Keras' semantics: each replica's loss is the
  mean over its share and the replicas' losses are averaged, which is the
  single-device loss when the shares are equally large. A loss term that a
  subclass computes by hand must be divided by `num_replicas_in_sync` as
  the compiled loss is.
  """

  def is_unsplittable(self, inputs: Mapping[str, Any]) -> bool:
    """Whether the inputs `x` of a batch (or their specs) must reach every
    replica whole."""
    del inputs
    return False

  def whole_element(self, data: Any) -> Any:
    """The batch a replica's step works on: `data` gathered back whole from
    all replicas if `is_unsplittable` says so, else `data` itself."""
    x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    return all_gather_element(data) if self.is_unsplittable(x) else data

  def train_step(self, data):
    return reducible_across_workers(
        super().train_step(self.whole_element(data)))

  def test_step(self, data):
    return reducible_across_workers(
        super().test_step(self.whole_element(data)))

  def predict_step(self, data):
    whole = self.whole_element(data)
    outputs = super().predict_step(whole)
    return outputs if whole is data else first_replica_only(outputs)

  def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    # Keras' hook that builds from the replica-averaged first batch.
    if iterator is not None and data_batch is None:
      dataset = iterator.data_adapter.get_tf_dataset()
      if isinstance(dataset, tf.data.Dataset):
        iterator, data_batch = None, dataset.element_spec
    super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
