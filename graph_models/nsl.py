"""Neural Structured Learning's configs, distances and tools on current TF.

`import neural_structured_learning` fails on TensorFlow >= 2.16 because the
package `__init__` imports `nsl.estimator`, which needs the removed
`tf.estimator`. Its `configs`, `lib` and `tools` subpackages do not need it.
This module imports them without running that `__init__`: it registers a bare
package module (same name, same `__path__`, no submodules imported) and then
imports the three subpackages through the normal import system.

If NSL's real `__init__` does import (an older TensorFlow), it is used as is.
After loading, `import neural_structured_learning.configs` elsewhere works too;
`neural_structured_learning.keras` / `.estimator` still fail as before.

NSL's TSV graph reader opens files with mode 'rU', which Python 3.11 removed;
`tools.read_tsv_graph` (and so `tools.pack_nbrs`) get the same reader with
mode 'r'.

Usage:
  >>> from graph_models import nsl
  >>> config = nsl.configs.make_graph_reg_config(max_neighbors=2, multiplier=0.1)
  >>> config.neighbor_config.max_neighbors
  2
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

_PACKAGE = "neural_structured_learning"


def _load_package() -> types.ModuleType:
  try:
    return importlib.import_module(_PACKAGE)
  except ImportError as error:
    if "estimator" not in str(error):
      raise
  # The failed import left nothing usable in sys.modules; replace it by a bare
  # package whose submodules are found on the same path.
  spec = importlib.util.find_spec(_PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    raise ImportError(f"{_PACKAGE} is not installed (pip install "
                      "neural-structured-learning)")
  package = types.ModuleType(_PACKAGE, "Neural Structured Learning (loaded "
                             "without its estimator module)")
  package.__path__ = list(spec.submodule_search_locations)
  package.__spec__ = spec
  for name in list(sys.modules):
    if name == _PACKAGE or name.startswith(_PACKAGE + "."):
      del sys.modules[name]
  sys.modules[_PACKAGE] = package
  return package


_package = _load_package()
configs = importlib.import_module(_PACKAGE + ".configs")
lib = importlib.import_module(_PACKAGE + ".lib")
tools = importlib.import_module(_PACKAGE + ".tools")


def _read_tsv_graph(filename):
  """NSL's `read_tsv_graph` (source -> target -> weight, max over repeats)."""
  graph = {}
  with open(filename, "r") as lines:
    for line in lines:
      tools.graph_utils.add_edge(graph, line.rstrip("\n").split("\t"))
  return graph


_read_tsv_graph.__doc__ = tools.graph_utils.read_tsv_graph.__doc__
tools.graph_utils.read_tsv_graph = _read_tsv_graph
tools.read_tsv_graph = _read_tsv_graph

# Configuration types re-exported for the package's own signatures.
GraphRegConfig = configs.GraphRegConfig
GraphNeighborConfig = configs.GraphNeighborConfig
DistanceConfig = configs.DistanceConfig
DistanceType = configs.DistanceType
TransformType = configs.TransformType
make_graph_reg_config = configs.make_graph_reg_config

NEIGHBOR_PREFIX = configs.GraphNeighborConfig().prefix
NEIGHBOR_WEIGHT_SUFFIX = configs.GraphNeighborConfig().weight_suffix


def neighbor_feature_name(index: int, feature: str) -> str:
  """NSL's packed name of neighbour `index`'s `feature`: `NL_nbr_<i>_<f>`."""
  return f"{NEIGHBOR_PREFIX}{index}_{feature}"


def neighbor_weight_name(index: int) -> str:
  """NSL's packed name of neighbour `index`'s edge weight."""
  return f"{NEIGHBOR_PREFIX}{index}{NEIGHBOR_WEIGHT_SUFFIX}"


__all__ = [
    "configs", "lib", "tools", "GraphRegConfig", "GraphNeighborConfig",
    "DistanceConfig", "DistanceType", "TransformType", "make_graph_reg_config",
    "NEIGHBOR_PREFIX", "NEIGHBOR_WEIGHT_SUFFIX", "neighbor_feature_name",
    "neighbor_weight_name",
]
