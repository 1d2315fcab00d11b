"""The README stays true: its quick start runs as written, and its option
table names every option of `gam-train --help`."""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def _python_blocks(section: str) -> list:
  """The ```python blocks of the README section headed `## <section>`."""
  body = README.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
  return re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)


@pytest.mark.slow
def test_quick_start_runs_as_written(tmp_path):
  # The first two blocks: a classifier with model.fit, then the
  # graph-regularised model on the same datasets (the third, GAM for 8
  # rounds, takes minutes; the command-line tests run GAM).
  script = tmp_path / "quick_start.py"
  script.write_text("\n".join(_python_blocks("Quick start")[:2]))
  result = subprocess.run(
      [sys.executable, str(script)], cwd=tmp_path, capture_output=True,
      text=True, timeout=600, check=False,
      env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": str(REPO_ROOT)})
  assert result.returncode == 0, result.stderr[-3000:]
  assert (tmp_path / "commnet.keras").stat().st_size > 10_000


def test_every_command_line_option_is_in_the_readme(capsys):
  from gam import cli  # pylint: disable=g-import-not-at-top
  with pytest.raises(SystemExit):
    cli.parse_args(["--help"])
  options = set(re.findall(r"(--[a-z][a-z-]*)",
                           capsys.readouterr().out)) - {"--help"}
  assert len(options) > 20
  table = README.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
  missing = sorted(option for option in options
                   if not re.search(re.escape(option) + r"(?![a-z-])", table))
  assert not missing, f"options missing from the README's table: {missing}"
