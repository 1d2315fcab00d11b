"""Writes docs/API.md: the public API of `graph_models`, `gam` and
`gam_datasets` (everything in their `__all__`), rendered from the docstrings.

  python docs/make_api_reference.py          # rewrite docs/API.md
  python docs/make_api_reference.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PACKAGES = ("graph_models", "gam", "gam_datasets")
OUTPUT = pathlib.Path(__file__).resolve().parent / "API.md"


def _signature(obj) -> str:
  target = obj.__init__ if inspect.isclass(obj) else obj
  try:
    signature = inspect.signature(target)
  except (TypeError, ValueError):
    return "(...)"
  parameters = [p for name, p in signature.parameters.items()
                if name != "self"]
  return str(signature.replace(parameters=parameters,
                               return_annotation=inspect.Signature.empty))


def _public_methods(cls) -> list:
  own = [(name, member) for name, member in vars(cls).items()
         if not name.startswith("_") and inspect.isfunction(member)
         and member.__doc__]
  return sorted(own)


def render() -> str:
  lines = ["# API reference", "",
           "Generated from the docstrings by `docs/make_api_reference.py` "
           "(a test checks that it is current). Each entry: signature, "
           "then the docstring.", ""]
  for package_name in PACKAGES:
    package = importlib.import_module(package_name)
    lines += [f"## `{package_name}`", "",
              inspect.cleandoc(package.__doc__ or ""), ""]
    for name in package.__all__:
      obj = getattr(package, name)
      kind = "class" if inspect.isclass(obj) else (
          "function" if callable(obj) else "constant")
      header = f"### `{package_name}.{name}`"
      lines.append(header)
      lines.append("")
      if kind == "constant":
        lines += [f"`{name} = {obj!r}`", ""]
        continue
      lines += ["```python",
                f"{'class ' if kind == 'class' else ''}{name}"
                f"{_signature(obj)}", "```", ""]
      lines += ["```text", inspect.cleandoc(obj.__doc__ or "(no docstring)"),
                "```", ""]
      if kind == "class":
        for method_name, method in _public_methods(obj):
          lines += [f"- `{method_name}{_signature(method)}`: "
                    + inspect.cleandoc(method.__doc__).split("\n\n")[0]
                    .replace("\n", " ")]
        if _public_methods(obj):
          lines.append("")
  return "\n".join(lines).rstrip() + "\n"


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--check", action="store_true",
                      help="only check that docs/API.md is current")
  args = parser.parse_args()
  text = render()
  if args.check:
    if OUTPUT.read_text() != text:
      print(f"{OUTPUT} is out of date: run python docs/make_api_reference.py",
            file=sys.stderr)
      return 1
    return 0
  OUTPUT.write_text(text)
  print(f"wrote {OUTPUT}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
