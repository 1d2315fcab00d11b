"""Node classifiers and graph plumbing for graph-regularised learning."""

from graph_models.graph import UNLABELED, Graph, GraphError
