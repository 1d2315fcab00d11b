"""Checks the dataset tests share."""

import numpy as np


def assert_same_graph(restored, expected, rtol: float = 0.0) -> None:
  """Same features (to `rtol`), edges, labels, masks and class count."""
  np.testing.assert_allclose(restored.dense_features(),
                             expected.dense_features(), rtol=rtol, atol=0)
  assert (restored.adjacency != expected.adjacency).nnz == 0
  np.testing.assert_array_equal(restored.labels, expected.labels)
  for mask in ("train_mask", "val_mask", "test_mask"):
    np.testing.assert_array_equal(getattr(restored, mask),
                                  getattr(expected, mask))
  assert restored.num_classes == expected.num_classes
