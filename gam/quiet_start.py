"""Keeps TensorFlow's C++ start-up lines off `gam-train`'s first screen.

Importing TensorFlow on a machine without CUDA prints several lines from C++
(`cudart_stub`, `cuInit`, CPU feature notes), some of them before absl's
logging is set up, so TF_CPP_MIN_LOG_LEVEL alone does not hide them. The
command line therefore imports TensorFlow and lists its devices with the
process's stderr pointed at /dev/null, once, before anything else touches
TensorFlow. `--verbose 2` or a TF_CPP_MIN_LOG_LEVEL of the user's own keeps
every line. Python errors are unaffected: they are raised, not printed,
until stderr is back.
"""

import contextlib
import os
import sys
from typing import Iterator, Sequence


def launched_from_command_line() -> bool:
  """Whether this process is `gam-train ...` or `python -m gam ...`."""
  if os.path.basename(sys.argv[0]) == "gam-train":
    return True
  argv = list(getattr(sys, "orig_argv", ()))
  return any(a == "-m" and b == "gam" for a, b in zip(argv, argv[1:]))


def wants_tensorflow_log(argv: Sequence[str]) -> bool:
  """`--verbose 2` (or `--verbose=2`) asks for TensorFlow's own lines."""
  argv = list(argv)
  return "--verbose=2" in argv or any(
      a == "--verbose" and b == "2" for a, b in zip(argv, argv[1:]))


@contextlib.contextmanager
def _stderr_discarded() -> Iterator[None]:
  sys.stderr.flush()
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


def start_tensorflow_quietly(argv: Sequence[str]) -> None:
  """Imports TensorFlow and finds its devices without their log lines."""
  if wants_tensorflow_log(argv) or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
    return
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
  with _stderr_discarded():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    # Listing physical devices loads the CUDA libraries (which log) without
    # creating the runtime context, so logical devices and multi-worker
    # strategies can still be configured afterwards.
    tf.config.list_physical_devices()
