"""Graph Agreement Models for semi-supervised node classification."""

__version__ = "0.1.0"

# pylint: disable=g-import-not-at-top
from gam.agreement import (AgreementModel, AgreementTrainingOptions,
                           agreement_probabilities, train_agreement_model)
from gam.edge_pairs import EdgePairs
from gam.graph_regularization import GraphRegularizationModel

__all__ = ["AgreementModel", "AgreementTrainingOptions", "EdgePairs",
           "GraphRegularizationModel", "agreement_probabilities",
           "train_agreement_model"]
