"""`planetoid`: the Cora, Citeseer and Pubmed citation graphs.

The graphs and the split of Yang, Cohen & Salakhutdinov (ICML 2016), as
Kipf & Welling's GCN reads them (`planetoid_files.load_planetoid`): papers
are nodes, citations undirected edges, the features a paper's
bag-of-words (binary for Cora and Citeseer, TF-IDF for Pubmed) and the label
its topic. `train` holds 20 nodes per class, `validation` the next 500 nodes,
`test` the 1,000 nodes of `ind.<name>.test.index` and `unlabeled` every other
node. Citeseer's `test.index` skips 15 ids; those nodes are kept, with zero
features, no label and no edge, so node ids match the original files.

Features are stored raw, not row-normalised: normalise them as Kipf's GCN
does when a model expects it, e.g.

  >>> graph = gam_datasets.load_graph("planetoid/cora",
  ...                                 manual_dir="~/data/planetoid")
  >>> graph = graph.row_normalized_features()
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import tempfile
from typing import Dict, Iterator, List, Optional, Tuple

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from gam_datasets import graph_records
from graph_models.graph import Graph
from gam_datasets.planetoid_files import (PLANETOID_FILES, PlanetoidError,
                                          PlanetoidFilesNotFoundError,
                                          load_planetoid,
                                          planetoid_fingerprint)

SOURCE_URL = "https://github.com/kimiyoung/planetoid/raw/master/data"
SOURCE_PAGE = "https://github.com/kimiyoung/planetoid/tree/master/data"
# Real copies of small configs' files, shipped so that they load offline
# (see data/<name>/README.md for their source and licence).
BUNDLED_DIR = pathlib.Path(__file__).resolve().parent / "data"

_CITATION = """
@inproceedings{yang2016revisiting,
  title={Revisiting Semi-Supervised Learning with Graph Embeddings},
  author={Yang, Zhilin and Cohen, William W. and Salakhutdinov, Ruslan},
  booktitle={Proceedings of the 33rd International Conference on Machine
             Learning},
  series={Proceedings of Machine Learning Research},
  volume={48},
  pages={40--48},
  year={2016}}
