"""Node classifiers and graph plumbing for graph-regularised learning."""

from graph_models.classifiers.commnet import GraphConvolutionalNodeClassifier
from graph_models.classifiers.gcn import GCNNodeClassifier, GraphConvolution
from graph_models.errors import InputError
from graph_models.graph import UNLABELED, Graph, GraphError
from graph_models.graph_arrays import load_arrays, save_arrays
from graph_models.classifiers.graphsage import GraphSAGENodeClassifier
from graph_models.tasks.label_tasks import SigmoidCrossEntropy
from graph_models.tasks.missing_tags import MissingTagTask, make_missing_tag_task
from graph_models.classifiers.mlp import MLPNodeClassifier
from graph_models.tasks.multilabel_metrics import (AccuracyAtK, MeanAveragePrecision,
                                             MicroF1, PrecisionAtK, RecallAtK,
                                             TopKPrecisionRecallF1)
from graph_models.classifiers.neighborhood_gcn import NeighborhoodGraphClassifier
from graph_models.classifiers.neighborhood_pooling import NeighborhoodMaxPoolingClassifier
from graph_models.neighbor_packing import (neighbor_table, packed_dataset,
                                           whole_graph_dataset,
                                           whole_graph_inputs)
from graph_models.node2vec import (Node2VecOptions, biased_random_walks,
                                   train_node2vec, with_node2vec_features)
from graph_models.classifiers.node_classifier import NodeClassifier
from graph_models.classifiers.node_graph_model import NodeGraphModel
from graph_models.tasks.tag_baselines import (MostFrequentTags, NaiveBayesTags,
                                        evaluate_tag_scores)

__all__ = [
    "UNLABELED", "Graph", "GraphError", "InputError", "NodeGraphModel",
    "NodeClassifier",
    "MLPNodeClassifier", "GCNNodeClassifier", "GraphConvolution",
    "GraphConvolutionalNodeClassifier", "GraphSAGENodeClassifier",
    "NeighborhoodMaxPoolingClassifier", "NeighborhoodGraphClassifier",
    "SigmoidCrossEntropy", "Node2VecOptions",
    "biased_random_walks", "train_node2vec", "with_node2vec_features",
    "neighbor_table", "packed_dataset", "load_arrays", "save_arrays",
    "whole_graph_dataset", "whole_graph_inputs", "PrecisionAtK", "RecallAtK",
    "AccuracyAtK", "MeanAveragePrecision", "TopKPrecisionRecallF1", "MicroF1",
    "MissingTagTask", "make_missing_tag_task", "MostFrequentTags",
    "NaiveBayesTags", "evaluate_tag_scores",
]


# The generators moved to gam_datasets (the layer that brings graphs in); the
# old names still answer, with a warning, without graph_models importing
# gam_datasets up front.
_MOVED = {
    "generate_flickr_like": "gam_datasets.synthetic",
    "generate_multilabel_flickr_like": "gam_datasets.synthetic_multilabel",
}


def __getattr__(name):
  if name not in _MOVED:
    raise AttributeError(f"module 'graph_models' has no attribute {name!r}")
  import importlib  # pylint: disable=g-import-not-at-top
  import warnings  # pylint: disable=g-import-not-at-top
  warnings.warn(f"graph_models.{name} moved to {_MOVED[name]}.{name} (also "
                f"gam_datasets.{name})", DeprecationWarning, stacklevel=2)
  return getattr(importlib.import_module(_MOVED[name]), name)
