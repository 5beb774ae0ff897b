"""skmoe: Mixture-of-Experts models as scikit-learn estimators."""

from ._classifier import MixtureOfExpertsClassifier
from ._regressor import MixtureOfExpertsRegressor

__version__ = "0.1.0.dev0"

__all__ = ["MixtureOfExpertsClassifier", "MixtureOfExpertsRegressor", "__version__"]
