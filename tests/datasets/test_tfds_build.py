"""`tfds build` finds the builders by folder path (TFDS's
`<name>/<name>_dataset_builder.py` layout) and by name with
`--imports gam_datasets`, and writes the dataset."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

import gam_datasets

BUILDERS = pathlib.Path(gam_datasets.__file__).parent
# Configs that build from the package alone: the bundled Cora files and the
# in-memory synthetic graph.
CASES = {"planetoid": ("cora", 2708), "flickr_cooccurrence":
         ("synthetic_small", None)}


def tfds_build(target: str, config: str, data_dir: pathlib.Path, *flags):
  tfds_cli = pathlib.Path(sys.executable).parent / "tfds"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  data_dir.mkdir()
  done = subprocess.run(
      [str(tfds_cli), "build", target, "--config", config, "--data_dir",
       str(data_dir), *flags], capture_output=True, text=True, env=env,
      cwd=data_dir, timeout=300, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  info = next(data_dir.glob(f"*/{config}/*/dataset_info.json"))
  return json.loads(info.read_text())


def num_examples(info) -> int:
  return sum(int(split.get("shardLengths", ["0"])[0])
             for split in info["splits"])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_tfds_build_finds_the_builder_by_folder_and_by_import(name, tmp_path):
  config, nodes = CASES[name]
  by_folder = tfds_build(str(BUILDERS / name), config, tmp_path / "folder")
  by_import = tfds_build(name, config, tmp_path / "imports",
                         "--imports", "gam_datasets")
  for info in (by_folder, by_import):
    assert info["name"] == name
    assert num_examples(info) == num_examples(by_folder) > 0
  if nodes is not None:  # one example per node
    assert num_examples(by_folder) == nodes
