"""Round checkpoints: round trip, rotation, and refusing what is not ours."""

import json
import os
import re

import numpy as np
import pytest

from gam.checkpoints import (CheckpointError, load_latest_checkpoint,
                             save_checkpoint)

FINGERPRINT = {"graph": {"name": "toy", "nodes": 5},
               "options": {"seed": 3, "rounds": 4},
               "models": ["mlp", [32, 16]]}


def manifest_of(round_index, fingerprint=FINGERPRINT):
  return {"fingerprint": fingerprint, "history": list(range(round_index + 1)),
          "best_round": round_index, "finished": False}


def arrays_of(round_index):
  return {"labels": np.array([0, 1, -1, -1, round_index], dtype=np.int64),
          "weights": np.arange(6, dtype=np.float32).reshape(2, 3) * round_index,
          "seed_state": np.array([round_index, 7], dtype=np.uint32),
          "scalar": np.float64(0.25 * round_index),
          "flags": np.array([True, False])}


def assert_arrays_equal(found, expected):
  assert sorted(found) == sorted(expected)
  for key, value in expected.items():
    value = np.asarray(value)
    assert found[key].dtype == value.dtype, key
    assert found[key].shape == value.shape, key
    np.testing.assert_array_equal(found[key], value)


def test_round_trip_restores_manifest_and_arrays_exactly(tmp_path):
  path = save_checkpoint(str(tmp_path), 1, manifest_of(1), arrays_of(1))
  assert path == str(tmp_path / "round_0001")
  assert sorted(os.listdir(path)) == ["manifest.json", "state.npz"]
  manifest, arrays = load_latest_checkpoint(str(tmp_path), FINGERPRINT)
  assert manifest["round"] == 1
  assert manifest["format_version"] == 1
  assert len(manifest["state_sha256"]) == 64
  for key, value in manifest_of(1).items():
    assert manifest[key] == value
  assert_arrays_equal(arrays, arrays_of(1))


def test_the_caller_manifest_is_not_modified(tmp_path):
  manifest = manifest_of(0)
  save_checkpoint(str(tmp_path), 0, manifest, arrays_of(0))
  assert manifest == manifest_of(0)


def test_latest_is_the_newest_round_and_only_keep_rounds_remain(tmp_path):
  for r in range(5):
    save_checkpoint(str(tmp_path), r, manifest_of(r), arrays_of(r), keep=2)
  assert (tmp_path / "latest").read_text() == "round_0004"
  assert sorted(os.listdir(tmp_path)) == ["latest", "round_0003",
                                          "round_0004"]
  manifest, arrays = load_latest_checkpoint(str(tmp_path), FINGERPRINT)
  assert manifest["round"] == 4 and manifest["history"] == [0, 1, 2, 3, 4]
  assert_arrays_equal(arrays, arrays_of(4))


def test_keep_three_and_keep_one(tmp_path):
  three, one = tmp_path / "three", tmp_path / "one"
  for r in range(4):
    save_checkpoint(str(three), r, manifest_of(r), arrays_of(r), keep=3)
    save_checkpoint(str(one), r, manifest_of(r), arrays_of(r), keep=1)
  assert sorted(os.listdir(three)) == ["latest", "round_0001", "round_0002",
                                       "round_0003"]
  assert sorted(os.listdir(one)) == ["latest", "round_0003"]
  assert load_latest_checkpoint(str(one), FINGERPRINT)[0]["round"] == 3


def test_saving_a_round_again_replaces_it(tmp_path):
  save_checkpoint(str(tmp_path), 2, manifest_of(2), arrays_of(2))
  save_checkpoint(str(tmp_path), 2, manifest_of(2), arrays_of(7))
  _, arrays = load_latest_checkpoint(str(tmp_path), FINGERPRINT)
  assert_arrays_equal(arrays, arrays_of(7))


def test_nothing_to_load_returns_none(tmp_path):
  assert load_latest_checkpoint(str(tmp_path), FINGERPRINT) is None
  assert load_latest_checkpoint(str(tmp_path / "missing"), FINGERPRINT) is None
  # A round directory without a `latest` pointer is not a checkpoint either.
  (tmp_path / "round_0000").mkdir()
  assert load_latest_checkpoint(str(tmp_path), FINGERPRINT) is None


def test_a_different_fingerprint_is_refused_naming_the_field(tmp_path):
  save_checkpoint(str(tmp_path), 0, manifest_of(0), arrays_of(0))
  other = json.loads(json.dumps(FINGERPRINT))
  other["options"]["seed"] = 4
  with pytest.raises(CheckpointError) as error:
    load_latest_checkpoint(str(tmp_path), other)
  message = str(error.value)
  assert "options.seed: checkpoint has 3, this run has 4" in message
  assert str(tmp_path / "round_0000") in message
  assert "different run" in message
  # Only the differing field is named.
  assert "options.rounds" not in message and "graph" not in message


