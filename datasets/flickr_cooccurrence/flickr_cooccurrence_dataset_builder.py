"""`flickr_cooccurrence`: graphs of Flickr images linked by shared metadata.

Configs:

* `synthetic_small`, `synthetic`, `synthetic_100k`, `synthetic_1m`: the
  package's deterministic Flickr-like generator
  (`gam_datasets.synthetic`), no download. The two large ones are written by
  an Apache Beam pipeline (each worker regenerates the graph from its seed
  and writes its shards of nodes).
* `graphsaint`: the Flickr graph of GraphSAINT (Zeng et al., ICLR 2020):
  89,250 images, 899,756 edges between images sharing metadata, 500 visual
  features, 7 classes; files from `manual_dir/graphsaint/` or downloaded.
* `nus_wide`, `mirflickr`: images' user tags and ground-truth concepts; the
  graph links each image to its `num_neighbors` most similar images by
  Jaccard similarity of tag sets (Johnson et al., ICCV 2015), symmetrised,
  computed block by block in an Apache Beam pipeline; images without tags
  stay as isolated nodes. Features are the
  images' tag indicator vectors; `concepts` holds the multi-hot ground truth
  and `label` the image's rarest concept (-1 without one). Nodes with a
  concept are split 10% / 10% / 20% into train / validation / test (seeded).

Every config stores one example per node (see `graph_records`); load a
config as the package's `Graph` with `gam_datasets.load_graph(name)`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from gam_datasets import graph_records
from gam_datasets import graphsaint_files
from gam_datasets import jaccard_graph
from gam_datasets import tag_files
from gam_datasets.synthetic import (SYNTHETIC_SIZES, FlickrLikeConfig,
                                    generate_flickr_like)
from graph_models.graph import UNLABELED, Graph

SYNTHETIC = "synthetic"
GRAPHSAINT = "graphsaint"
NUS_WIDE = "nus_wide"
MIRFLICKR = "mirflickr"
TAG_SOURCES = (NUS_WIDE, MIRFLICKR)
TAG_SPLIT_FRACTIONS = (0.1, 0.1, 0.2)

_CITATION = """
@inproceedings{zeng2020graphsaint,
  title={{GraphSAINT}: Graph Sampling Based Inductive Learning Method},
  author={Zeng, Hanqing and Zhou, Hongkuan and Srivastava, Ajitesh and
          Kannan, Rajgopal and Prasanna, Viktor},
  booktitle={International Conference on Learning Representations},
  year={2020}}
@inproceedings{chua2009nuswide,
  title={{NUS-WIDE}: A Real-World Web Image Database from National
         University of Singapore},
  author={Chua, Tat-Seng and Tang, Jinhui and Hong, Richang and Li, Haojie
          and Luo, Zhiping and Zheng, Yantao},
  booktitle={ACM International Conference on Image and Video Retrieval},
  year={2009}}
@inproceedings{huiskes2008mirflickr,
  title={The {MIR} {Flickr} Retrieval Evaluation},
  author={Huiskes, Mark J. and Lew, Michael S.},
  booktitle={ACM International Conference on Multimedia Information
             Retrieval},
  year={2008}}
@inproceedings{johnson2015love,
  title={Love Thy Neighbors: Image Annotation by Exploiting Image Metadata},
  author={Johnson, Justin and Ballan, Lamberto and Fei-Fei, Li},
  booktitle={International Conference on Computer Vision},
  year={2015}}
