"""Tag neighbourhoods (Johnson et al., "Love thy neighbors") trained with GAM.

Images that are hard to classify alone become clearer among images with
similar metadata. This example builds that neighbourhood graph from the
images' tag lists alone: each image is linked to the `--k` images whose tag
sets are most similar under the Jaccard similarity |A & B| / |A | B|
(`gam_datasets.jaccard_graph.jaccard_top_k`, optionally over the
`--top-tags` most frequent tags only, as the paper does). The images, their
visual features, tags and latent classes come from the package's Flickr-like
generator; its own co-occurrence edges are not used. A GCN is then trained on
the tag graph with Graph Agreement Models, and a few test images are shown
with their nearest tag neighbours, the tags they share (`t<tag>:c<home class
of the tag>`) and the predicted and true classes:

  # 5,000 images, about 30 s on 2 CPU cores:
  python examples/flickr_tag_neighbourhoods.py

  # 600 images, one short GAM round:
  python examples/flickr_tag_neighbourhoods.py --num-images 600 \
      --num-tags 300 --rounds 1 --epochs 50 --agreement-steps 200

Ends with a JSON line: test accuracy of the best-validation round and of
round 0 (the plain GCN), the majority-class rate, the graph's size and share
of same-class edges, and the images shown.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top,wrong-import-position
import keras
import numpy as np
import scipy.special

import gam
import graph_models as gm
from gam_datasets.jaccard_graph import jaccard_top_k
from graph_models import training
from gam_datasets.synthetic import (FlickrLikeConfig,
                                    generate_flickr_like_with_metadata)


def parse_args() -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n", 1)[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  data = parser.add_argument_group("images and tag graph")
  data.add_argument("--num-images", type=int, default=5000)
  data.add_argument("--num-tags", type=int, default=2000,
                    help="tag vocabulary of the generator")
  data.add_argument("--tags-per-image", type=float, default=5.0)
  data.add_argument("--top-tags", type=int, default=0,
                    help="use only this many most frequent tags (0: all)")
  data.add_argument("--k", type=int, default=10,
                    help="Jaccard neighbours per image")
  model = parser.add_argument_group("GAM")
  model.add_argument("--rounds", type=int, default=2,
                     help="GAM rounds after round 0 (the plain GCN)")
  model.add_argument("--epochs", type=int, default=200,
                     help="most full-batch GCN epochs per round")
  model.add_argument("--patience", type=int, default=50)
  model.add_argument("--hidden", type=int, default=32)
  model.add_argument("--agreement-steps", type=int, default=500,
                     help="most training steps of each agreement model")
  parser.add_argument("--show", type=int, default=4,
                      help="test images to show with their neighbours")
  parser.add_argument("--neighbours-shown", type=int, default=3)
  parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2),
                      help="2: a line per GAM round, 1: also Keras progress")
  parser.add_argument("--seed", type=int, default=0)
  return parser.parse_args()


def frequent_tags(tags, top: int) -> np.ndarray:
  """Ids of the `top` most frequent tags (all tags if `top` is 0)."""
  counts = np.asarray(tags.sum(axis=0)).ravel()
  order = np.argsort(-counts, kind="stable")
  return np.sort(order[:top] if top else order)


def tag_graph(images: gm.Graph, senders, receivers, weights) -> gm.Graph:
  """The images with the Jaccard edges in place of their own, undirected."""
  # Jaccard similarity is symmetric, so a pair found both ways keeps its one
  # weight; an image is then also linked to the images that chose it.
  return gm.Graph.from_edges(
      images.features, senders, receivers, images.labels, images.num_classes,
      weights=weights, train_mask=images.train_mask,
      val_mask=images.val_mask, test_mask=images.test_mask,
      name="flickr_tag_jaccard").symmetrized()


def tag_names(tag_list, tag_class) -> str:
  """`t<tag>:c<home class>` for each tag: which class the tag hints at."""
  return " ".join(f"t{t}:c{tag_class[t]}" for t in tag_list)


def main() -> None:
  args = parse_args()
  training.seed_everything(args.seed)
  images, metadata = generate_flickr_like_with_metadata(FlickrLikeConfig(
      num_nodes=args.num_images, num_tags=args.num_tags,
      tags_per_image=args.tags_per_image,
      num_val=min(500, args.num_images // 6),
      num_test=min(1000, args.num_images // 3), seed=args.seed))
  tag_ids = frequent_tags(metadata.image_tags, args.top_tags)
  tags = metadata.image_tags[:, tag_ids].tocsr()
  start = time.perf_counter()
  senders, receivers, similarity = jaccard_top_k(tags, args.k)
  graph = tag_graph(images, senders, receivers, similarity)
  edge_senders, edge_receivers, _ = graph.edges()
  same_class = float(np.mean(graph.labels[edge_senders]
                             == graph.labels[edge_receivers]))
  print(f"tag graph: {graph}; {tag_ids.size} tags, {same_class:.0%} of edges "
        f"same-class, {graph.num_nodes - np.unique(receivers).size} images "
        f"without a tag neighbour ({time.perf_counter() - start:.1f}s)",
        flush=True)

  options = gam.CoTrainingOptions(
      max_rounds=args.rounds, epochs=args.epochs, patience=args.patience,
      num_samples_to_label=200, min_confidence=0.4,
      regularization=gam.AgreementRegularization(
          num_pairs=256, reg_weight_lu=10, reg_weight_uu=5),
      agreement=gam.AgreementTrainingOptions(max_steps=args.agreement_steps),
      seed=args.seed)
  model = gam.GraphAgreementModel(
      node_model_fn=lambda: gm.GCNNodeClassifier(
          graph.num_classes, hidden_units=(args.hidden,)),
      options=options)
  model.compile(optimizer=keras.optimizers.Adam(0.01))
  history = model.fit(graph, verbose=args.verbose)

  classifier = model.node_model  # the best-validation round's weights
  logits = classifier.predict(training.prediction_dataset(
      graph, classifier, np.arange(graph.num_nodes)), verbose=0)
  probabilities = scipy.special.softmax(logits.astype(np.float64), axis=1)
  predicted = probabilities.argmax(axis=1)

  # Neighbours of image i are the i-th run of `receivers`, most similar first.
  starts = np.searchsorted(receivers, np.arange(graph.num_nodes + 1))
  test_nodes = graph.split_nodes("test")
  rng = np.random.default_rng(args.seed)
  shown = []
  for image in np.sort(rng.choice(test_nodes, min(args.show, test_nodes.size),
                                  replace=False)):
    verdict = "right" if predicted[image] == graph.labels[image] else "WRONG"
    print(f"\nimage {image}: true class {graph.labels[image]}, predicted "
          f"{predicted[image]} (p={probabilities[image].max():.2f}, "
          f"{verdict}); tags "
          f"{tag_names(tag_ids[tags[image].indices], metadata.tag_class)}")
    own = set(tags[image].indices)
    neighbours = []
    for edge in range(starts[image],
                      min(starts[image + 1],
                          starts[image] + args.neighbours_shown)):
      other = int(senders[edge])
      shared = sorted(int(tag_ids[t]) for t in own & set(tags[other].indices))
      where = ("train label" if graph.train_mask[other] else
               "unlabelled to the model")
      print(f"  neighbour {other}: Jaccard {similarity[edge]:.2f}, class "
            f"{graph.labels[other]} ({where}), shares "
            f"{tag_names(shared, metadata.tag_class)}")
      neighbours.append({"image": other,
                         "similarity": round(float(similarity[edge]), 4),
                         "label": int(graph.labels[other]),
                         "shared_tags": shared})
    shown.append({"image": int(image), "label": int(graph.labels[image]),
                  "predicted": int(predicted[image]),
                  "neighbours": neighbours})

  test_accuracy = float(np.mean(predicted[test_nodes]
                                == graph.labels[test_nodes]))
  print(json.dumps({
      "num_images": graph.num_nodes, "num_edges": graph.num_edges,
      "num_tags": int(tag_ids.size), "k": args.k,
      "same_class_edge_share": same_class,
      "round0_test_accuracy": history.rounds[0].test_scores["accuracy"],
      "best_round": history.best_round,
      "test_accuracy": test_accuracy,
      "majority_class_test_accuracy": graph.majority_class_rate("test"),
      "shown": shown}))


if __name__ == "__main__":
  main()
