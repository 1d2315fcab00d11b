"""Sparse operands in the node classifiers: a CSR product, dropout over the
stored values (and a cheaper mask for large dense inputs), and a `Dense`
layer applied to sparse rows.

Sparse node features (bag-of-words such as Cora's, 1.3% non-zero) stay a
`tf.SparseTensor` up to the first layer, as in Kipf & Welling's GCN code: the
first dropout touches only the non-zeros and X W is a sparse-dense product,
so a step costs what the non-zeros cost rather than what the dense matrix
would (Cora, CommNet's 768-row packed batch, one thread: 3.8 ms against 18
ms for dropout, X W and its gradient).

The product is a CSR sparse-dense product, measured fastest on CPU (on a
89k-node, 892k-edge graph with 128 columns, forward and backward: about 75
ms against 250 ms or more for `tf.sparse.sparse_dense_matmul` and 370 ms for
a gather and segment sum); under XLA (`jit_compile=True`, TPUs), which has
no sparse kernels, it is a gather and a segment sum.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from graph_models.distribution import compiling_with_xla
from graph_models.private_apis import csr_ops


def _row_major(sparse: tf.SparseTensor) -> tf.SparseTensor:
  """`sparse` with its entries sorted by row, then column (what CSR needs);
  sorts only when they are not."""
  keys = sparse.indices[:, 0] * sparse.dense_shape[1] + sparse.indices[:, 1]
  return tf.cond(tf.reduce_all(keys[1:] >= keys[:-1]), lambda: sparse,
                 lambda: tf.sparse.reorder(sparse))


def sparse_product(matrix: tf.SparseTensor, dense: tf.Tensor) -> tf.Tensor:
  """`matrix @ dense` with a gradient for `dense` only: a CSR product, or
  a gather and a segment sum where XLA compiles."""
  if compiling_with_xla():
    products = matrix.values[:, None] * tf.gather(dense, matrix.indices[:, 1])
    return tf.math.unsorted_segment_sum(products, matrix.indices[:, 0],
                                        matrix.dense_shape[0])
  csr = csr_ops.CSRSparseMatrix(_row_major(tf.SparseTensor(
      matrix.indices, tf.stop_gradient(matrix.values), matrix.dense_shape)))

  # Only `dense` needs a gradient; TF's own gradient of the CSR product
  # would also compute one for the matrix, at the cost of another product.
  # It multiplies by the transposed matrix rather than with adjoint_a=True,
  # whose sums run in a varying order (results differ in the last bits from
  # run to run).
  @tf.custom_gradient
  def product(dense):
    def gradient(upstream):
      return csr_ops.matmul(csr.transpose(), upstream)
    return csr_ops.matmul(csr, dense), gradient
  # A variable read outside `product`, whose gradient then reaches it.
  return product(tf.convert_to_tensor(dense))


# Dense inputs of at least this many entries (a whole graph's features of
# GraphSAINT Flickr's size: 89,250 x 500) draw their dropout mask from 16
# random bits an entry, two from each 32-bit draw, instead of Keras' float an
# entry: on that input, on one core, the mask and its gradient take 150 ms
# a step instead of 250 ms.
LARGE_INPUT_ENTRIES = 1 << 22


def dropout(layer: keras.layers.Dropout, inputs, training: bool):
  """`layer` applied to dense inputs, or to the stored values of a
  `tf.SparseTensor` (Kipf & Welling's sparse dropout: zeros stay zero, the
  kept entries are scaled by 1 / (1 - rate), as dense dropout does).

  A dense input of `LARGE_INPUT_ENTRIES` or more, in training, gets the
  cheaper mask of `_short_mask_dropout`."""
  if isinstance(inputs, tf.SparseTensor):
    return tf.SparseTensor(inputs.indices,
                           layer(inputs.values, training=training),
                           inputs.dense_shape)
  entries = inputs.shape.num_elements()
  if (training is True and layer.rate > 0 and entries is not None
      and entries >= LARGE_INPUT_ENTRIES):
    return _short_mask_dropout(layer, inputs)
  return layer(inputs, training=training)


def _short_mask_dropout(layer: keras.layers.Dropout, inputs) -> tf.Tensor:
  """Dropout with a mask from 16 random bits an entry, seeded by `layer`'s
  seed generator: an entry is dropped with the rate rounded to a multiple
  of 2^-16 (0.5 exactly), and kept ones are scaled by the inverse of the
  kept share, so the expectation is the input."""
  threshold = min(round(layer.rate * 65536), 65535)
  count = inputs.shape.num_elements()
  words = tf.random.stateless_uniform(
      [(count + 1) // 2], seed=layer.seed_generator.next(), minval=None,
      maxval=None, dtype=tf.uint32)
  bits = tf.reshape(tf.bitcast(words, tf.uint16), [-1])[:count]
  keep = tf.reshape(bits >= tf.constant(threshold, tf.uint16),
                    tf.shape(inputs))
  scale = tf.constant(65536 / (65536 - threshold), inputs.dtype)
  return tf.where(keep, inputs * scale, tf.zeros((), inputs.dtype))


def dense(layer: keras.layers.Dense, inputs):
  """`layer(inputs)`, with a `tf.SparseTensor` multiplied by the kernel
  through `sparse_product` (`keras.layers.Dense` would densify it, or use
  `tf.sparse.sparse_dense_matmul`, whose gradient is single-threaded)."""
  if not isinstance(inputs, tf.SparseTensor):
    return layer(inputs)
  if not layer.built:
    layer.build(inputs.shape)
  outputs = sparse_product(inputs, layer.kernel)
  if layer.use_bias:
    outputs = outputs + layer.bias
  return layer.activation(outputs)
