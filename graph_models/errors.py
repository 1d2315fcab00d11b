"""The error every graph check raises, and how it names offending nodes."""

import numpy as np


class GraphError(ValueError):
  """Raised when a graph's data is inconsistent; the message names the field."""


def format_ids(ids: np.ndarray, limit: int = 10) -> str:
  """`[3, 7, 9] (and 12 more)`: the first offending ids for an error message."""
  ids = np.asarray(ids).ravel()
  shown = ", ".join(str(int(i)) for i in ids[:limit])
  more = f" (and {ids.size - limit} more)" if ids.size > limit else ""
  return f"[{shown}]{more}"
