"""Expert families: a mean function times a likelihood head, behind one protocol.

See ``_base`` (the protocol: every member the engine reads), ``_heads`` (the
likelihoods) and ``_registry`` (the ``expert`` values and their entries).
"""

from ._base import ExpertFamily
from ._categorical import CategoricalExperts
from ._estimator import EstimatorExperts
from ._gaussian import GaussianExperts
from ._heads import VAR_FLOOR, CategoricalHead, GaussianHead
from ._mlp import MLPExperts
from ._registry import (
    DISTRIBUTIONS,
    EXPERTS,
    ExpertEntry,
    check_distribution,
    expert_attributes,
    expert_entry,
    expert_names,
    head_of,
    task_of,
)

__all__ = [
    "DISTRIBUTIONS",
    "EXPERTS",
    "VAR_FLOOR",
    "CategoricalExperts",
    "CategoricalHead",
    "EstimatorExperts",
    "ExpertEntry",
    "ExpertFamily",
    "GaussianExperts",
    "GaussianHead",
    "MLPExperts",
    "check_distribution",
    "expert_attributes",
    "expert_entry",
    "expert_names",
    "head_of",
    "task_of",
]
