"""pyproject.toml lists every package and ships the data the code reads.

The wheel itself is built and run from a fresh venv by .ci/run."""

import pathlib
import tomllib

from tests.conftest import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _import_name(folder: pathlib.Path) -> str:
  parts = folder.relative_to(REPO_ROOT).parts
  mapped = {v: k for k, v in SETUPTOOLS["package-dir"].items()}
  return ".".join((mapped.get(parts[0], parts[0]),) + parts[1:])


def test_every_package_folder_is_listed():
  folders = [path.parent for top in ("gam", "graph_models", "datasets")
             for path in (REPO_ROOT / top).rglob("__init__.py")]
  assert sorted(_import_name(f) for f in folders) == sorted(
      SETUPTOOLS["packages"])


def test_package_data_covers_dummy_data_checksums_and_cora():
  patterns = SETUPTOOLS["package-data"]["gam_datasets"]
  datasets = REPO_ROOT / "datasets"
  shipped = {path for pattern in patterns for path in datasets.glob(pattern)
             if path.is_file()}
  wanted = {path for path in datasets.rglob("*") if path.is_file() and (
      "dummy_data" in path.parts or path.name == "checksums.tsv"
      or "data" in path.relative_to(datasets).parts[1:2])}
  assert wanted and wanted <= shipped
  cora = datasets / "planetoid" / "data" / "cora"
  assert len(list(cora.glob("ind.cora.*"))) == 8
  assert {cora / "ind.cora.graph", cora / "README.md"} <= shipped


def test_build_backend_makes_pep_660_editable_installs():
  system = PYPROJECT["build-system"]
  assert system["build-backend"] == "setuptools.build_meta"
  assert any(r.startswith("setuptools>=") and
             int(r.split(">=")[1].split(".")[0]) >= 64
             for r in system["requires"])
  assert not (REPO_ROOT / "setup.py").exists()
