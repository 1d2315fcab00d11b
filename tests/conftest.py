"""Shared fixtures: the real Cora files the package ships, and TF state."""

import os
import pathlib
import shutil
import tempfile

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# The package's own copy (datasets/planetoid/data/cora/README.md); point
# GAM_CORA_DIR at another copy of the same files to test against that one.
CORA_DIR = pathlib.Path(os.environ.get(
    "GAM_CORA_DIR", REPO_ROOT / "datasets" / "planetoid" / "data" / "cora"))


def pytest_configure(config):
  """TFDS builds go to a temporary directory, never the user's
  ~/tensorflow_datasets (TFDS reads TFDS_DATA_DIR once, when imported, so
  it is set before any test module imports it).

  Under pytest-xdist each worker runs TensorFlow with one thread per op
  pool: the workers already fill the cores, and two workers of two threads
  each fight over them."""
  config.tfds_data_dir = tempfile.mkdtemp(prefix="tensorflow_datasets-")
  os.environ["TFDS_DATA_DIR"] = config.tfds_data_dir
  if os.environ.get("PYTEST_XDIST_WORKER"):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def pytest_unconfigure(config):
  shutil.rmtree(config.tfds_data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def tfds_data_dir(pytestconfig) -> pathlib.Path:
  """This process's temporary TFDS data directory (TFDS's default here)."""
  return pathlib.Path(pytestconfig.tfds_data_dir)


@pytest.fixture(scope="session")
def cora_dir() -> pathlib.Path:
  """The real Planetoid Cora files (used in place, never copied)."""
  if not (CORA_DIR / "ind.cora.graph").exists():
    pytest.fail(f"real Cora files not found in {CORA_DIR} (GAM_CORA_DIR)")
  return CORA_DIR


@pytest.fixture(scope="session")
def cora(cora_dir):
  """Real Cora as a `Graph` (immutable, so one copy serves every test), with
  Kipf's row-normalised features; read from the files, not through TFDS
  (`gam_datasets.load_graph` returns the same graph, as tested there)."""
  from gam_datasets.planetoid_files import load_planetoid  # pylint: disable=g-import-not-at-top
  return load_planetoid(cora_dir, "cora").row_normalized_features()


@pytest.fixture(autouse=True)
def keep_op_determinism():
  """Tests that train with XLA turn TF op determinism off (Keras refuses
  `jit_compile` otherwise); the tests after them find it as it was."""
  from tensorflow.python.framework import config  # pylint: disable=g-import-not-at-top,g-direct-tensorflow-import
  enabled = config.is_op_determinism_enabled()
  yield
  if enabled:
    config.enable_op_determinism()
