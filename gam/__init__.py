"""Graph Agreement Models for semi-supervised node classification."""

import sys

from gam import quiet_start

__version__ = "0.1.0"

# Before the imports below load TensorFlow (see quiet_start).
if quiet_start.launched_from_command_line():
  quiet_start.start_tensorflow_quietly(sys.argv[1:])

# pylint: disable=g-import-not-at-top,wrong-import-position
from gam.agreement import (AgreementModel, AgreementTrainingOptions,
                           agreement_probabilities, train_agreement_model)
from gam.agreement_regularization import (AgreementRegularization,
                                          RegularizationPairs,
                                          regularized_dataset)
from gam.checkpoints import CheckpointError
from gam.cotraining import CoTrainingOptions
from gam.edge_pairs import EdgePairs
from gam.graph_agreement_model import GraphAgreementModel
from gam.graph_regularization import GraphRegularizationModel
from gam.protocols import ClassifierSettings, GamProtocol, gam_protocol
from gam.round_callbacks import RoundCallback
from gam.round_history import AgreementRecord, CoTrainingHistory, RoundRecord

__all__ = ["AgreementModel", "AgreementRecord", "AgreementRegularization",
           "AgreementTrainingOptions", "CheckpointError", "ClassifierSettings",
           "CoTrainingHistory", "CoTrainingOptions", "EdgePairs",
           "GamProtocol", "GraphAgreementModel", "GraphRegularizationModel",
           "RegularizationPairs", "RoundCallback", "RoundRecord",
           "agreement_probabilities", "gam_protocol", "regularized_dataset",
           "train_agreement_model"]
