"""Fuzzes the package's file readers with corrupted and truncated files.

What it measures: whether any damaged input file crashes the interpreter,
hangs a reader, or ends in anything but the package's own error naming the
file. Each case copies a folder that one reader reads (real Cora for
`load_planetoid`, the dummy GraphSAINT, NUS-WIDE and MIRFLICKR trees, and a
one-round GAM checkpoint for `RoundCheckpoints.restore`), damages ONE file of
the copy and calls the reader. The damage is seeded by (seed, format, case),
and the four kinds take turns: a truncation (sometimes to nothing), 1-8 bit
flips, a zeroed run and a run of random bytes. Each case ends as one of:

  own_error_named    an `InputError` (the package's base for bad input)
                     whose message names the damaged file (a checkpoint's:
                     the file's path or the round's prefix; the download
                     instructions a not-found error appends do not count);
  own_error_unnamed  an `InputError` that does not name it;
  foreign_error      any other exception;
  loaded             no error (`changed`: the result differs from the
                     undamaged folder's, i.e. the damage went unnoticed);
  crash              the process died (signal or exit status);
  hang               the case ran past --timeout.

Unnamed and foreign errors, crashes and hangs are failures. The cases of a
format run in one child process (importing TensorFlow costs seconds) that
prints a line before and after each case; a child that dies or hangs is
replaced by a fresh one from the next case.

Usage:
  .venv/bin/python benchmarks/fuzz_inputs.py --cases 200
  .venv/bin/python benchmarks/fuzz_inputs.py --cases 20 --seed 3 \
      --formats planetoid checkpoints
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import enum
import faulthandler
import hashlib
import json
import os
import pathlib
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CORA_DIR = REPO_ROOT / "datasets" / "planetoid" / "data" / "cora"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "out" / "fuzz_inputs.json"

FORMATS = ("planetoid", "graphsaint", "nus_wide", "mirflickr", "checkpoints")
KINDS = ("truncate", "flip", "zero", "random")
# Importing TensorFlow and writing the undamaged folder, before any case.
STARTUP_TIMEOUT_S = 600


class Outcome(enum.StrEnum):
  OWN_ERROR_NAMED = "own_error_named"
  OWN_ERROR_UNNAMED = "own_error_unnamed"
  FOREIGN_ERROR = "foreign_error"
  LOADED = "loaded"
  CRASH = "crash"
  HANG = "hang"


FAILURES = frozenset({Outcome.OWN_ERROR_UNNAMED, Outcome.FOREIGN_ERROR,
                      Outcome.CRASH, Outcome.HANG})


# Corruptions ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Corruption:
  """What was done to a file's bytes.

  Attributes:
    kind: one of KINDS.
    offset: the first byte changed; for a truncation, the length kept.
    length: bytes changed (a truncation: bytes cut); for flips, bits flipped.
    bits: the flipped bits (byte * 8 + bit), flips only.
  """
  kind: str
  offset: int
  length: int
  bits: Tuple[int, ...] = ()

  def __str__(self) -> str:
    if self.kind == "truncate":
      return f"truncate to {self.offset} bytes (-{self.length})"
    if self.kind == "flip":
      return f"flip {self.length} bits {list(self.bits)}"
    return f"{self.kind} {self.length} bytes at {self.offset}"


def truncate(data: bytes, rng: np.random.Generator
             ) -> Tuple[bytes, Corruption]:
  # An empty file (an interrupted copy) is a case of its own, so it gets a
  # fixed share rather than a 1-in-size chance.
  if len(data) < 2 or rng.random() < 0.1:
    kept = 0
  else:
    kept = int(rng.integers(1, len(data)))
  return data[:kept], Corruption("truncate", kept, len(data) - kept)


def flip_bits(data: bytes, rng: np.random.Generator,
              count: Optional[int] = None) -> Tuple[bytes, Corruption]:
  """Flips `count` distinct bits (1-8 drawn when None)."""
  count = int(rng.integers(1, 9)) if count is None else count
  bits = np.sort(rng.choice(len(data) * 8, size=min(count, len(data) * 8),
                            replace=False))
  buffer = np.frombuffer(data, dtype=np.uint8).copy()
  np.bitwise_xor.at(buffer, bits // 8, (1 << (bits % 8)).astype(np.uint8))
  return buffer.tobytes(), Corruption("flip", int(bits[0] // 8), bits.size,
                                      tuple(int(bit) for bit in bits))


def _run(data: bytes, rng: np.random.Generator) -> Tuple[int, int]:
  """(start, length) of a run; lengths are log-uniform up to 64 KiB: a few
  bytes are what a format is least likely to notice, a lost disk block is
  the common large case."""
  start = int(rng.integers(len(data)))
  return start, min(len(data) - start, int(2 ** rng.uniform(0, 16)))


def zero_run(data: bytes, rng: np.random.Generator
             ) -> Tuple[bytes, Corruption]:
  start, length = _run(data, rng)
  return (data[:start] + bytes(length) + data[start + length:],
          Corruption("zero", start, length))


def random_run(data: bytes, rng: np.random.Generator
               ) -> Tuple[bytes, Corruption]:
  start, length = _run(data, rng)
  noise = rng.integers(0, 256, size=length, dtype=np.uint8).tobytes()
  return (data[:start] + noise + data[start + length:],
          Corruption("random", start, length))


CORRUPTIONS: Dict[str, Callable[[bytes, np.random.Generator],
                                Tuple[bytes, Corruption]]] = {
    "truncate": truncate, "flip": flip_bits, "zero": zero_run,
    "random": random_run}


def case_rng(seed: int, fmt: str, index: int) -> np.random.Generator:
  # crc32, not hash(): string hashes change between processes.
  return np.random.default_rng([seed, zlib.crc32(fmt.encode()), index])


def corrupt_case(seed: int, fmt: str, index: int,
                 files: Sequence[Tuple[str, bytes]]
                 ) -> Tuple[str, bytes, Corruption]:
  """Picks one of `files` (name, bytes) and damages it: (name, new bytes,
  what was done). The kinds take turns so every run mixes them evenly."""
  rng = case_rng(seed, fmt, index)
  name, data = files[int(rng.integers(len(files)))]
  corrupted, corruption = CORRUPTIONS[KINDS[index % len(KINDS)]](data, rng)
  return name, corrupted, corruption


# Records ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
  format: str
  index: int
  file: str  # relative to the folder the reader reads
  file_kind: str
  corruption: Corruption

  @classmethod
  def from_json(cls, values: dict) -> "Case":
    corruption = values["corruption"]
    return cls(**{**values, "corruption": Corruption(
        **{**corruption, "bits": tuple(corruption["bits"])})})


@dataclasses.dataclass(frozen=True)
class CaseResult:
  """A case's outcome; `error_type` and `message` (at most 200 characters,
  the case folder written `<dir>`) describe an error, a crash's signal or
  exit status and the end of its stderr."""
  case: Case
  outcome: Outcome
  error_type: str = ""
  message: str = ""
  changed: Optional[bool] = None  # loaded only
  seconds: float = 0.0

  @classmethod
  def from_json(cls, values: dict) -> "CaseResult":
    return cls(**{**values, "case": Case.from_json(values["case"]),
                  "outcome": Outcome(values["outcome"])})

  def describe(self) -> str:
    case = self.case
    return (f"{case.format} case {case.index}: {case.file} "
            f"({case.corruption}): {self.outcome} {self.error_type} "
            f"{self.message}").rstrip()


# Formats (run in the child) ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class InputFormat:
  """A reader under test and the folder it reads.

  Attributes:
    write: writes the undamaged files into a new folder.
    load: the reader; its result is compared with the undamaged one.
    file_kind: groups a file (by its path in the folder) for the tables.
    names: strings any of which names the damaged file in an error.
  """
  write: Callable[[pathlib.Path], None]
  load: Callable[[pathlib.Path], object]
  file_kind: Callable[[str], str]
  names: Callable[[pathlib.Path, str], Tuple[str, ...]] = (
      lambda folder, file: (os.path.basename(file),))


def _copy_cora(folder: pathlib.Path) -> None:
  # copyfile, not copy: the shipped files are read-only.
  shutil.copytree(CORA_DIR, folder, copy_function=shutil.copyfile,
                  ignore=shutil.ignore_patterns("README.md"))


def _load_cora(folder: pathlib.Path):
  from gam_datasets.planetoid_files import load_planetoid  # pylint: disable=g-import-not-at-top
  return load_planetoid(folder, "cora")


def _write_graphsaint(folder: pathlib.Path) -> None:
  from gam_datasets.flickr_cooccurrence import make_graphsaint_dummy_data  # pylint: disable=g-import-not-at-top
  make_graphsaint_dummy_data.write_graphsaint_files(folder)


def _load_graphsaint(folder: pathlib.Path):
  from gam_datasets.graphsaint_files import read_graphsaint  # pylint: disable=g-import-not-at-top
  return read_graphsaint(folder)


def _write_nus_wide(folder: pathlib.Path) -> None:
  from gam_datasets.flickr_cooccurrence import make_tag_dummy_data  # pylint: disable=g-import-not-at-top
  make_tag_dummy_data.write_nus_wide_files(folder)


def _load_nus_wide(folder: pathlib.Path):
  from gam_datasets.tag_files import read_nus_wide  # pylint: disable=g-import-not-at-top
  return read_nus_wide(folder)


def _nus_wide_kind(file: str) -> str:
  if file == "AllTags1k.txt":
    return "tag matrix"
  return "labels" if file.startswith("Groundtruth") else "name list"


def _write_mirflickr(folder: pathlib.Path) -> None:
  from gam_datasets.flickr_cooccurrence import make_tag_dummy_data  # pylint: disable=g-import-not-at-top
  make_tag_dummy_data.write_mirflickr_files(folder)


def _load_mirflickr(folder: pathlib.Path):
  from gam_datasets.tag_files import read_mirflickr  # pylint: disable=g-import-not-at-top
  return read_mirflickr(folder)


def _mirflickr_kind(file: str) -> str:
  if file.startswith("meta"):
    return "tags"
  # The reader skips the stricter _r1 annotation and the README.
  return ("ignored" if file.endswith(("_r1.txt", "README.txt"))
          else "annotations")


# A small GAM run to checkpoint, as in tests/gam/test_checkpoints.py.
_LABELS = np.array([0, 1, -1, -1, 2])
_FINGERPRINT = {"graph": {"name": "toy", "nodes": 5}, "options": {"seed": 3}}
_ROUND_PREFIX = "round-0"


def _checkpoint_models(seed: int):
  """A node model, an agreement model and a built optimizer."""
  import keras  # pylint: disable=g-import-not-at-top
  # Hundreds of cases build models in one process: start each afresh.
  keras.backend.clear_session()
  models = []
  for model_seed in (seed, seed + 1):
    keras.utils.set_random_seed(model_seed)
    model = keras.Sequential([keras.layers.Dense(4),
                              keras.layers.Dropout(0.5, seed=model_seed),
                              keras.layers.Dense(3)])
    model.build((None, 2))
    models.append(model)
  optimizer = keras.optimizers.Adam()
  optimizer.build(models[0].trainable_variables)
  return models[0], models[1], optimizer


def _write_checkpoints(folder: pathlib.Path) -> None:
  from gam.checkpoints import RoundCheckpoints, RoundState  # pylint: disable=g-import-not-at-top
  from gam.round_history import CoTrainingHistory, RoundRecord  # pylint: disable=g-import-not-at-top
  node, agreement, optimizer = _checkpoint_models(seed=0)
  record = RoundRecord(
      round=0, labelled=2, agreement=None, epochs=3, best_epoch=1,
      classifier_seconds=0.5, val_scores={"accuracy": 0.5},
      test_scores={"accuracy": 0.4}, label_min_confidence=None, new_labels=1,
      new_label_accuracy=1.0, labelling_seconds=0.0, seconds=1.0)
  RoundCheckpoints(folder, node, agreement, optimizer, _LABELS,
                   _FINGERPRINT).save(RoundState(
                       next_round=1, finished=False, labels=_LABELS,
                       history=CoTrainingHistory([record], best_round=0),
                       best_node=[v.numpy() * 2 for v in node.variables],
                       best_agreement=[v.numpy() for v in agreement.variables]))
  # TF writes the time of the save into `checkpoint`: fixed times keep its
  # length, so a seed damages the same bytes in every run.
  listing = folder / "checkpoint"
  listing.write_text(re.sub(r"(timestamps?: )[0-9.e+-]+", r"\g<1>1800000000.0",
                            listing.read_text()))


def _restore_checkpoints(folder: pathlib.Path):
  from gam.checkpoints import RoundCheckpoints  # pylint: disable=g-import-not-at-top
  models = _checkpoint_models(seed=7)
  state = RoundCheckpoints(folder, *models, _LABELS, _FINGERPRINT).restore()
  if state is None:
    return None
  return state, [v.numpy() for model in models for v in model.variables]


def _checkpoint_kind(file: str) -> str:
  if file == "checkpoint":
    return "checkpoint list"
  return "index" if file.endswith(".index") else "data"


def _checkpoint_names(folder: pathlib.Path, file: str) -> Tuple[str, ...]:
  # "checkpoint" is in most of TF's messages: only a path names a file here.
  return str(folder / file), str(folder / _ROUND_PREFIX)


INPUT_FORMATS = {
    "planetoid": InputFormat(_copy_cora, _load_cora, lambda file: (
        "text" if file.endswith("test.index") else "pickle")),
    "graphsaint": InputFormat(_write_graphsaint, _load_graphsaint,
                              lambda file: file.rsplit(".", 1)[1]),
    "nus_wide": InputFormat(_write_nus_wide, _load_nus_wide, _nus_wide_kind),
    "mirflickr": InputFormat(_write_mirflickr, _load_mirflickr,
                             _mirflickr_kind),
    "checkpoints": InputFormat(_write_checkpoints, _restore_checkpoints,
                               _checkpoint_kind, _checkpoint_names),
}


# One case (in the child) ------------------------------------------------------


def _digest(value: object) -> str:
  digest = hashlib.sha256()
  _feed(digest, value)
  return digest.hexdigest()


def _feed(digest, value: object) -> None:
  """Hashes what a reader returned: arrays, sparse matrices, dataclasses
  and lists of them."""
  import scipy.sparse as sp  # pylint: disable=g-import-not-at-top
  if sp.issparse(value):
    value = sp.csr_matrix(value)
    for part in (np.asarray(value.shape), value.data, value.indices,
                 value.indptr):
      _feed(digest, part)
  elif isinstance(value, np.ndarray):
    digest.update(f"{value.dtype}{value.shape}".encode())
    digest.update(np.ascontiguousarray(value).tobytes())
  elif dataclasses.is_dataclass(value):
    for field in dataclasses.fields(value):
      _feed(digest, getattr(value, field.name))
  elif isinstance(value, (list, tuple)):
    for item in value:
      _feed(digest, item)
  else:
    digest.update(repr(value).encode())


def _without_instructions(message: str) -> str:
  """The message less the download instructions that not-found errors end
  with: they list every file of the dataset, so name none in particular."""
  from gam_datasets import graphsaint_files, tag_files  # pylint: disable=g-import-not-at-top
  for instructions in (graphsaint_files.MANUAL_DOWNLOAD_INSTRUCTIONS,
                       tag_files.NUS_WIDE_INSTRUCTIONS,
                       tag_files.MIRFLICKR_INSTRUCTIONS):
    message = message.replace(instructions, "")
  return message


def classify(error: Exception, names: Sequence[str]) -> Outcome:
  from graph_models.errors import InputError  # pylint: disable=g-import-not-at-top
  message = _without_instructions(str(error))
  named = any(name in message for name in names)
  if isinstance(error, InputError):
    return Outcome.OWN_ERROR_NAMED if named else Outcome.OWN_ERROR_UNNAMED
  # A missing file is reported by the readers' FileNotFoundErrors.
  if isinstance(error, FileNotFoundError) and named:
    return Outcome.OWN_ERROR_NAMED
  return Outcome.FOREIGN_ERROR


def _type_name(error: BaseException) -> str:
  module = type(error).__module__
  return type(error).__qualname__ if module == "builtins" else (
      f"{module}.{type(error).__qualname__}")


def run_case(spec: InputFormat, case: Case, corrupted: bytes,
             pristine: pathlib.Path, folder: pathlib.Path,
             baseline: str) -> CaseResult:
  """Copies `pristine` to `folder`, writes the damaged file, reads it."""
  shutil.copytree(pristine, folder, copy_function=shutil.copyfile)
  (folder / case.file).write_bytes(corrupted)
  start = time.perf_counter()
  try:
    loaded = spec.load(folder)
  except Exception as error:  # pylint: disable=broad-except
    outcome = classify(error, spec.names(folder, case.file))
    message = str(error).replace(str(folder), "<dir>")[:200]
    return CaseResult(case, outcome, _type_name(error), message,
                      seconds=time.perf_counter() - start)
  finally:
    shutil.rmtree(folder)
  return CaseResult(
      case, Outcome.LOADED, changed=_digest(loaded) != baseline,
      message="the reader returned None" if loaded is None else "",
      seconds=time.perf_counter() - start)


def _folder_files(folder: pathlib.Path) -> List[Tuple[str, bytes]]:
  """(path in the folder, bytes) of each non-empty file, in a fixed order."""
  files = [(path.relative_to(folder).as_posix(), path.read_bytes())
           for path in sorted(folder.rglob("*")) if path.is_file()]
  return [(name, data) for name, data in files if data]


def _protocol_stream():
  """The stdout pipe to the parent, kept for the case records: libraries
  print to stdout too (Keras in Python, TF through file descriptor 1), so
  both are sent to stderr."""
  stream = os.fdopen(os.dup(1), "w", buffering=1)
  os.dup2(2, 1)
  sys.stdout = sys.stderr
  return stream


def child_main(fmt: str, seed: int, start: int, stop: int,
               workdir: pathlib.Path) -> None:
  """Runs cases [start, stop) of `fmt`, printing a JSON line before and
  after each, flushed, so the parent knows the case a death happened in."""
  out = _protocol_stream()
  # A crash's record ends with the end of stderr: let it hold the frames.
  faulthandler.enable()

  def emit(event: str, value: object) -> None:
    out.write(json.dumps({"event": event, "value": value}) + "\n")
    out.flush()

  spec = INPUT_FORMATS[fmt]
  pristine = workdir / "pristine"
  spec.write(pristine)
  baseline = _digest(spec.load(pristine))
  files = _folder_files(pristine)
  emit("ready", None)
  for index in range(start, stop):
    name, corrupted, corruption = corrupt_case(seed, fmt, index, files)
    case = Case(fmt, index, name, spec.file_kind(name), corruption)
    emit("start", dataclasses.asdict(case))
    result = run_case(spec, case, corrupted, pristine, workdir / "case",
                      baseline)
    emit("done", dataclasses.asdict(result))


# Running children (in the parent) ---------------------------------------------


class _Child:
  """A child process running cases, its lines read by a thread so the
  parent can wait for one with a timeout."""

  def __init__(self, fmt: str, seed: int, start: int, stop: int,
               workdir: pathlib.Path):
    workdir.mkdir(parents=True)
    self.log_path = workdir / "stderr.log"
    self._log = open(self.log_path, "wb")
    self.process = subprocess.Popen(
        [sys.executable, str(pathlib.Path(__file__).resolve()), "--child",
         fmt, "--seed", str(seed), "--start", str(start), "--cases",
         str(stop), "--workdir", str(workdir)],
        stdout=subprocess.PIPE, stderr=self._log, text=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", **os.environ})
    self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
    threading.Thread(target=self._pump, daemon=True).start()

  def _pump(self) -> None:
    for line in self.process.stdout:
      self._lines.put(line)
    self._lines.put(None)

  def next_event(self, timeout: float) -> Optional[Tuple[str, object]]:
    """(event, value); None once the child has exited.

    Raises:
      queue.Empty: nothing came within `timeout` seconds.
    """
    line = self._lines.get(timeout=timeout)
    if line is None:
      self.process.wait()
      return None
    event = json.loads(line)
    return event["event"], event["value"]

  def death(self) -> str:
    code = self.process.returncode
    return (signal.Signals(-code).name if code < 0
            else f"exit status {code}")

  def stderr_tail(self, limit: int = 200) -> str:
    self._log.flush()
    return self.log_path.read_bytes()[-limit:].decode("utf-8", "replace")

  def close(self) -> None:
    if self.process.poll() is None:
      self.process.kill()
    self.process.wait()
    self.process.stdout.close()
    self._log.close()


def _expect_ready(child: _Child) -> None:
  try:
    event = child.next_event(STARTUP_TIMEOUT_S)
  except queue.Empty:
    event = ("no answer", None)
  if event is None or event[0] != "ready":
    raise RuntimeError(f"the fuzzing child did not start: {event} "
                       f"(stderr ends: {child.stderr_tail(2000)})")


def _run_child(fmt: str, seed: int, start: int, stop: int, timeout: float,
               workdir: pathlib.Path,
               report: Callable[[CaseResult], None]) -> List[CaseResult]:
  """Runs cases from `start` in one child until they are done, it dies or
  a case hangs (that case then ends as a crash or a hang)."""
  child = _Child(fmt, seed, start, stop, workdir / f"from-{start}")
  results: List[CaseResult] = []
  try:
    _expect_ready(child)
    while start + len(results) < stop:
      # Between cases the child only draws the next damage.
      event = child.next_event(timeout)
      if event is None or event[0] != "start":
        raise RuntimeError(f"the fuzzing child stopped between cases: "
                           f"{event} (stderr ends: {child.stderr_tail()})")
      case = Case.from_json(event[1])
      try:
        event = child.next_event(timeout)
      except queue.Empty:
        results.append(CaseResult(case, Outcome.HANG, seconds=timeout))
      else:
        results.append(
            CaseResult(case, Outcome.CRASH, child.death(), child.stderr_tail())
            if event is None else CaseResult.from_json(event[1]))
      report(results[-1])
      if results[-1].outcome in (Outcome.HANG, Outcome.CRASH):
        break
  finally:
    child.close()
  return results


def run_format(fmt: str, cases: int, seed: int, timeout: float,
               report: Callable[[CaseResult], None]) -> List[CaseResult]:
  """Cases 0..cases-1 of `fmt`, each classified."""
  results: List[CaseResult] = []
  with tempfile.TemporaryDirectory(prefix=f"fuzz-{fmt}-") as workdir:
    while len(results) < cases:
      results += _run_child(fmt, seed, len(results), cases, timeout,
                            pathlib.Path(workdir), report)
  return results


# Reporting --------------------------------------------------------------------


class Progress:
  """Prints a running count about ten times per format, and every failure
  as it happens."""

  def __init__(self, fmt: str, cases: int):
    self.fmt, self.cases = fmt, cases
    self.counts: collections.Counter = collections.Counter()
    self.start = time.perf_counter()
    print(f"{fmt}: {cases} cases", flush=True)

  def __call__(self, result: CaseResult) -> None:
    self.counts[result.outcome] += 1
    if result.outcome in FAILURES:
      print(f"  FAILURE {result.describe()}", flush=True)
    done = sum(self.counts.values())
    if done % max(1, self.cases // 10) == 0 or done == self.cases:
      counts = ", ".join(f"{outcome} {n}" for outcome, n in
                         sorted(self.counts.items()))
      print(f"  {self.fmt} {done}/{self.cases} "
            f"({time.perf_counter() - self.start:.0f} s): {counts}",
            flush=True)


def count_table(results: Sequence[CaseResult], by_kind: bool = False) -> str:
  """A Markdown table of outcomes per format (and file kind)."""
  counts: Dict[Tuple[str, ...], collections.Counter] = collections.defaultdict(
      collections.Counter)
  for result in results:
    key = ((result.case.format, result.case.file_kind) if by_kind
           else (result.case.format,))
    counts[key][result.outcome] += 1
    counts[key]["loaded_changed"] += bool(result.changed)
  columns = [outcome.value for outcome in Outcome] + ["loaded_changed"]
  head = ["format"] + (["files"] if by_kind else [])
  lines = ["| " + " | ".join(head + columns) + " |",
           "|" + "---|" * (len(head) + len(columns))]
  for key in sorted(counts, key=lambda key: (FORMATS.index(key[0]), key)):
    counter = counts[key]
    lines.append("| " + " | ".join(list(key) + [str(counter[c])
                                                for c in columns]) + " |")
  return "\n".join(lines)


def write_json(path: pathlib.Path, args: argparse.Namespace,
               results: Sequence[CaseResult],
               seconds: Dict[str, float]) -> None:
  counts = {fmt: dict(collections.Counter(
      r.outcome.value for r in results if r.case.format == fmt))
            for fmt in seconds}
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps({
      "seed": args.seed, "cases_per_format": args.cases,
      "timeout_s": args.timeout, "seconds": seconds, "counts": counts,
      "results": [dataclasses.asdict(r) for r in results]}, indent=1))


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--cases", type=int, default=200,
                      help="cases per format")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--formats", nargs="+", choices=FORMATS,
                      default=list(FORMATS))
  parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT,
                      help="where to write every case as JSON")
  parser.add_argument("--timeout", type=float, default=60.0,
                      help="seconds a case may take before it is a hang")
  # How the parent starts a child; not for users.
  parser.add_argument("--child", choices=FORMATS, help=argparse.SUPPRESS)
  parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
  parser.add_argument("--workdir", type=pathlib.Path, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.child:
    child_main(args.child, args.seed, args.start, args.cases, args.workdir)
    return
  results: List[CaseResult] = []
  seconds: Dict[str, float] = {}
  for fmt in args.formats:
    start = time.perf_counter()
    results += run_format(fmt, args.cases, args.seed, args.timeout,
                          Progress(fmt, args.cases))
    seconds[fmt] = round(time.perf_counter() - start, 1)
  print(f"\n{args.cases} cases per format, seed {args.seed}, "
        f"{sum(seconds.values()):.0f} s\n")
  print(count_table(results) + "\n\n" + count_table(results, by_kind=True))
  write_json(args.out, args, results, seconds)
  print(f"\nwrote {args.out}")


if __name__ == "__main__":
  main()
