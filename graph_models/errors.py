"""The package's errors for bad input, and how they name offending nodes.

Every error the package raises because of what a user gave it (a graph, a
data file, a checkpoint, a cluster configuration) is an `InputError`, so a
command line can answer it with one line and leave every other exception,
a bug of ours, its traceback.
"""

import numpy as np


class InputError(ValueError):
  """The input is wrong; the message names the file, field or node."""


class GraphError(InputError):
  """Raised when a graph's data is inconsistent; the message names the field."""


def format_ids(ids: np.ndarray, limit: int = 10) -> str:
  """`[3, 7, 9] (and 12 more)`: the first offending ids for an error message."""
  ids = np.asarray(ids).ravel()
  shown = ", ".join(str(int(i)) for i in ids[:limit])
  more = f" (and {ids.size - limit} more)" if ids.size > limit else ""
  return f"[{shown}]{more}"