"""


@dataclasses.dataclass(eq=False)
class PlanetoidConfig(tfds.core.BuilderConfig):
  """A `planetoid` config; its name is the `ind.<name>.*` file prefix.

  Attributes:
    num_features: columns of the feature matrix.
    num_classes: columns of the one-hot label matrices.
  """
  num_features: int = 0
  num_classes: int = 0


CONFIGS = (
    PlanetoidConfig(
        name="cora", num_features=1433, num_classes=7,
        description="Cora: 2,708 machine-learning papers, 1,433 binary word "
                    "features, 7 classes; train/validation/test "
                    "140/500/1,000."),
    PlanetoidConfig(
        name="citeseer", num_features=3703, num_classes=6,
        description="Citeseer: 3,327 papers (15 of them placeholders for ids "
                    "test.index skips), 3,703 binary word features, 6 "
                    "classes; train/validation/test 120/500/1,000."),
    PlanetoidConfig(
        name="pubmed", num_features=500, num_classes=3,
        description="Pubmed: 19,717 diabetes papers, 500 TF-IDF word "
                    "features, 3 classes; train/validation/test "
                    "60/500/1,000."),
)


def planetoid_filenames(name: str) -> Tuple[str, ...]:
  """The eight `ind.<name>.*` file names, in `PLANETOID_FILES` order."""
  return tuple(f"ind.{name}.{suffix}" for suffix in PLANETOID_FILES)


def planetoid_urls(name: str) -> Dict[str, str]:
  """Download URL of each of `planetoid_filenames(name)`."""
  return {filename: f"{SOURCE_URL}/{filename}"
          for filename in planetoid_filenames(name)}


def bundled_dir(name: str) -> Optional[pathlib.Path]:
  """The directory of the package's own copy of config `name`'s files
  (Cora only), or None when the package does not ship them."""
  directory = BUNDLED_DIR / name
  if all((directory / f).exists() for f in planetoid_filenames(name)):
    return directory
  return None


def _manual_dir(dl_manager: tfds.download.DownloadManager
                ) -> Optional[epath.Path]:
  try:
    return dl_manager.manual_dir
  except AssertionError:
    # TFDS's answer when the directory is missing or empty, which here only
    # means that the files have to be downloaded.
    return None


def _read(directory: os.PathLike, name: str) -> Tuple[Graph, str]:
  return (load_planetoid(directory, name),
          planetoid_fingerprint(directory, name))


class Planetoid(tfds.core.GeneratorBasedBuilder):
  """The Planetoid citation graphs, one example per node (paper)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = list(CONFIGS)
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  Put the eight files ind.<name>.x, .y, .tx, .ty, .allx, .ally, .graph and
  .test.index of each config you build (<name> is cora, citeseer or pubmed)
  directly in manual_dir, not in a sub-folder. They are in {SOURCE_PAGE}.
  Without them in manual_dir the builder reads the package's own copy
  (cora) or downloads them from there.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    return self.dataset_info_from_configs(
        description=__doc__,
        features=graph_records.node_features(config.num_features),
        # num_nodes and num_edges are added once the files are read.
        metadata=tfds.core.MetadataDict(num_classes=config.num_classes),
        homepage="https://github.com/kimiyoung/planetoid",
        citation=_CITATION)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager
                        ) -> Dict[str, Iterator[Tuple[int, dict]]]:
    graph, fingerprint = self._read_graph(dl_manager)
    self._check_sizes(graph)
    # source_sha256 lets `gam_datasets.load_graph` see that a prepared
    # dataset was read from other files than the ones it is given now.
    self.info.metadata.update(num_classes=graph.num_classes,
                              num_nodes=graph.num_nodes,
                              num_edges=graph.num_edges,
                              source_sha256=fingerprint)
    return {split: self._generate_examples(graph, nodes)
            for split, nodes in graph_records.split_nodes(graph).items()}

  def _generate_examples(self, graph: Graph, nodes: np.ndarray
                         ) -> Iterator[Tuple[int, dict]]:
    return graph_records.node_examples(graph, nodes)

  def _read_graph(self, dl_manager: tfds.download.DownloadManager
                  ) -> Tuple[Graph, str]:
    """The graph of the files in manual_dir, else of the bundled copy, else
    downloaded, and the fingerprint of those files."""
    name = self.builder_config.name
    manual_dir = _manual_dir(dl_manager)
    missing = list(planetoid_filenames(name))
    if manual_dir is not None:
      missing = [filename for filename in missing
                 if not (manual_dir / filename).exists()]
      if not missing:
        return _read(manual_dir, name)
    bundled = bundled_dir(name)
    if bundled is not None:
      return _read(bundled, name)
    urls = planetoid_urls(name)
    try:
      downloaded = dl_manager.download(urls)
    # Failures come as requests' connection and HTTP errors, TFDS's
    # DownloadError or NonMatchingChecksumError; the cause is chained below.
    except Exception as error:  # pylint: disable=broad-except
      raise PlanetoidFilesNotFoundError(
          self._missing_message(manual_dir, missing, error)) from error
    # Downloads are stored under hashed names; the reader wants the real ones.
    with tempfile.TemporaryDirectory() as directory:
      for filename, path in downloaded.items():
        epath.Path(path).copy(epath.Path(directory) / filename)
      try:
        return _read(directory, name)
      except ValueError as error:
        error.add_note(f"The files were downloaded from {SOURCE_URL}.")
        raise

  def _missing_message(self, manual_dir: Optional[epath.Path],
                       missing: List[str], error: Exception) -> str:
    where = (f"manual_dir {manual_dir} lacks {', '.join(missing)}"
             if manual_dir is not None else
             f"manual_dir does not exist or is empty (expected "
             f"{', '.join(missing)})")
    return (f"planetoid/{self.builder_config.name} cannot get its files: "
            f"{where}, and downloading them from {SOURCE_URL} failed "
            f"({type(error).__name__}: {error}).\n"
            f"{tfds.core.utils.dedent(self.MANUAL_DOWNLOAD_INSTRUCTIONS)}")

  def _check_sizes(self, graph: Graph) -> None:
    # Files of another dataset would otherwise fail deep in TFDS's encoder.
    config = self.builder_config
    if (graph.num_features, graph.num_classes) != (config.num_features,
                                                   config.num_classes):
      raise PlanetoidError(
          f"the ind.{config.name}.* files have {graph.num_features} feature "
          f"columns and {graph.num_classes} label columns, but "
          f"planetoid/{config.name} has {config.num_features} features and "
          f"{config.num_classes} classes; are they another dataset's files?")
