"""`graph_models.distribution`: strategies by name, logical CPUs, and training
under `MirroredStrategy` (two logical CPUs) and `MultiWorkerMirroredStrategy`
(two worker processes on 127.0.0.1) that ends exactly where one device
does."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from graph_models import distribution
from tests.cluster import worker_tf_configs

SCRIPT = pathlib.Path(__file__).with_name("strategy_equivalence.py")
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

# Replicas that split a batch add their half-batch gradients in another order
# than one device sums the batch: float32 rounding, 9e-8 at most after the
# script's 16 SGD steps. 1e-5 leaves a factor 100 for other CPUs, while a
# hand-computed loss term left undivided by the replica count moves weights
# by 1e-2 or more (it doubles that term's gradient).
SPLIT_TOLERANCE = 1e-5
# Replicas that receive the whole element repeat the single-device step:
# halving the loss and summing two equal halves are exact in binary, so the
# weights agree to the last bit (0.0 measured). The bound stays at float32
# resolution because the agreement model trains with Adam, which hardly
# notices a gradient twice too large (6e-6 when its division is missing).
WHOLE_TOLERANCE = 1e-7
CASE_TOLERANCES = {
    "gcn_full_batch": WHOLE_TOLERANCE,
    "commnet_packed": SPLIT_TOLERANCE,
    "graph_regularization_packed": SPLIT_TOLERANCE,
    "gam_round": WHOLE_TOLERANCE,
}


def _script_env(**extra: str) -> dict:
  return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def _last_json_line(stdout: str) -> dict:
  return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def mirrored():
  """The script's JSON; it runs in its own process, as the two logical CPUs
  must be set up before TensorFlow starts."""
  result = subprocess.run(
      [sys.executable, str(SCRIPT), "mirrored"], cwd=REPO_ROOT,
      capture_output=True, text=True, timeout=900, check=False,
      env=_script_env())
  assert result.returncode == 0, result.stderr[-5000:]
  return _last_json_line(result.stdout)


@pytest.fixture(scope="module")
def multi_worker():
  """Each worker's JSON: two processes, one worker each, joined through
  TF_CONFIG on 127.0.0.1."""
  workers = [
      subprocess.Popen(
          [sys.executable, str(SCRIPT), "multi_worker"], cwd=REPO_ROOT,
          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
          env=_script_env(TF_CONFIG=tf_config))
      for tf_config in worker_tf_configs(2)]
  outputs = []
  try:
    for worker in workers:
      stdout, stderr = worker.communicate(timeout=900)
      assert worker.returncode == 0, stderr[-5000:]
      outputs.append(_last_json_line(stdout))
  finally:
    for worker in workers:
      worker.kill()
  return outputs


def _check_matches_one_device(result: dict, case: str) -> None:
  assert result["replicas"] == 2
  # NaN (a diverged run) fails the comparison too.
  assert result["max_abs_weight_diff"] <= CASE_TOLERANCES[case], result
  if "max_update" in result:  # training moved far beyond the tolerance
    assert result["max_update"] > 100 * SPLIT_TOLERANCE
  assert result["strategy"].keys() == result["default"].keys()
  for name, value in result["default"].items():
    assert result["strategy"][name] == pytest.approx(value, rel=1e-5,
                                                     abs=1e-6), name


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASE_TOLERANCES))
def test_mirrored_training_matches_one_device(mirrored, case):
  _check_matches_one_device(mirrored[case], case)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASE_TOLERANCES))
def test_multi_worker_training_matches_one_device(multi_worker, case):
  for worker in multi_worker:
    _check_matches_one_device(worker[case], case)
  # Both workers end with the same model.
  assert multi_worker[0][case]["weight_sum"] == multi_worker[1][case][
      "weight_sum"]


@pytest.mark.slow
def test_mirrored_replicas_each_compute_their_share(mirrored):
  # One process holds both replicas: it computes both shares, on whole
  # blocks of 64 (10,000 items are 157 blocks: 78 and 79).
  assert mirrored["map_shards"] == {
      "calls": [[0, 4992], [4992, 10_000]], "matches": True}


@pytest.mark.slow
def test_each_worker_computes_only_its_share(multi_worker):
  assert [worker["map_shards"] for worker in multi_worker] == [
      {"calls": [[0, 4992]], "matches": True},
      {"calls": [[4992, 10_000]], "matches": True}]


@pytest.mark.slow
def test_mirrored_replicas_each_predict_their_share(mirrored):
  # 3,000 nodes in batches of 256 are 12 batches: 6 per replica.
  assert mirrored["predict_nodes"]["packed"] == [[0, 1536], [1536, 3000]]
  assert mirrored["predict_nodes"]["max_abs_diff"] <= 1e-6


@pytest.mark.slow
def test_each_worker_packs_and_predicts_only_its_share(multi_worker):
  assert [worker["predict_nodes"]["packed"] for worker in multi_worker] == [
      [[0, 1536]], [[1536, 3000]]]
  for worker in multi_worker:
    assert worker["predict_nodes"]["max_abs_diff"] <= 1e-6


def test_share_bounds_cut_whole_blocks():
  np.testing.assert_array_equal(distribution.share_bounds(10_000, 2, 4096),
                                [0, 4096, 10_000])
  np.testing.assert_array_equal(distribution.share_bounds(10, 3), [0, 3, 6,
                                                                   10])
  np.testing.assert_array_equal(distribution.share_bounds(100, 3, 64),
                                [0, 0, 64, 100])
  np.testing.assert_array_equal(distribution.share_bounds(0, 2, 8), [0, 0, 0])


def test_one_replica_computes_everything_in_one_call():
  calls = []

  def function(start, stop):
    calls.append((start, stop))
    return np.arange(start, stop)
  np.testing.assert_array_equal(distribution.map_shards(
      tf.distribute.get_strategy(), function, 7, align=4), np.arange(7))
  assert calls == [(0, 7)]


def test_default_strategy_is_the_current_one():
  assert distribution.make_strategy("default") is tf.distribute.get_strategy()


def test_mirrored_uses_the_visible_devices():
  strategy = distribution.make_strategy("mirrored")
  assert isinstance(strategy, tf.distribute.MirroredStrategy)
  assert strategy.num_replicas_in_sync == max(
      1, len(tf.config.list_logical_devices("GPU")))


def test_unknown_strategy_names_the_choices():
  with pytest.raises(ValueError, match="unknown strategy 'nccl'.*mirrored"):
    distribution.make_strategy("nccl")


def test_tpu_address_without_tpu_strategy_is_refused():
  with pytest.raises(ValueError, match="only used by the tpu strategy"):
    distribution.make_strategy("mirrored", tpu_address="local")


def test_multi_worker_without_tf_config_says_so(monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(ValueError, match="TF_CONFIG.*not set"):
    distribution.make_strategy("multi_worker")


@pytest.mark.parametrize("value", [
    "{cluster: nope",
    "[]",
    '{"cluster": {}}',
    '{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}',
    '{"cluster": {"worker": ["localhost:1"]}}',
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "chief", '
     '"index": 0}}'),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", '
     '"index": 1}}'),
])
def test_malformed_tf_config_is_a_clear_error(monkeypatch, value):
  monkeypatch.setenv("TF_CONFIG", value)
  with pytest.raises(ValueError, match="TF_CONFIG"):
    distribution.make_strategy("multi_worker")


def test_well_formed_tf_config_passes_the_check():
  distribution.check_tf_config(json.dumps({
      "cluster": {"chief": ["host0:2222"], "worker": ["host1:2222",
                                                     "host2:2222"]},
      "task": {"type": "worker", "index": 1}}))


@pytest.mark.parametrize("address", [None, "local"])
def test_tpu_strategy_without_a_tpu_says_so(address):
  with pytest.raises(ValueError, match="no TPU could be found"):
    distribution.make_strategy("tpu", address)


def test_unreachable_tpu_names_the_address(monkeypatch):
  # A real unreachable address can hang until a network timeout, and a failed
  # connection leaves the process's TF context unusable.
  def refuse(resolver):
    raise tf.errors.UnavailableError(None, None,
                                     "failed to connect to all addresses\n"
                                     "details")
  monkeypatch.setattr(tf.config, "experimental_connect_to_cluster", refuse)
  with pytest.raises(ValueError, match=r"at 'grpc://10\.1\.2\.3:8470'.*"
                     r"needs a TPU \(failed to connect to all addresses\)$"):
    distribution.make_strategy("tpu", "grpc://10.1.2.3:8470")


def test_logical_cpus_cannot_be_changed_once_tensorflow_runs():
  tf.constant(0.0) + 1  # make sure the runtime is initialised
  with pytest.raises(RuntimeError, match="already initialised"):
    distribution.configure_logical_cpus(3)


def test_logical_cpu_count_must_be_positive():
  with pytest.raises(ValueError, match="count must be >= 1"):
    distribution.configure_logical_cpus(0)


@pytest.mark.parametrize("task_type, task_id, cluster, chief", [
    ("chief", 0, {"chief": ["a"], "worker": ["b"]}, True),
    ("worker", 0, {"chief": ["a"], "worker": ["b"]}, False),
    ("worker", 0, {"worker": ["a", "b"]}, True),
    ("worker", 1, {"worker": ["a", "b"]}, False),
    ("evaluator", 0, {"worker": ["a"], "evaluator": ["b"]}, False),
])
def test_the_chief_is_the_chief_task_else_worker_0(task_type, task_id,
                                                    cluster, chief):
  assert distribution.is_chief_task(task_type, task_id, cluster) is chief


def test_outside_a_cluster_every_process_writes_in_place(tmp_path):
  strategy = tf.distribute.get_strategy()
  assert distribution.is_chief(strategy)
  assert distribution.write_dir(tmp_path / "out", strategy) == tmp_path / "out"