"""


@dataclasses.dataclass(eq=False)
class FlickrCooccurrenceConfig(tfds.core.BuilderConfig):
  """A `flickr_cooccurrence` config.

  Attributes:
    source: `synthetic`, `graphsaint`, `nus_wide` or `mirflickr`.
    synthetic: `FlickrLikeConfig` overrides (synthetic source).
    num_neighbors: Jaccard neighbours per image (tag sources).
    min_tag_count: images a MIRFLICKR tag needs to enter the vocabulary.
    beam: write the examples with an Apache Beam pipeline.
    nodes_per_shard: nodes per Beam work item.
    seed: seeds the tag sources' train / validation / test split.
  """
  source: str = SYNTHETIC
  synthetic: Optional[Dict[str, Any]] = None
  num_neighbors: int = 10
  min_tag_count: int = 1
  beam: bool = False
  nodes_per_shard: int = 10_000
  seed: int = 0


def _synthetic(name: str, size: Dict[str, Any], beam: bool,
               description: str) -> FlickrCooccurrenceConfig:
  return FlickrCooccurrenceConfig(name=name, source=SYNTHETIC,
                                  synthetic=dict(size), beam=beam,
                                  description=description)


CONFIGS = (
    _synthetic("synthetic_small", SYNTHETIC_SIZES["flickr_synthetic_small"],
               False, "600 synthetic images, 32 features (tests, demos)."),
    _synthetic("synthetic", SYNTHETIC_SIZES["flickr_synthetic"], False,
               "5,000 synthetic images, 64 features, 30% cross-class edges "
               "(the package's default dataset)."),
    _synthetic("synthetic_100k", SYNTHETIC_SIZES["flickr_synthetic_large"],
               True, "100,000 synthetic images, 128 features (Beam)."),
    _synthetic("synthetic_1m", dict(num_nodes=1_000_000, num_features=128,
                                    avg_degree=20.0), True,
               "1,000,000 synthetic images, 10,000,000 edges, 128 features "
               "(Beam; scale tests)."),
    FlickrCooccurrenceConfig(
        name=GRAPHSAINT, source=GRAPHSAINT,
        description="GraphSAINT's Flickr graph: 89,250 images, 899,756 "
                    "edges, 500 features, 7 classes. Expected test F1-micro "
                    "(GraphSAINT paper): GCN 0.492, GraphSAGE 0.501, "
                    "ClusterGCN 0.481, GraphSAINT 0.511."),
    FlickrCooccurrenceConfig(
        name=NUS_WIDE, source=NUS_WIDE, beam=True,
        description="NUS-WIDE: 269,648 Flickr images, 1,000 tags, 81 "
                    "concepts; Jaccard top-10 tag graph."),
    FlickrCooccurrenceConfig(
        name=MIRFLICKR, source=MIRFLICKR, beam=True,
        description="MIRFLICKR-25k: 25,000 Flickr images, their user tags, "
                    "24 concepts; Jaccard top-10 tag graph."),
)


@functools.lru_cache(maxsize=2)
def _synthetic_graph(options: Tuple[Tuple[str, Any], ...]) -> Graph:
  # Cached per process: every Beam shard of a worker shares one graph.
  return generate_flickr_like(FlickrLikeConfig(**dict(options)))


def _non_empty(nodes: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
  # TFDS refuses to write a split without examples.
  return {split: ids for split, ids in nodes.items() if ids.size}


def _shards(nodes: np.ndarray, size: int):
  return [nodes[start:start + size] for start in range(0, nodes.size, size)]


def _synthetic_shard(options, nodes) -> Iterator[Tuple[int, Dict[str, Any]]]:
  yield from graph_records.node_examples(_synthetic_graph(options), nodes)


@dataclasses.dataclass(frozen=True)
class _TagGraph:
  """What the tag sources' pipelines need; small enough to ship to workers."""
  images: tag_files.TagImages
  labels: np.ndarray
  split: np.ndarray  # index into graph_records.SPLITS per image
  num_neighbors: int

  def edges_of_block(self, rows: np.ndarray):
    """`(node, (neighbour, weight))` both ways for the top-k of `rows`."""
    senders, receivers, weights = jaccard_graph.jaccard_top_k(
        self.images.tags, self.num_neighbors, rows=rows)
    for sender, receiver, weight in zip(senders.tolist(), receivers.tolist(),
                                        weights.tolist()):
      yield receiver, (sender, weight)
      yield sender, (receiver, weight)

  def example(self, node: int, neighbours) -> Tuple[str, Tuple[int, dict]]:
    # An edge found from both ends arrives twice with the same weight; None
    # marks the node itself.
    merged = dict(pair for pair in neighbours if pair is not None)
    ids = np.array(sorted(merged), dtype=np.int64)
    return graph_records.SPLITS[self.split[node]], (node, {
        "node_id": node,
        "features": self.images.tags[node].toarray()[0].astype(np.float32),
        "label": self.labels[node],
        "neighbors": ids,
        "neighbor_weights": np.array([merged[i] for i in ids.tolist()],
                                     dtype=np.float32),
        "concepts": self.images.concepts[node],
    })


def _apache_beam(config_name: str):
  """Apache Beam, or an error naming the extra that installs it."""
  try:
    import apache_beam  # pylint: disable=g-import-not-at-top
  except ImportError as error:
    raise ImportError(
        f"flickr_cooccurrence/{config_name} is written by an Apache Beam "
        "pipeline; install it with: pip install "
        "'graph-agreement-models[beam]'") from error
  return apache_beam


