"""`examples/flickr_tag_neighbourhoods.py`: Jaccard tag graph + GAM."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "examples" / "flickr_tag_neighbourhoods.py"


@pytest.mark.slow
def test_example_trains_on_the_tag_graph_and_shows_tag_neighbours():
  result = subprocess.run(
      [sys.executable, str(SCRIPT), "--num-images", "600", "--num-tags",
       "300", "--k", "10", "--rounds", "1", "--epochs", "50",
       "--agreement-steps", "200", "--show", "3"], cwd=REPO_ROOT,
      capture_output=True, text=True, timeout=600, check=False,
      env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert result.returncode == 0, result.stderr[-5000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out["num_images"] == 600 and out["num_tags"] == 300
  # Up to 10 edges in and 10 out per image, shared by both directions.
  assert 600 * 10 <= out["num_edges"] <= 600 * 20
  # Tags come from the image's class 70% of the time, so tag neighbours
  # mostly share the class (0.68 measured).
  assert out["same_class_edge_share"] > 0.55
  majority = out["majority_class_test_accuracy"]
  assert 0.2 < majority < 0.3
  # GCN on the tag graph: 0.875 measured.
  assert out["round0_test_accuracy"] > majority + 0.35
  assert out["test_accuracy"] > majority + 0.35
  assert len(out["shown"]) == 3
  for image in out["shown"]:
    assert 1 <= len(image["neighbours"]) <= 3
    similarities = [n["similarity"] for n in image["neighbours"]]
    assert similarities == sorted(similarities, reverse=True)
    for neighbour in image["neighbours"]:
      assert neighbour["image"] != image["image"]
      assert 0 < neighbour["similarity"] <= 1
      assert neighbour["shared_tags"]  # linked only through shared tags
    assert (f"image {image['image']}: true class {image['label']}, "
            f"predicted {image['predicted']}") in result.stdout
