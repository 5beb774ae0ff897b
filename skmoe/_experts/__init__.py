"""Expert families behind one protocol (see ``_base.ExpertFamily``)."""

from ._base import ExpertFamily
from ._gaussian import GaussianExperts

__all__ = ["ExpertFamily", "GaussianExperts"]
