"""The training curve of a fitted mixture: :class:`LogLikelihoodCurveDisplay`."""

import numpy as np

from ._plotting import (
    add_legend,
    check_matplotlib,
    estimator_name,
    finish_plot,
    get_axes,
    line_keywords,
    unwrap,
)

_STEP_NAMES = {"em": "EM iteration", "lbfgs": "L-BFGS iteration", "adam": "Adam epoch"}


class LogLikelihoodCurveDisplay:
    """The training log-likelihood per iteration or epoch of a fitted mixture.

    Draws ``log_likelihood_curve_`` (optionally ``objective_curve_`` too):
    for EM and L-BFGS one value at the start (step 0) and one after each
    iteration, for Adam one per epoch (and one per ``partial_fit`` pass).
    Call :meth:`from_estimator` again with ``ax=display.ax_`` to compare
    several fits on one plot.

    Parameters
    ----------
    steps : ndarray of shape (n_points,)
        Iteration or epoch numbers.

    log_likelihood : ndarray of shape (n_points,)
        Mean training log-likelihood at each step.

    objective : ndarray of shape (n_points,), default=None
        Penalised objective per unit weight at each step.

    step_name : str, default="iteration"
        Label of the horizontal axis.

    name : str, default=None
        Label of the curve in the legend.

    Attributes
    ----------
    line_ : matplotlib.lines.Line2D
        The log-likelihood curve.

    objective_line_ : matplotlib.lines.Line2D or None
        The objective curve, when drawn.

    ax_ : matplotlib.axes.Axes
        The axes drawn on.

    figure_ : matplotlib.figure.Figure
        The figure of ``ax_``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.inspection import LogLikelihoodCurveDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(500, 1))
    >>> y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + rng.normal(0, 0.1, 500)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> display = LogLikelihoodCurveDisplay.from_estimator(moe, name="EM")
    >>> len(display.line_.get_xdata()) == len(moe.log_likelihood_curve_)
    True
    """

    def __init__(self, steps, log_likelihood, *, objective=None, step_name="iteration",
                 name=None):
        self.steps = steps
        self.log_likelihood = log_likelihood
        self.objective = objective
        self.step_name = step_name
        self.name = name

    @classmethod
    def from_estimator(cls, estimator, *, objective=False, name=None, step_name=None, ax=None,
                       line_kw=None):
        """Draw the training curve of a fitted mixture of experts.

        Parameters
        ----------
        estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
            A fitted mixture, or a fitted Pipeline or search ending in one.

        objective : bool, default=False
            Also draw ``objective_curve_`` (dotted, same colour).

        name : str, default=None
            Legend label (default: the estimator's class name).

        step_name : str, default=None
            Label of the horizontal axis (default: ``"EM iteration"``,
            ``"L-BFGS iteration"`` or ``"Adam epoch"`` after the solver that
            fitted the model; pass e.g. ``"partial_fit call"`` for a model
            trained by ``partial_fit``).

        ax : matplotlib.axes.Axes, default=None
            Axes to draw on; a new figure when None.

        line_kw : dict, default=None
            Keywords for :meth:`~matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : LogLikelihoodCurveDisplay
        """
        check_matplotlib("LogLikelihoodCurveDisplay.from_estimator")
        _, model = unwrap(estimator)
        curve = np.asarray(model.log_likelihood_curve_, dtype=np.float64)
        if step_name is None:
            step_name = _STEP_NAMES.get(getattr(model, "_solver", None), "iteration")
        # EM and L-BFGS curves start with the value before the first iteration
        first = 0 if len(curve) == model.n_iter_ + 1 else 1
        steps = np.arange(first, first + len(curve))
        obj = None
        if objective:
            obj = np.asarray(getattr(model, "objective_curve_", np.full(len(curve), np.nan)))
        display = cls(steps, curve, objective=obj, step_name=step_name,
                      name=name if name is not None else estimator_name(estimator, model))
        return display.plot(ax=ax, line_kw=line_kw)

    def plot(self, ax=None, *, line_kw=None):
        """Draw the curve(s).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Axes to draw on; a new figure when None.

        line_kw : dict, default=None
            Keywords for :meth:`~matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : LogLikelihoodCurveDisplay
            This object, with the matplotlib artists as attributes.
        """
        ax = get_axes("LogLikelihoodCurveDisplay.plot", ax)
        defaults = {"lw": 1.8, "marker": "o" if len(self.steps) <= 40 else None, "ms": 3,
                    "label": self.name}
        self.line_ = ax.plot(self.steps, self.log_likelihood,
                             **line_keywords(defaults, line_kw))[0]
        self.objective_line_ = None
        if self.objective is not None:
            self.objective_line_ = ax.plot(
                self.steps, self.objective, ls=":", lw=1.5, color=self.line_.get_color(),
                label=f"{self.name}: penalised objective" if self.name else "penalised objective",
            )[0]
        ax.set_xlabel(self.step_name)
        ax.set_ylabel("mean training log-likelihood")
        if self.name is not None or self.objective is not None:
            add_legend(ax, loc="lower right")
        ax.grid(alpha=0.3)
        return finish_plot(self, ax)
