"""The agreement model of GAM: do two nodes have the same label?

`AgreementModel` is a siamese network: one shared encoder embeds both nodes'
features, an aggregation combines the two embeddings and a linear layer turns
them into one logit of "same label". `train_agreement_model` fits it on the
graph's edges whose two ends carry a label in the given label table, as the
GAM reference trainer does (`use_graph=True, add_negative_edges=True`):
balanced batches of agreeing and disagreeing pairs. Unlike the reference,
half of each batch are random labelled pairs by default
(`random_pair_share`), and what is held out for early stopping and for
measuring the model is a share of the labelled *nodes*, not of the edges:
GAM applies the model to pairs with an end it never saw, and an edge between
two nodes trained on through other pairs reads 1.0 almost always. See
`AgreementTrainingOptions`.

`model` holds the network and its scoring of pairs, `pairs` the sampler of
labelled pairs, `training` the training loop and its options.

Example:
  >>> labels = np.where(graph.train_mask, graph.labels, UNLABELED)
  >>> model = AgreementModel(hidden_units=(128,), aggregation="dist")
  >>> result = train_agreement_model(model, graph, labels)
  >>> agreement_probabilities(model, graph, [0, 1], [2, 3])  # P(same label)
"""

from gam.agreement.model import (AGGREGATIONS, AgreementModel,
                                 agreement_probabilities)
from gam.agreement.pairs import AgreementPairSampler
from gam.agreement.training import (AgreementTrainingOptions,
                                    AgreementTrainingResult,
                                    balanced_accuracy, train_agreement_model)

__all__ = ["AGGREGATIONS", "AgreementModel", "AgreementPairSampler",
           "AgreementTrainingOptions", "AgreementTrainingResult",
           "agreement_probabilities", "balanced_accuracy",
           "train_agreement_model"]
