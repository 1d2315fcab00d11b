"""Corrupted and truncated input files end in the package's own errors.

`benchmarks/fuzz_inputs.py` damages one file of each reader's folder per
case and runs the reader in a child process; here a few cases per format
must bring no crash, hang, foreign error or error that does not name the
file. Its corruption functions are tested without any child.
"""

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

SCRIPT = (pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
          / "fuzz_inputs.py")


def _harness():
  spec = importlib.util.spec_from_file_location("fuzz_inputs", SCRIPT)
  module = importlib.util.module_from_spec(spec)
  # dataclasses resolve the module by name while the class is made.
  sys.modules.setdefault("fuzz_inputs", module)
  spec.loader.exec_module(module)
  return module


fuzz = _harness()

FILES = [("a.bin", bytes(range(256)) * 4), ("b.txt", b"dog\ncat\n" * 50)]


def _bits_changed(before: bytes, after: bytes) -> int:
  xor = np.bitwise_xor(np.frombuffer(before, np.uint8),
                       np.frombuffer(after, np.uint8))
  return int(np.unpackbits(xor).sum())


def test_the_same_seed_damages_the_same_bytes():
  for index in range(16):
    first = fuzz.corrupt_case(5, "planetoid", index, FILES)
    assert fuzz.corrupt_case(5, "planetoid", index, FILES) == first
  draws = {fuzz.corrupt_case(seed, "planetoid", 3, FILES)[1]
           for seed in range(8)}
  assert len(draws) > 1
  # The kinds take turns.
  assert [fuzz.corrupt_case(0, "graphsaint", index, FILES)[2].kind
          for index in range(8)] == list(fuzz.KINDS) * 2


def test_truncation_shortens_and_sometimes_empties():
  data = FILES[0][1]
  kept = []
  for seed in range(200):
    truncated, corruption = fuzz.truncate(data, np.random.default_rng(seed))
    assert len(truncated) < len(data) and data.startswith(truncated)
    assert corruption.offset == len(truncated)
    assert corruption.length == len(data) - len(truncated)
    kept.append(len(truncated))
  assert 0 in kept and max(kept) > len(data) // 2


@pytest.mark.parametrize("count", range(1, 9))
def test_bit_flips_change_exactly_that_many_bits(count):
  data = FILES[1][1]
  flipped, corruption = fuzz.flip_bits(data, np.random.default_rng(count),
                                       count)
  assert len(flipped) == len(data)
  assert _bits_changed(data, flipped) == count == corruption.length
  assert len(set(corruption.bits)) == count


@pytest.mark.parametrize("corrupt", [fuzz.zero_run, fuzz.random_run])
def test_runs_overwrite_in_place(corrupt):
  data = FILES[0][1]
  damaged, corruption = corrupt(data, np.random.default_rng(1))
  assert len(damaged) == len(data)
  end = corruption.offset + corruption.length
  assert damaged[:corruption.offset] == data[:corruption.offset]
  assert damaged[end:] == data[end:]
  if corrupt is fuzz.zero_run:
    assert damaged[corruption.offset:end] == bytes(corruption.length)


@pytest.mark.slow
def test_no_damaged_file_escapes_the_package_errors():
  failures = []
  for fmt in fuzz.FORMATS:
    results = fuzz.run_format(fmt, cases=12, seed=0, timeout=60,
                              report=lambda result: None)
    assert len(results) == 12
    failures += [r.describe() for r in results if r.outcome in fuzz.FAILURES]
  assert not failures, "\n".join(failures)
