"""TFDS dataset builders of graph datasets (imported as `gam_datasets`).

Importing this package registers the builders `flickr_cooccurrence` and
`planetoid` with TFDS, so `tfds.load`, `tfds.builder` and
`tfds build --imports gam_datasets` find them. Every builder stores one
example per node (see `graph_records`); `load_graph` returns the package's
`Graph`:

  >>> import gam_datasets
  >>> graph = gam_datasets.load_graph("flickr_cooccurrence/synthetic")
"""

from gam_datasets.flickr_cooccurrence import FlickrCooccurrence
from gam_datasets.graph_records import (graph_from_splits, load_graph,
                                        load_node_table)
from gam_datasets.planetoid import Planetoid

__all__ = ["FlickrCooccurrence", "Planetoid", "graph_from_splits",
           "load_graph", "load_node_table"]
