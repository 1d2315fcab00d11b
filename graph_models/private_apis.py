"""Every private TensorFlow, Keras and Python API the package relies on.

`pyproject.toml` admits only the TensorFlow and Keras minors the suite runs
on, but an upgrade may still move or change a private name, and then the
package would fail deep inside a training step. So each one is reached
through this module or listed here with what uses it and why no public API
does the job, and `check(api)` (one test per entry in
`tests/graph_models/test_private_apis.py`) exercises it and raises
`PrivateApiChanged` naming the API and its user.

Example:
  >>> for api in PRIVATE_APIS:
  ...   check(api)
"""

from __future__ import annotations

import copyreg
import dataclasses
import importlib
import inspect
import pickle
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
# pylint: disable=g-direct-tensorflow-import,protected-access
from tensorflow.python.framework import config as tf_config
from tensorflow.python.ops import control_flow_util
from tensorflow.python.ops.linalg.sparse import (
    sparse_csr_matrix_ops as csr_ops)


class PrivateApiChanged(RuntimeError):
  """A private API the package uses is gone or behaves differently."""


@dataclasses.dataclass(frozen=True)
class PrivateApi:
  """One private API: its name, its user in this package, and why."""
  name: str
  used_by: str
  why: str
  probe: Callable[[], None]  # raises (any error) if the API changed


def check(api: PrivateApi) -> None:
  """Runs `api.probe`; raises `PrivateApiChanged` if it fails."""
  try:
    api.probe()
  except Exception as error:  # pylint: disable=broad-except
    raise PrivateApiChanged(
        f"{api.name}, used by {api.used_by}, has changed in this "
        f"TensorFlow {tf.__version__} / Keras {keras.__version__}: "
        f"{type(error).__name__}: {error}") from error


def _csr_product() -> None:
  dense = tf.constant([[1.0, 2.0], [3.0, 4.0]])
  matrix = tf.sparse.from_dense(tf.constant([[0.0, 2.0], [1.0, 0.0]]))
  csr = csr_ops.CSRSparseMatrix(matrix)
  product = csr_ops.matmul(csr, dense)
  np.testing.assert_allclose(product, [[6.0, 8.0], [1.0, 2.0]])
  np.testing.assert_allclose(csr_ops.matmul(csr.transpose(), dense),
                             [[3.0, 4.0], [2.0, 4.0]])


def _op_determinism() -> None:
  before = tf_config.is_op_determinism_enabled()
  assert isinstance(before, bool)
  tf_config.disable_op_determinism()
  assert not tf_config.is_op_determinism_enabled()
  if before:
    tf.config.experimental.enable_op_determinism()


def _xla_context() -> None:
  seen = []

  @tf.function(jit_compile=True)
  def traced():
    seen.append(control_flow_util.GraphOrParentsInXlaContext(
        tf.compat.v1.get_default_graph()))
    return tf.constant(0)
  traced()
  assert seen == [True], seen
  assert not control_flow_util.GraphOrParentsInXlaContext(
      tf.compat.v1.get_default_graph())


def _multi_worker_mode() -> None:
  assert tf.distribute.MirroredStrategy(
      ["/cpu:0"]).extended._in_multi_worker_mode() is False


def _symbolic_build() -> None:
  parameters = inspect.signature(keras.Model._maybe_symbolic_build).parameters
  assert list(parameters)[1:] == ["iterator", "data_batch"], list(parameters)


def _epoch_iterator_dataset() -> None:
  epoch_iterator = importlib.import_module("keras.src.trainers.epoch_iterator")
  dataset = tf.data.Dataset.from_tensors(({"x": [1.0]}, [0]))
  iterator = epoch_iterator.EpochIterator(x=dataset)
  assert iterator.data_adapter.get_tf_dataset() is not None


def _loss_tracker() -> None:
  model = keras.Sequential([keras.layers.Dense(1)])
  model.compile(loss="mse")
  assert isinstance(model._loss_tracker, keras.metrics.Mean)


def _pure_python_unpickler() -> None:
  dispatch = pickle._Unpickler.dispatch
  assert isinstance(dispatch, dict) and pickle.BUILD[0] in dispatch
  assert callable(copyreg._reconstructor)


def _numpy_pickle_globals() -> None:
  core = "numpy._core" if hasattr(np, "_core") else "numpy.core"
  assert callable(importlib.import_module(f"{core}.multiarray")._reconstruct)
  assert callable(importlib.import_module(f"{core}.numeric")._frombuffer)


PRIVATE_APIS = (
    PrivateApi(
        "tensorflow.python.ops.linalg.sparse.sparse_csr_matrix_ops",
        "graph_models.classifiers.sparse_ops (the GCN's propagation, sparse "
        "features' first layer)",
        "a CSR sparse-dense product, measured 3x faster than "
        "tf.sparse.sparse_dense_matmul for a layer's forward and backward "
        "pass; tf.linalg has no public CSR type", _csr_product),
    PrivateApi(
        "tensorflow.python.framework.config.disable_op_determinism / "
        "is_op_determinism_enabled", "graph_models.training",
        "tf.config only enables op determinism; seeding again without it "
        "and refusing XLA while it is on need these", _op_determinism),
    PrivateApi(
        "tensorflow.python.ops.control_flow_util."
        "GraphOrParentsInXlaContext", "graph_models.distribution."
        "compiling_with_xla", "no public call says whether the code being "
        "traced is compiled by XLA (which lacks the sparse kernels)",
        _xla_context),
    PrivateApi(
        "Strategy.extended._in_multi_worker_mode",
        "graph_models.distribution (cross-worker step logs)",
        "the test Keras itself applies before reducing logs across workers",
        _multi_worker_mode),
    PrivateApi(
        "keras.Model._maybe_symbolic_build(iterator, data_batch)",
        "graph_models.distribution.DistributedModel",
        "Keras builds a model from the first batch through this hook; "
        "whole-graph batches must build from the dataset's spec instead",
        _symbolic_build),
    PrivateApi(
        "keras EpochIterator.data_adapter.get_tf_dataset()",
        "graph_models.distribution.DistributedModel._maybe_symbolic_build",
        "the dataset behind the iterator Keras passes to the hook",
        _epoch_iterator_dataset),
    PrivateApi(
        "keras.Model._loss_tracker", "gam.graph_agreement_model.train_step",
        "a custom train_step must update the `loss` metric Keras reports",
        _loss_tracker),
    PrivateApi(
        "pickle._Unpickler.dispatch, copyreg._reconstructor",
        "gam_datasets.safe_pickle",
        "the pure-Python unpickler is the only one whose BUILD opcode can be "
        "checked; Planetoid pickles name copyreg._reconstructor",
        _pure_python_unpickler),
    PrivateApi(
        "numpy._core.multiarray._reconstruct, numpy._core.numeric."
        "_frombuffer", "gam_datasets.safe_pickle",
        "the globals numpy arrays in Planetoid pickles are rebuilt with",
        _numpy_pickle_globals),
)
