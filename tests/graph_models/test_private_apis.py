"""`graph_models.private_apis`: each private API still does what we use."""

import pathlib
import re

import pytest

from graph_models import private_apis
from graph_models.private_apis import (PRIVATE_APIS, PrivateApi,
                                       PrivateApiChanged, check)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE_DIRS = ("gam", "graph_models", "datasets")
# Private names used outside private_apis.py; each must be listed there.
PRIVATE_NAMES = ("_maybe_symbolic_build", "_loss_tracker",
                 "_in_multi_worker_mode", "_Unpickler", "_reconstructor",
                 "_reconstruct", "_frombuffer", "data_adapter",
                 "csr_ops", "disable_op_determinism",
                 "is_op_determinism_enabled", "GraphOrParentsInXlaContext")


@pytest.mark.parametrize("api", PRIVATE_APIS, ids=lambda api: api.name)
def test_private_api_still_works(api):
  check(api)


def test_a_changed_api_is_named_with_its_user():
  def probe():
    raise AttributeError("module has no attribute 'matmul'")
  api = PrivateApi("tf.some.private_api", "graph_models.somewhere", "why",
                   probe)
  with pytest.raises(PrivateApiChanged, match=r"tf\.some\.private_api, used "
                     r"by graph_models\.somewhere, has changed .* "
                     r"AttributeError: module has no attribute 'matmul'"):
    check(api)


def _sources():
  for directory in PACKAGE_DIRS:
    for path in sorted((REPO_ROOT / directory).rglob("*.py")):
      if path.name != "private_apis.py":
        yield path, path.read_text()


def test_private_modules_are_imported_through_private_apis_only():
  imports = re.compile(r"^\s*(from|import)\s+(tensorflow\.python|keras\.src)",
                       re.MULTILINE)
  offenders = [str(path.relative_to(REPO_ROOT))
               for path, text in _sources() if imports.search(text)]
  assert not offenders


def test_every_private_name_in_use_is_listed():
  listed = " ".join(api.name for api in PRIVATE_APIS)
  used = {name for name in PRIVATE_NAMES
          if any(re.search(rf"\b{name}\b", text) for _, text in _sources())}
  assert used, "the scan found none of the private names"
  assert all(name in listed or hasattr(private_apis, name) for name in used)
