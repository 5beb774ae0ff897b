"""Plots of a fitted mixture of experts, as scikit-learn style Displays.

Each Display follows scikit-learn's convention (as
:class:`sklearn.inspection.PartialDependenceDisplay` or
:class:`sklearn.metrics.RocCurveDisplay`): a class method ``from_estimator``
computes what to draw from a fitted model and draws it, ``plot`` draws a
display again (on other axes, with other styles), and the drawn matplotlib
objects are stored as attributes ending in ``_`` (``ax_``, ``figure_``,
``lines_``, ...) for further styling.

* :class:`GateDisplay`: the gate probabilities ``g_k(x)`` along one feature
  (one curve per expert), or over two features (the experts' regions);
* :class:`ExpertsDisplay`: each expert's prediction and the mixture's
  predictive mean and band along one feature (regressor);
* :class:`LogLikelihoodCurveDisplay`: the training log-likelihood per
  iteration or epoch (``log_likelihood_curve_``);
* :class:`PredictiveDensityDisplay`: the predictive density ``p(y | x)``
  along one feature as a heat map, with the mean and central intervals
  (regressor);
* :class:`PredictiveCalibrationDisplay`: the histogram of the PIT values
  ``F(y | x)`` and the coverage of the central intervals on data (regressor).

Expert ``k`` is drawn in matplotlib's colour ``"C{k}"`` in every display, so
the same expert has the same colour in a gate plot and an experts plot.

Importing this module does not need matplotlib; drawing does (install it with
``pip install "skmoe[plot]"``).
"""

from ._calibration import PredictiveCalibrationDisplay
from ._curve import LogLikelihoodCurveDisplay
from ._density import PredictiveDensityDisplay
from ._experts import ExpertsDisplay
from ._gate import GateDisplay

__all__ = [
    "ExpertsDisplay",
    "GateDisplay",
    "LogLikelihoodCurveDisplay",
    "PredictiveCalibrationDisplay",
    "PredictiveDensityDisplay",
]

# The Displays are defined in private modules but documented, pickled and
# doctested as ``skmoe.inspection.<Name>``, where they have always lived.
for _display in (ExpertsDisplay, GateDisplay, LogLikelihoodCurveDisplay,
                 PredictiveCalibrationDisplay, PredictiveDensityDisplay):
    _display.__module__ = __name__
del _display
