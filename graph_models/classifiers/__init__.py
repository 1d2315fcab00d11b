"""Node classifiers: the base classes (`NodeGraphModel`, `NodeClassifier`)
and one module per model (MLP, GCN, CommNet, GraphSAGE, the neighbourhood
pooling and graph-network classifiers)."""