def _tag_graph_splits(tag_graph: _TagGraph, nodes_per_shard: int, beam):
  """Each split's examples of a tag graph, as Beam transforms.

  A node's neighbours are found from both ends (its own top-k and the images
  whose top-k it is in), so one join over all row blocks serves every split.
  TFDS applies each split's transform to its pipeline; the first builds the
  join there and the others reuse it, instead of recomputing it per split
  (`_split_generators` would otherwise have to take TFDS' `pipeline`
  argument, which starts Beam for every config, in-memory ones too).
  """
  joined = {}

  def examples(pipeline):
    if pipeline not in joined:
      nodes = np.arange(tag_graph.labels.size)
      edges = (pipeline
               | "row_blocks" >> beam.Create(_shards(nodes, nodes_per_shard))
               | "jaccard_top_k" >> beam.FlatMap(tag_graph.edges_of_block))
      # Every node gets a record, also one without a similar image.
      every_node = (pipeline
                    | "nodes" >> beam.Create(nodes.tolist())
                    | "no_edge" >> beam.Map(lambda node: (node, None)))
      joined[pipeline] = ((edges, every_node)
                          | "edges_and_nodes" >> beam.Flatten()
                          | "by_node" >> beam.GroupByKey()
                          | "examples" >> beam.MapTuple(tag_graph.example))
    return joined[pipeline]

  @beam.ptransform_fn
  def split_examples(begin, split):
    return (examples(begin.pipeline)
            | f"{split}_only" >> beam.Filter(
                lambda item, name=split: item[0] == name)
            | f"{split}_examples" >> beam.Values())

  return {split: split_examples(split)  # pylint: disable=no-value-for-parameter
          for split in np.array(graph_records.SPLITS)[
              np.unique(tag_graph.split)]}


def _under_real_names(paths: Dict[str, os.PathLike]) -> str:
  """A folder where downloads (stored under hashed names) have their names."""
  first = os.fspath(next(iter(paths.values())))
  folder = os.path.join(os.path.dirname(first), "graphsaint_files")
  os.makedirs(folder, exist_ok=True)
  for name, path in paths.items():
    link = os.path.join(folder, name)
    if os.path.lexists(link):
      os.remove(link)
    os.symlink(os.fspath(path), link)
  return folder


def rarest_concept_labels(concepts: np.ndarray) -> np.ndarray:
  """Each image's least frequent concept (ties: lower index), or -1."""
  concepts = np.asarray(concepts, dtype=bool)
  counts = concepts.sum(axis=0)
  # Absent concepts rank after every present one.
  rank = np.where(concepts, counts[None, :], np.iinfo(np.int64).max)
  labels = rank.argmin(axis=1).astype(np.int64)
  return np.where(concepts.any(axis=1), labels, UNLABELED)


def tag_splits(labels: np.ndarray, seed: int,
               fractions=TAG_SPLIT_FRACTIONS) -> np.ndarray:
  """Split index per image: labelled images are shuffled into train /
  validation / test by `fractions`, the rest are `unlabeled`."""
  split = np.full(labels.size, graph_records.SPLITS.index("unlabeled"))
  labelled = np.flatnonzero(labels != UNLABELED)
  labelled = labelled[np.random.default_rng(seed).permutation(labelled.size)]
  bounds = np.round(np.cumsum(fractions) * labelled.size).astype(int)
  for index, (start, stop) in enumerate(zip(np.r_[0, bounds[:-1]], bounds)):
    split[labelled[start:stop]] = index
  return split


