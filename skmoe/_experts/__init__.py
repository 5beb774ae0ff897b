"""Expert families behind one protocol (see ``_base.ExpertFamily``)."""

from ._base import ExpertFamily
from ._categorical import CategoricalExperts
from ._estimator import EstimatorExperts
from ._gaussian import GaussianExperts
from ._mlp import MLPExperts

__all__ = [
    "CategoricalExperts",
    "EstimatorExperts",
    "ExpertFamily",
    "GaussianExperts",
    "MLPExperts",
]
