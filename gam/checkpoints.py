"""Round checkpoints of the GAM co-training loop.

After every round the loop writes `<dir>/round_<r>/` holding

* `state.npz`: arrays only (read with `allow_pickle=False`): the grown label
  table, the classifier's, the best round's and the agreement model's
  variables (random-seed states included) and the optimizer's variables;
* `manifest.json`: the round, the per-round history, the best round, a
  fingerprint of the run (graph, options, model configs) and the SHA-256 of
  `state.npz`;

then points `<dir>/latest` at it. A round directory is written under a
temporary name and renamed into place, so a run killed mid-write leaves the
previous round as the latest. Loading checks the fingerprint (a checkpoint
of another run is refused, naming what differs) and the checksum (a
truncated or altered file is refused, naming the file).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from typing import Any, Dict, Optional, Tuple

import numpy as np

FORMAT_VERSION = 1
LATEST = "latest"
MANIFEST = "manifest.json"
STATE = "state.npz"


class CheckpointError(ValueError):
  """A checkpoint is corrupt, incomplete or belongs to another run."""


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _round_name(round_index: int) -> str:
  return f"round_{round_index:04d}"


def _write_atomically(path: str, text: str) -> None:
  temporary = f"{path}.tmp-{os.getpid()}"
  with open(temporary, "w") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(temporary, path)


def save_checkpoint(directory: str, round_index: int, manifest: Dict[str, Any],
                    arrays: Dict[str, np.ndarray], keep: int = 2) -> str:
  """Writes round `round_index` and makes it the latest; returns its path.

  Only the `keep` most recent rounds are kept.
  """
  os.makedirs(directory, exist_ok=True)
  final = os.path.join(directory, _round_name(round_index))
  staging = f"{final}.tmp-{os.getpid()}"
  shutil.rmtree(staging, ignore_errors=True)
  os.makedirs(staging)
  state_path = os.path.join(staging, STATE)
  with open(state_path, "wb") as f:
    np.savez(f, **arrays)
    f.flush()
    os.fsync(f.fileno())
  manifest = dict(manifest, format_version=FORMAT_VERSION, round=round_index,
                  state_sha256=_sha256(state_path))
  _write_atomically(os.path.join(staging, MANIFEST),
                    json.dumps(manifest, indent=1, sort_keys=True))
  shutil.rmtree(final, ignore_errors=True)
  os.replace(staging, final)
  _write_atomically(os.path.join(directory, LATEST), _round_name(round_index))
  rounds = sorted((int(name[len("round_"):]), name)
                  for name in os.listdir(directory)
                  if name.startswith("round_") and name[6:].isdigit())
  kept = {name for _, name in rounds[-keep:]} | {_round_name(round_index)}
  for _, name in rounds:
    if name not in kept:
      shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
  return final


def _differences(expected: Any, found: Any, path: str = "") -> list:
  if isinstance(expected, dict) and isinstance(found, dict):
    out = []
    for key in sorted(set(expected) | set(found)):
      out += _differences(expected.get(key), found.get(key),
                          f"{path}.{key}" if path else key)
    return out
  return [] if expected == found else [f"{path}: checkpoint has {found!r}, "
                                       f"this run has {expected!r}"]


def load_latest_checkpoint(directory: str, fingerprint: Dict[str, Any]
                           ) -> Optional[Tuple[Dict[str, Any],
                                               Dict[str, np.ndarray]]]:
  """`(manifest, arrays)` of the latest round in `directory`, or None.

  Raises `CheckpointError` if the latest round is unreadable, altered, or
  was written by a run with a different `fingerprint`.
  """
  latest_path = os.path.join(directory, LATEST)
  if not os.path.exists(latest_path):
    return None
  with open(latest_path) as f:
    name = f.read().strip()
  round_dir = os.path.join(directory, name)
  manifest_path = os.path.join(round_dir, MANIFEST)
  state_path = os.path.join(round_dir, STATE)
  if not name.startswith("round_") or not os.path.isfile(manifest_path):
    raise CheckpointError(f"{latest_path} names {name!r}, which has no "
                          f"{MANIFEST}; delete {directory} to start over")
  try:
    with open(manifest_path) as f:
      manifest = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise CheckpointError(f"{manifest_path} is not valid JSON ({error})") \
        from None
  if not isinstance(manifest, dict) or manifest.get(
      "format_version") != FORMAT_VERSION:
    raise CheckpointError(f"{manifest_path}: unknown checkpoint format "
                          f"(expected format_version {FORMAT_VERSION})")
  differences = _differences(json.loads(json.dumps(fingerprint)),
                             manifest.get("fingerprint"))
  if differences:
    raise CheckpointError(
        f"{round_dir} was written by a different run; use another "
        f"checkpoint directory or delete it. Differences: "
        + "; ".join(differences[:5]))
  if not os.path.isfile(state_path):
    raise CheckpointError(f"{state_path} is missing")
  if _sha256(state_path) != manifest.get("state_sha256"):
    raise CheckpointError(f"{state_path} is corrupt: its checksum does not "
                          f"match {manifest_path}")
  try:
    with np.load(state_path, allow_pickle=False) as data:
      arrays = {key: data[key] for key in data.files}
  except (OSError, ValueError, zipfile.BadZipFile) as error:
    raise CheckpointError(f"{state_path} cannot be read ({error})") from None
  return manifest, arrays