def test_fingerprint_differences_in_nested_and_missing_fields(tmp_path):
  save_checkpoint(str(tmp_path), 0, manifest_of(0), arrays_of(0))
  other = json.loads(json.dumps(FINGERPRINT))
  other["graph"]["name"] = "cora"
  other["models"] = ["gcn", [32, 16]]
  other["options"]["extra"] = True
  with pytest.raises(CheckpointError) as error:
    load_latest_checkpoint(str(tmp_path), other)
  message = str(error.value)
  assert "graph.name: checkpoint has 'toy', this run has 'cora'" in message
  assert ("models: checkpoint has ['mlp', [32, 16]], this run has "
          "['gcn', [32, 16]]") in message
  assert "options.extra: checkpoint has None, this run has True" in message


def test_fingerprint_is_compared_as_json(tmp_path):
  # Tuples become lists in the manifest; that is not a difference.
  fingerprint = dict(FINGERPRINT, models=("mlp", (32, 16)))
  save_checkpoint(str(tmp_path), 0, manifest_of(0, fingerprint), arrays_of(0))
  manifest, _ = load_latest_checkpoint(str(tmp_path), fingerprint)
  assert manifest["fingerprint"]["models"] == ["mlp", [32, 16]]


def test_a_truncated_state_is_refused_as_corrupt(tmp_path):
  path = save_checkpoint(str(tmp_path), 0, manifest_of(0), arrays_of(0))
  state = os.path.join(path, "state.npz")
  data = open(state, "rb").read()
  with open(state, "wb") as f:
    f.write(data[:len(data) // 2])
  with pytest.raises(CheckpointError, match=re.escape(
      f"{state} is corrupt: its checksum does not match "
      f"{os.path.join(path, 'manifest.json')}")):
    load_latest_checkpoint(str(tmp_path), FINGERPRINT)


def test_an_altered_state_is_refused_as_corrupt(tmp_path):
  path = save_checkpoint(str(tmp_path), 0, manifest_of(0), arrays_of(0))
  state = os.path.join(path, "state.npz")
  other = os.path.join(str(tmp_path), "other.npz")
  np.savez(other, **dict(arrays_of(0), labels=np.array([1, 1, 1, 1, 1])))
  os.replace(other, state)  # A perfectly valid .npz, but not the saved one.
  with pytest.raises(CheckpointError, match=re.escape(f"{state} is corrupt")):
    load_latest_checkpoint(str(tmp_path), FINGERPRINT)


def test_a_flipped_byte_is_refused_as_corrupt(tmp_path):
  path = save_checkpoint(str(tmp_path), 0, manifest_of(0), arrays_of(0))
  state = os.path.join(path, "state.npz")
  data = bytearray(open(state, "rb").read())
  data[len(data) // 2] ^= 0xFF
  with open(state, "wb") as f:
    f.write(bytes(data))
  with pytest.raises(CheckpointError, match=re.escape(f"{state} is corrupt")):
    load_latest_checkpoint(str(tmp_path), FINGERPRINT)


def test_a_missing_state_is_refused(tmp_path):
  path = save_checkpoint(str(tmp_path), 0, manifest_of(0), arrays_of(0))
  state = os.path.join(path, "state.npz")
  os.remove(state)
  with pytest.raises(CheckpointError, match=re.escape(f"{state} is missing")):
    load_latest_checkpoint(str(tmp_path), FINGERPRINT)


def test_invalid_json_manifest_is_refused_naming_the_file(tmp_path):
  path = save_checkpoint(str(tmp_path), 0, manifest_of(0), arrays_of(0))
  manifest = os.path.join(path, "manifest.json")
  text = open(manifest).read()
  with open(manifest, "w") as f:
    f.write(text[:len(text) // 2])
  with pytest.raises(CheckpointError, match=re.escape(
      f"{manifest} is not valid JSON")):
    load_latest_checkpoint(str(tmp_path), FINGERPRINT)


def test_a_manifest_of_an_unknown_format_is_refused(tmp_path):
  path = save_checkpoint(str(tmp_path), 0, manifest_of(0), arrays_of(0))
  manifest = os.path.join(path, "manifest.json")
  content = json.load(open(manifest))
  content["format_version"] = 99
  with open(manifest, "w") as f:
    json.dump(content, f)
  with pytest.raises(CheckpointError, match=re.escape(
      f"{manifest}: unknown checkpoint format (expected format_version 1)")):
    load_latest_checkpoint(str(tmp_path), FINGERPRINT)
  with open(manifest, "w") as f:
    json.dump([1, 2], f)  # Valid JSON, but not a manifest.
  with pytest.raises(CheckpointError, match="unknown checkpoint format"):
    load_latest_checkpoint(str(tmp_path), FINGERPRINT)


def test_latest_naming_a_missing_round_is_refused(tmp_path):
  save_checkpoint(str(tmp_path), 0, manifest_of(0), arrays_of(0))
  (tmp_path / "latest").write_text("round_0007")
  latest = str(tmp_path / "latest")
  with pytest.raises(CheckpointError, match=re.escape(
      f"{latest} names 'round_0007', which has no manifest.json")):
    load_latest_checkpoint(str(tmp_path), FINGERPRINT)


def test_latest_naming_something_that_is_not_a_round_is_refused(tmp_path):
  save_checkpoint(str(tmp_path), 0, manifest_of(0), arrays_of(0))
  (tmp_path / "latest").write_text("../elsewhere")
  with pytest.raises(CheckpointError, match="names '../elsewhere'"):
    load_latest_checkpoint(str(tmp_path), FINGERPRINT)


def test_a_leftover_staging_directory_does_not_confuse_loading(tmp_path):
  for r in range(2):
    save_checkpoint(str(tmp_path), r, manifest_of(r), arrays_of(r))
  # A run killed while writing round 1 again (another pid): a half-written
  # staging directory with a manifest of a different run and a broken state.
  staging = tmp_path / "round_0001.tmp-123"
  staging.mkdir()
  (staging / "state.npz").write_bytes(b"PK\x03\x04 half written")
  (staging / "manifest.json").write_text('{"round": 1, "fingerp')
  manifest, arrays = load_latest_checkpoint(str(tmp_path), FINGERPRINT)
  assert manifest["round"] == 1
  assert_arrays_equal(arrays, arrays_of(1))


def test_a_leftover_staging_directory_is_not_counted_or_loaded_later(tmp_path):
  staging = tmp_path / "round_0001.tmp-123"
  staging.mkdir(parents=True)
  (staging / "state.npz").write_bytes(b"junk")
  for r in range(3):
    save_checkpoint(str(tmp_path), r, manifest_of(r), arrays_of(r), keep=2)
  names = sorted(os.listdir(tmp_path))
  # Rotation counts only real rounds; the foreign staging dir is left alone.
  assert [n for n in names if ".tmp-" not in n] == ["latest", "round_0001",
                                                    "round_0002"]
  assert not any(n.startswith(f"round_0002.tmp-{os.getpid()}") for n in names)
  manifest, arrays = load_latest_checkpoint(str(tmp_path), FINGERPRINT)
  assert manifest["round"] == 2
  assert_arrays_equal(arrays, arrays_of(2))


def test_a_killed_write_leaves_the_previous_round_as_latest(tmp_path):
  save_checkpoint(str(tmp_path), 0, manifest_of(0), arrays_of(0))
  # Round 1 never got past staging: `latest` still names round 0.
  staging = tmp_path / "round_0001.tmp-99999"
  staging.mkdir()
  (staging / "state.npz").write_bytes(b"")
  manifest, arrays = load_latest_checkpoint(str(tmp_path), FINGERPRINT)
  assert manifest["round"] == 0
  assert_arrays_equal(arrays, arrays_of(0))


def test_saving_leaves_no_temporary_files(tmp_path):
  save_checkpoint(str(tmp_path), 0, manifest_of(0), arrays_of(0))
  save_checkpoint(str(tmp_path), 1, manifest_of(1), arrays_of(1))
  leftovers = [name for root, _, files in os.walk(tmp_path)
               for name in files + [os.path.basename(root)] if ".tmp-" in name]
  assert not leftovers


def test_a_round_saved_below_existing_ones_stays_latest_and_loadable(tmp_path):
  # E.g. a run restarted from scratch in a directory holding later rounds.
  for r in (2, 3):
    save_checkpoint(str(tmp_path), r, manifest_of(r), arrays_of(r), keep=2)
  save_checkpoint(str(tmp_path), 0, manifest_of(0), arrays_of(0), keep=2)
  assert (tmp_path / "latest").read_text() == "round_0000"
  manifest, arrays = load_latest_checkpoint(str(tmp_path), FINGERPRINT)
  assert manifest["round"] == 0
  assert_arrays_equal(arrays, arrays_of(0))


def test_rotation_orders_rounds_by_number_not_by_name(tmp_path):
  # "round_10000" sorts before "round_9999", so rotation deletes round 10000.
  for r in (9998, 9999, 10000):
    save_checkpoint(str(tmp_path), r, manifest_of(r), arrays_of(r), keep=2)
  assert (tmp_path / "latest").read_text() == "round_10000"
  manifest, _ = load_latest_checkpoint(str(tmp_path), FINGERPRINT)
  assert manifest["round"] == 10000
