"""`search_sorted`: numpy's `searchsorted` for many needles in any order."""

import numpy as np


def search_sorted(haystack: np.ndarray, needles: np.ndarray,
                  side: str = "left") -> np.ndarray:
  """`np.searchsorted(haystack, needles, side)`, several times faster for
  many unordered needles: numpy narrows each search by the previous one when
  the needles come in order, so they are searched sorted and put back.

  Example:
    >>> search_sorted(np.array([0.2, 0.5, 1.0]), np.array([0.9, 0.1]))
    array([2, 0])
  """
  order = np.argsort(needles, kind="stable")
  found = np.empty(needles.size, dtype=np.int64)
  found[order] = np.searchsorted(haystack, needles[order], side=side)
  return found
