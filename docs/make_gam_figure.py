"""Draws docs/gam_overview.png: one GAM round as a cycle, beside the three
kinds of edge pairs the regularisation samples.

  python docs/make_gam_figure.py
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # pylint: disable=g-import-not-at-top

OUTPUT = pathlib.Path(__file__).resolve().parent / "gam_overview.png"

STEPS = [
    ((0.5, 0.86), "labelled set L\n(training labels + self-labels)"),
    ((0.82, 0.5), "1. agreement model g(x_i, x_j)\n= P(same label), trained on\n"
                  "edges with both ends in L"),
    ((0.5, 0.14), "2. classifier f: cross-entropy on L\n+ sum over LL / LU / UU "
                  "edge pairs\nw_kind g(x_i, x_j) ||y_i - f(x_j)||^2"),
    ((0.18, 0.5), "3. self-labelling: the most\nconfident unlabelled training\n"
                  "nodes join L (never val/test)"),
]


def _cycle(axis) -> None:
  for (x, y), text in STEPS:
    axis.add_patch(FancyBboxPatch((x - 0.17, y - 0.085), 0.34, 0.17,
                                  boxstyle="round,pad=0.01",
                                  facecolor="#e8f0fb", edgecolor="#3a6ea5"))
    axis.text(x, y, text, ha="center", va="center", fontsize=8)
  points = [xy for xy, _ in STEPS]
  for start, end in zip(points, points[1:] + points[:1]):
    axis.add_patch(FancyArrowPatch(
        start, end, connectionstyle="arc3,rad=-0.25", arrowstyle="-|>",
        mutation_scale=14, shrinkA=62, shrinkB=62, color="#3a6ea5"))
  axis.text(0.5, 0.5, "one round\n(round 0: f alone;\nkeep the round with\n"
                      "the best validation)", ha="center", va="center",
            fontsize=8, style="italic", color="#555555")
  axis.set_title("Graph Agreement Models: a co-training round", fontsize=10)


def _pairs(axis) -> None:
  nodes = {"a": (0.15, 0.75), "b": (0.45, 0.85), "c": (0.5, 0.45),
           "d": (0.85, 0.6), "e": (0.8, 0.2), "f": (0.25, 0.3)}
  labelled = {"a": "#d62728", "b": "#d62728", "f": "#1f77b4"}
  edges = [("a", "b", "LL"), ("b", "c", "LU"), ("f", "c", "LU"),
           ("c", "d", "UU"), ("d", "e", "UU"), ("c", "e", "UU")]
  for u, v, kind in edges:
    (x0, y0), (x1, y1) = nodes[u], nodes[v]
    axis.plot([x0, x1], [y0, y1], color="#999999", zorder=1)
    axis.text((x0 + x1) / 2, (y0 + y1) / 2, kind, fontsize=8,
              ha="center", va="center",
              bbox=dict(facecolor="white", edgecolor="none", pad=0.5))
  for name, (x, y) in nodes.items():
    axis.scatter([x], [y], s=420, zorder=2, edgecolors="black",
                 color=labelled.get(name, "white"))
    axis.text(x, y, name, ha="center", va="center", zorder=3, fontsize=9,
              color="white" if name in labelled else "black")
  axis.text(0.5, 0.02, "filled: labelled (colour = class); white: unlabelled."
                       "\nLU pairs put the labelled end on the left: its "
                       "label,\nnever the unlabelled node's, is the target.",
            ha="center", va="bottom", fontsize=7.5)
  axis.set_title("edge pairs the regularisation samples", fontsize=10)


def main() -> None:
  figure, (cycle_axis, pair_axis) = plt.subplots(
      1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1.6, 1]})
  _cycle(cycle_axis)
  _pairs(pair_axis)
  for axis in (cycle_axis, pair_axis):
    axis.set_xlim(-0.02, 1.02)
    axis.set_ylim(0, 1)
    axis.axis("off")
  figure.tight_layout()
  figure.savefig(OUTPUT, dpi=110)
  print(f"wrote {OUTPUT}")


if __name__ == "__main__":
  main()
