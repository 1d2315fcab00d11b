"""TFDS dataset builders of graph datasets (imported as `gam_datasets`).

Every way a graph comes in: the Planetoid reader (`planetoid_files`, with
its restricted unpickler `safe_pickle`), the Flickr-like generators
(`synthetic`, `synthetic_multilabel`), the GraphSAINT and tag-dataset file
readers, the Jaccard co-occurrence graph, and the TFDS builders. Importing
this package registers the builders `flickr_cooccurrence` and `planetoid`
with TFDS, so `tfds.load`, `tfds.builder` and
`tfds build --imports gam_datasets` find them. Every builder stores one
example per node (see `graph_records`). `load_graph` is the one way in that
the command line, the examples and the benchmarks use:

  >>> import gam_datasets
  >>> graph = gam_datasets.load_graph("planetoid/cora")
"""

from gam_datasets.flickr_cooccurrence import FlickrCooccurrence
from gam_datasets.graph_records import graph_from_splits, load_node_table
from gam_datasets.loading import GRAPH_NAMES, load_graph
from gam_datasets.planetoid import Planetoid
from gam_datasets.synthetic import FlickrLikeConfig, generate_flickr_like
from gam_datasets.synthetic_multilabel import generate_multilabel_flickr_like

__all__ = ["FlickrCooccurrence", "FlickrLikeConfig", "GRAPH_NAMES",
           "Planetoid", "generate_flickr_like",
           "generate_multilabel_flickr_like", "graph_from_splits",
           "load_graph", "load_node_table"]
