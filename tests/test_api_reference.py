"""docs/API.md is the rendering of the current docstrings."""

import importlib.util

from tests.conftest import REPO_ROOT


def test_api_reference_is_current():
  spec = importlib.util.spec_from_file_location(
      "make_api_reference", REPO_ROOT / "docs" / "make_api_reference.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  rendered = module.render()
  assert "### `gam.GraphAgreementModel`" in rendered
  assert (REPO_ROOT / "docs" / "API.md").read_text() == rendered, (
      "docs/API.md is out of date: run python docs/make_api_reference.py")
