"""Shared fixtures: paths to the real data beside the repository."""

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DIR = pathlib.Path(
    os.environ.get("GAM_SHARED_DIR", REPO_ROOT.parent / "shared"))
CORA_DIR = SHARED_DIR / "data" / "planetoid" / "cora"


@pytest.fixture(scope="session")
def cora_dir() -> pathlib.Path:
  """The real Planetoid Cora files (used in place, never copied)."""
  if not (CORA_DIR / "ind.cora.graph").exists():
    pytest.fail(f"real Cora files not found in {CORA_DIR}; set GAM_SHARED_DIR")
  return CORA_DIR


@pytest.fixture(scope="session")
def cora(cora_dir):
  """Real Cora as a `Graph` (immutable, so one copy serves every test)."""
  from graph_models.sources import load_graph  # pylint: disable=g-import-not-at-top
  return load_graph("planetoid/cora", cora_dir)


@pytest.fixture(autouse=True)
def keep_op_determinism():
  """Tests that train with XLA turn TF op determinism off (Keras refuses
  `jit_compile` otherwise); the tests after them find it as it was."""
  from tensorflow.python.framework import config  # pylint: disable=g-import-not-at-top,g-direct-tensorflow-import
  enabled = config.is_op_determinism_enabled()
  yield
  if enabled:
    config.enable_op_determinism()
