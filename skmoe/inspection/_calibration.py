"""Is the predictive distribution calibrated: :class:`PredictiveCalibrationDisplay`."""

import numpy as np

from ._plotting import (
    add_legend,
    check_matplotlib,
    check_predictive,
    estimator_name,
    line_keywords,
    output_index,
    select_output,
    unwrap,
)

#: nominal coverages of the default coverage curve: 5%, 10%, ..., 95%
DEFAULT_COVERAGES = np.round(np.linspace(0.05, 0.95, 19), 2)


class PredictiveCalibrationDisplay:
    """Calibration of a regressor's predictive distribution on data: PIT and coverage.

    Two panels, for a fitted :class:`~skmoe.MixtureOfExpertsRegressor` on
    (typically held-out) data ``(X, y)``:

    * left, the histogram of the probability integral transform (PIT)
      ``F(y_i | x_i)`` (``predict_cdf``), normalised as a density: flat at 1
      when the predictive distributions are calibrated; a U shape means they
      are too narrow (the targets fall in their tails), a hump too wide, a
      slope a biased location;
    * right, the empirical coverage of the central intervals
      (``predict_interval``) against their nominal coverage: on the diagonal
      when calibrated, below it when the intervals are too narrow.

    Call :meth:`from_estimator` again with ``ax=display.axes_`` to compare
    several models on the same two panels. Unlike
    :class:`sklearn.calibration.CalibrationDisplay` (a classifier's predicted
    probabilities), this display checks the whole predictive distribution of
    a regressor.

    Parameters
    ----------
    pit : ndarray of shape (n_samples,)
        The PIT values ``F(y_i | x_i)``, in ``[0, 1]``.

    coverages : ndarray of shape (n_coverages,)
        Nominal coverages of the central intervals.

    empirical : ndarray of shape (n_coverages,)
        Share of the targets inside the interval of each nominal coverage.

    n_bins : int, default=10
        Number of bins of the PIT histogram.

    estimator_name : str, default=None
        Label of the histogram and of the coverage curve in the legends.

    Attributes
    ----------
    bars_ : matplotlib.container.BarContainer
        The bars of the PIT histogram.

    uniform_line_ : matplotlib.lines.Line2D
        The density of a calibrated PIT, 1.

    coverage_line_ : matplotlib.lines.Line2D
        Empirical against nominal coverage.

    diagonal_line_ : matplotlib.lines.Line2D
        The diagonal (calibrated intervals).

    axes_ : ndarray of matplotlib.axes.Axes of shape (2,)
        The PIT axes and the coverage axes.

    figure_ : matplotlib.figure.Figure
        The figure of ``axes_``.

    See Also
    --------
    PredictiveDensityDisplay : The predictive density along one feature.
    sklearn.calibration.CalibrationDisplay : Reliability diagram of a
        classifier's probabilities.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.inspection import PredictiveCalibrationDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(1000, 1))
    >>> y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + rng.normal(0, 0.1, 1000)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X[:500], y[:500])
    >>> display = PredictiveCalibrationDisplay.from_estimator(moe, X[500:], y[500:])
    >>> display.pit.shape, len(display.bars_)
    ((500,), 10)
    >>> bool(np.max(np.abs(display.empirical - display.coverages)) < 0.1)
    True
    """

    def __init__(self, pit, coverages, empirical, *, n_bins=10, estimator_name=None):
        self.pit = pit
        self.coverages = coverages
        self.empirical = empirical
        self.n_bins = n_bins
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, X, y, *, output=None, n_bins=10, coverages=None,
                       name=None, ax=None, hist_kw=None, line_kw=None):
        """Compute the PIT and the intervals' coverages of a regressor on data, and draw them.

        Parameters
        ----------
        estimator : MixtureOfExpertsRegressor
            A fitted regressor, or a fitted :class:`~sklearn.pipeline.Pipeline`
            ending in one, or a fitted search over either.

        X : array-like or DataFrame of shape (n_samples, n_features)
            Data, preferably not those the model was fitted on.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Their targets.

        output : int, default=None
            Which output to check, for a model fitted on several outputs
            (required then).

        n_bins : int, default=10
            Number of bins of the PIT histogram.

        coverages : array-like of shape (n_coverages,), default=None
            Nominal coverages of the central intervals, each in ``(0, 1)``
            (default: 0.05, 0.10, ..., 0.95).

        name : str, default=None
            Legend label (default: the estimator's class name).

        ax : pair of matplotlib.axes.Axes, default=None
            The PIT axes and the coverage axes; a new figure with two
            panels when None.

        hist_kw : dict, default=None
            Keywords for :meth:`~matplotlib.axes.Axes.hist`.

        line_kw : dict, default=None
            Keywords for :meth:`~matplotlib.axes.Axes.plot` (coverage curve).

        Returns
        -------
        display : PredictiveCalibrationDisplay
        """
        check_matplotlib("PredictiveCalibrationDisplay.from_estimator")
        transform, model = unwrap(estimator)
        check_predictive(model, "PredictiveCalibrationDisplay")
        output = output_index(model, output)
        coverages = _check_coverages(coverages)
        rows = X if transform is None else transform(X)
        pit = select_output(model.predict_cdf(rows, y), output)
        levels = np.concatenate([(1 - coverages) / 2, (1 + coverages) / 2])
        q = select_output(model.predict_quantiles(rows, quantiles=levels), output)
        target = np.asarray(y, dtype=np.float64)
        target = target.reshape(len(target), -1)[:, 0 if output is None else output]
        low, high = q[:, : len(coverages)], q[:, len(coverages):]
        empirical = np.mean((low <= target[:, None]) & (target[:, None] <= high), axis=0)
        display = cls(pit, coverages, empirical, n_bins=n_bins,
                      estimator_name=name if name is not None else estimator_name(estimator,
                                                                                  model))
        return display.plot(ax=ax, hist_kw=hist_kw, line_kw=line_kw)

    @classmethod
    def from_predictions(cls, pit, *, n_bins=10, coverages=None, name=None, ax=None,
                         hist_kw=None, line_kw=None):
        """Draw the calibration of PIT values computed elsewhere.

        The central interval of coverage ``c`` holds ``y`` exactly when the
        PIT lies in ``[(1 - c)/2, (1 + c)/2]`` (for a continuous predictive
        distribution), so the coverage curve follows from the PIT values.

        Parameters
        ----------
        pit : array-like of shape (n_samples,)
            PIT values ``F(y_i | x_i)`` in ``[0, 1]``, e.g. ``predict_cdf(X, y)``.

        n_bins : int, default=10
            Number of bins of the PIT histogram.

        coverages : array-like of shape (n_coverages,), default=None
            Nominal coverages, each in ``(0, 1)`` (default: 0.05, ..., 0.95).

        name : str, default=None
            Legend label.

        ax : pair of matplotlib.axes.Axes, default=None
            The PIT axes and the coverage axes; a new figure when None.

        hist_kw : dict, default=None
            Keywords for :meth:`~matplotlib.axes.Axes.hist`.

        line_kw : dict, default=None
            Keywords for :meth:`~matplotlib.axes.Axes.plot` (coverage curve).

        Returns
        -------
        display : PredictiveCalibrationDisplay
        """
        check_matplotlib("PredictiveCalibrationDisplay.from_predictions")
        pit = np.asarray(pit, dtype=np.float64)
        if pit.ndim != 1 or not np.all((pit >= 0) & (pit <= 1)):
            raise ValueError("pit must be a 1-D array of values in [0, 1].")
        coverages = _check_coverages(coverages)
        empirical = np.mean(np.abs(pit[:, None] - 0.5) <= coverages / 2, axis=0)
        display = cls(pit, coverages, empirical, n_bins=n_bins, estimator_name=name)
        return display.plot(ax=ax, hist_kw=hist_kw, line_kw=line_kw)

    def plot(self, ax=None, *, hist_kw=None, line_kw=None):
        """Draw the PIT histogram and the coverage curve.

        Parameters
        ----------
        ax : pair of matplotlib.axes.Axes, default=None
            The PIT axes and the coverage axes; a new figure with two
            panels when None.

        hist_kw : dict, default=None
            Keywords for :meth:`~matplotlib.axes.Axes.hist`.

        line_kw : dict, default=None
            Keywords for :meth:`~matplotlib.axes.Axes.plot` (coverage curve).

        Returns
        -------
        display : PredictiveCalibrationDisplay
            This object, with the matplotlib artists as attributes.
        """
        plt = check_matplotlib("PredictiveCalibrationDisplay.plot")
        if ax is None:
            _, ax = plt.subplots(1, 2, figsize=(9.5, 4))
        axes = np.asarray(ax, dtype=object).ravel()
        if axes.shape != (2,):
            raise ValueError(f"ax must be a pair of axes (PIT, coverage), got {axes.size}.")
        ax_pit, ax_cov = axes
        _, _, self.bars_ = ax_pit.hist(
            self.pit, **line_keywords({"bins": self.n_bins, "range": (0.0, 1.0),
                                       "density": True, "alpha": 0.55,
                                       "edgecolor": "white", "label": self.estimator_name},
                                      hist_kw))
        self.uniform_line_ = ax_pit.axhline(1.0, color="k", ls="--", lw=1,
                                            label="calibrated")
        ax_pit.set_xlim(0, 1)
        ax_pit.set_xlabel("PIT  $F(y \\mid x)$")
        ax_pit.set_ylabel("density")
        self.diagonal_line_ = ax_cov.plot([0, 1], [0, 1], color="k", ls="--", lw=1,
                                          label="calibrated")[0]
        self.coverage_line_ = ax_cov.plot(
            self.coverages, self.empirical,
            **line_keywords({"marker": "o", "ms": 3.5, "lw": 1.6, "label": self.estimator_name},
                            line_kw))[0]
        ax_cov.set_xlim(0, 1)
        ax_cov.set_ylim(0, 1)
        ax_cov.set_aspect("equal", adjustable="box")
        ax_cov.set_xlabel("nominal coverage of the central interval")
        ax_cov.set_ylabel("empirical coverage")
        for axis in axes:
            add_legend(axis, loc="lower right" if axis is ax_cov else "best")
            axis.grid(alpha=0.3)
        self.axes_ = axes
        self.figure_ = ax_pit.figure
        return self


def _check_coverages(coverages):
    """Validated nominal coverages: a 1-D array, each in ``(0, 1)``."""
    if coverages is None:
        return DEFAULT_COVERAGES.copy()
    coverages = np.atleast_1d(np.asarray(coverages, dtype=np.float64))
    if coverages.ndim != 1 or coverages.size == 0 or not np.all(
        (coverages > 0) & (coverages < 1)
    ):
        raise ValueError("coverages must be a 1-D array of values in the open interval (0, 1).")
    return coverages