class FlickrCooccurrence(tfds.core.GeneratorBasedBuilder):
  """Flickr image co-occurrence graphs, one example per image (node)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = list(CONFIGS)
  DEFAULT_CONFIG_NAME = "synthetic"
  MANUAL_DOWNLOAD_INSTRUCTIONS = "\n\n".join([
      "Only the graphsaint, nus_wide and mirflickr configs read files; the "
      "synthetic configs need none.",
      graphsaint_files.MANUAL_DOWNLOAD_INSTRUCTIONS,
      tag_files.NUS_WIDE_INSTRUCTIONS, tag_files.MIRFLICKR_INSTRUCTIONS])

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    extra = None
    num_features = None
    if config.source == SYNTHETIC:
      synthetic = FlickrLikeConfig(**config.synthetic)
      num_features = synthetic.num_features
      metadata = {"num_classes": synthetic.num_classes,
                  "num_nodes": synthetic.num_nodes}
    else:
      # Known once the files are read (_split_generators fills them in).
      metadata = {}
      if config.source in TAG_SOURCES:
        extra = {"concepts": tfds.features.Tensor(shape=(None,),
                                                  dtype=np.bool_)}
    metadata["source"] = config.source
    return self.dataset_info_from_configs(
        description=__doc__, features=graph_records.node_features(
            num_features, extra),
        metadata=tfds.core.MetadataDict(metadata),
        homepage="https://github.com/GraphSAINT/GraphSAINT",
        citation=_CITATION)

  def _manual_source_dir(self, dl_manager) -> Optional[str]:
    """`manual_dir/<source>` when the user gave one that exists, else None."""
    try:
      root = dl_manager.manual_dir
    except AssertionError:  # none given, or empty: download if possible
      return None
    path = os.path.join(os.fspath(root), self.builder_config.source)
    return path if tf.io.gfile.isdir(path) else None

  def _split_generators(self, dl_manager):
    config = self.builder_config
    if config.source == SYNTHETIC:
      return self._synthetic_splits()
    if config.source == GRAPHSAINT:
      return self._graphsaint_splits(dl_manager)
    return self._tag_splits(dl_manager)

  def _record_graph(self, graph: Graph, **extra) -> None:
    self.info.metadata.update(num_classes=graph.num_classes,
                              num_nodes=graph.num_nodes,
                              num_edges=graph.num_edges, **extra)

  def _synthetic_splits(self):
    config = self.builder_config
    options = tuple(sorted(config.synthetic.items()))
    graph = _synthetic_graph(options)
    self._record_graph(graph)
    nodes = _non_empty(graph_records.split_nodes(graph))
    if not config.beam:
      return {split: self._generate_examples(graph, ids)
              for split, ids in nodes.items()}
    beam = _apache_beam(config.name)
    return {split: (beam.Create(_shards(ids, config.nodes_per_shard))
                    | f"{split}_nodes" >> beam.FlatMap(
                        functools.partial(_synthetic_shard, options)))
            for split, ids in nodes.items()}

  def _graphsaint_splits(self, dl_manager):
    directory = self._manual_source_dir(dl_manager)
    if directory is None:
      try:
        downloaded = dl_manager.download(
            graphsaint_files.graphsaint_download_urls())
      except Exception as error:  # pylint: disable=broad-except
        raise graphsaint_files.GraphSAINTFilesNotFoundError(
            f"flickr_cooccurrence/graphsaint: <manual_dir>/graphsaint was not "
            f"given or does not exist, and downloading the files failed "
            f"({type(error).__name__}: {error}).\n"
            f"{graphsaint_files.MANUAL_DOWNLOAD_INSTRUCTIONS}") from error
      directory = _under_real_names(downloaded)
    graph = graphsaint_files.read_graphsaint(directory)
    self._record_graph(graph)
    return {split: self._generate_examples(graph, ids) for split, ids in
            _non_empty(graph_records.split_nodes(graph)).items()}

  def _tag_splits(self, dl_manager):
    config = self.builder_config
    directory = self._manual_source_dir(dl_manager)
    instructions = (tag_files.NUS_WIDE_INSTRUCTIONS
                    if config.source == NUS_WIDE
                    else tag_files.MIRFLICKR_INSTRUCTIONS)
    if directory is None:
      raise FileNotFoundError(
          f"flickr_cooccurrence/{config.source} reads manually downloaded "
          f"files from <manual_dir>/{config.source}, which was not given or "
          f"does not exist.\n{instructions}")
    if config.source == NUS_WIDE:
      images = tag_files.read_nus_wide(directory, allow_empty_tags=True)
    else:
      images = tag_files.read_mirflickr(directory, config.min_tag_count,
                                        allow_empty_tags=True)
    labels = rarest_concept_labels(images.concepts)
    tag_graph = _TagGraph(images=images, labels=labels,
                          split=tag_splits(labels, config.seed),
                          num_neighbors=config.num_neighbors)
    self.info.metadata.update(
        num_classes=len(images.concept_names), num_nodes=len(labels),
        concept_names=list(images.concept_names),
        num_tags=len(images.tag_names), num_neighbors=config.num_neighbors)
    return _tag_graph_splits(tag_graph, config.nodes_per_shard,
                             _apache_beam(config.name))

  def _generate_examples(self, graph: Graph, nodes: np.ndarray):
    """The examples of an in-memory graph's `nodes` (Beam configs build
    theirs in their pipelines)."""
    return graph_records.node_examples(graph, nodes)
