"""Reading `gam-train`'s outputs in the command-line tests."""

import os

import tensorflow as tf


def scalars(directory) -> dict:
  """`{tag: {step: value}}` of the TensorBoard event files in `directory`."""
  values = {}
  for path in sorted(directory.glob("events.out.tfevents.*")):
    for record in tf.data.TFRecordDataset(str(path)):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        values.setdefault(value.tag, {})[event.step] = float(
            tf.make_ndarray(value.tensor))
  return values


def is_png(path) -> bool:
  data = path.read_bytes()
  return data.startswith(b"\x89PNG") and len(data) > 10_000


def environment_without(variable: str) -> dict:
  """This process's environment less `variable`."""
  return {k: v for k, v in os.environ.items() if k != variable}
