"""The experts and the predictive band of a regressor: :class:`ExpertsDisplay`."""

import numpy as np

from ._plotting import (
    add_legend,
    as_array_or_frame,
    check_matplotlib,
    column,
    estimator_name,
    expert_colors,
    feature_grid,
    feature_index,
    finish_plot,
    get_axes,
    model_rows,
    unwrap,
)


class ExpertsDisplay:
    """Each expert's prediction and the mixture's predictive band along one feature.

    For a fitted :class:`~skmoe.MixtureOfExpertsRegressor`, as one feature
    varies (the others held at their medians, or at values given in ``at``),
    draws

    * each expert's mean ``mu_k(x)``: a thin dashed line everywhere, and a
      solid one where that expert's gate probability is at least
      ``highlight`` (where it is in charge);
    * the mixture's predictive mean ``sum_k g_k(x) mu_k(x)``;
    * the band ``mean +/- n_std * std``, with ``std`` the standard deviation
      of the whole mixture (``predict(X, return_std=True)``), which widens
      where the gate hesitates between experts that disagree;
    * the data ``(X[:, feature], y)`` when ``y`` is given.

    Create it with :meth:`from_estimator`; the constructor only stores what
    to draw.

    Parameters
    ----------
    feature_values : ndarray of shape (n_grid,)
        The grid of the plotted feature.

    expert_predictions : ndarray of shape (n_grid, n_experts)
        Each expert's mean on the grid.

    gate_proba : ndarray of shape (n_grid, n_experts)
        Gate probabilities on the grid.

    mean : ndarray of shape (n_grid,)
        Mixture predictive mean on the grid.

    std : ndarray of shape (n_grid,)
        Mixture predictive standard deviation on the grid.

    feature_name : str
        Label of the horizontal axis.

    x_data, y_data : ndarray of shape (n_samples,), default=None
        Data drawn as points (the plotted feature and the target).

    target_name : str, default="y"
        Label of the vertical axis.

    estimator_name : str, default=None
        Used in the title.

    Attributes
    ----------
    expert_lines_ : list of matplotlib.lines.Line2D
        Each expert's mean over the whole grid (dashed).

    active_lines_ : list of matplotlib.lines.Line2D
        Each expert's mean where its gate probability is at least
        ``highlight`` (solid; empty lines when ``highlight=None``).

    mean_line_ : matplotlib.lines.Line2D
        The mixture's predictive mean.

    band_ : matplotlib.collections.PolyCollection
        The predictive band.

    scatter_ : matplotlib.collections.PathCollection or None
        The data points, when drawn.

    ax_ : matplotlib.axes.Axes
        The axes drawn on.

    figure_ : matplotlib.figure.Figure
        The figure of ``ax_``.

    See Also
    --------
    GateDisplay : The gate probabilities along the same feature.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.inspection import ExpertsDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(500, 1))
    >>> y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + rng.normal(0, 0.1, 500)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> display = ExpertsDisplay.from_estimator(moe, X, y)
    >>> len(display.expert_lines_), display.band_ is not None
    (2, True)
    """

    def __init__(self, feature_values, expert_predictions, gate_proba, mean, std, feature_name,
                 *, x_data=None, y_data=None, target_name="y", estimator_name=None):
        self.feature_values = feature_values
        self.expert_predictions = expert_predictions
        self.gate_proba = gate_proba
        self.mean = mean
        self.std = std
        self.feature_name = feature_name
        self.x_data = x_data
        self.y_data = y_data
        self.target_name = target_name
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y=None,
        *,
        feature=0,
        output=None,
        at=None,
        feature_names=None,
        grid_resolution=200,
        percentiles=(0.0, 1.0),
        n_std=2.0,
        highlight=0.5,
        max_points=2000,
        colors=None,
        ax=None,
        legend=True,
    ):
        """Compute the experts' and the mixture's predictions along one feature, and draw them.

        Parameters
        ----------
        estimator : MixtureOfExpertsRegressor
            A fitted regressor, or a fitted :class:`~sklearn.pipeline.Pipeline`
            ending in one, or a fitted search over either.

        X : array-like or DataFrame of shape (n_samples, n_features)
            Data that set the range of the grid and the fixed values of the
            other features.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Targets; when given, the data are drawn as points.

        feature : int or str, default=0
            The feature to vary (index, or column name).

        output : int, default=None
            Which output to draw, for a model fitted on several outputs
            (required then).

        at : dict, default=None
            Values of the features that are not varied, ``{feature: value}``;
            the others are held at their median in ``X``.

        feature_names : list of str, default=None
            Names of the columns of ``X``.

        grid_resolution : int, default=200
            Number of grid points.

        percentiles : tuple of float, default=(0.0, 1.0)
            The grid spans these quantiles of the feature's values in ``X``.

        n_std : float, default=2.0
            Half-width of the band in predictive standard deviations.

        highlight : float or None, default=0.5
            Draw an expert's line solid where its gate probability is at
            least this; None draws dashed lines only.

        max_points : int, default=2000
            At most this many data points are drawn (a fixed random subset).

        colors : list of color, default=None
            One colour per expert (default ``"C0"``, ``"C1"``, ...).

        ax : matplotlib.axes.Axes, default=None
            Axes to draw on; a new figure when None.

        legend : bool, default=True
            Whether to add a legend.

        Returns
        -------
        display : ExpertsDisplay
        """
        check_matplotlib("ExpertsDisplay.from_estimator")
        transform, model = unwrap(estimator)
        if not hasattr(model, "sample_y"):
            raise TypeError(
                "ExpertsDisplay draws a regressor's experts and predictive band; for a "
                "classifier use GateDisplay (and sklearn.inspection.DecisionBoundaryDisplay)."
            )
        X = as_array_or_frame(X)
        index, name = feature_index(X, feature, feature_names)
        grid = feature_grid(X, index, grid_resolution, percentiles)
        rows = model_rows(X, [index], [grid], transform, at=at, feature_names=feature_names)
        experts, mean, std, target_name = _predictions(model, rows, output)
        x_data = y_data = None
        if y is not None:
            x_data, y_data = _data_points(column(X, index), y, output, max_points)
        display = cls(grid, experts, model.gate_proba(rows), mean, std, name,
                      x_data=x_data, y_data=y_data, target_name=target_name,
                      estimator_name=estimator_name(estimator, model))
        return display.plot(ax=ax, n_std=n_std, highlight=highlight, colors=colors,
                            legend=legend)

    def plot(self, ax=None, *, n_std=2.0, highlight=0.5, colors=None, legend=True):
        """Draw the experts, the predictive mean and band, and the data.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Axes to draw on; a new figure when None.

        n_std : float, default=2.0
            Half-width of the band in predictive standard deviations.

        highlight : float or None, default=0.5
            Draw an expert's line solid where its gate probability is at
            least this; None draws dashed lines only.

        colors : list of color, default=None
            One colour per expert.

        legend : bool, default=True
            Whether to add a legend.

        Returns
        -------
        display : ExpertsDisplay
            This object, with the matplotlib artists as attributes.
        """
        ax = get_axes("ExpertsDisplay.plot", ax)
        grid = np.asarray(self.feature_values)
        experts = np.asarray(self.expert_predictions)
        colors = expert_colors(experts.shape[1], colors)
        self.scatter_ = None
        if self.x_data is not None:
            self.scatter_ = ax.scatter(self.x_data, self.y_data, s=5, color="0.55", alpha=0.45,
                                       linewidths=0, label="data", zorder=1)
        self.band_ = ax.fill_between(grid, self.mean - n_std * self.std,
                                     self.mean + n_std * self.std, color="0.2", alpha=0.15,
                                     lw=0, label=f"mean ± {n_std:g} std", zorder=2)
        self.expert_lines_, self.active_lines_ = _draw_experts(
            ax, grid, experts, np.asarray(self.gate_proba), highlight, colors
        )
        self.mean_line_ = ax.plot(grid, self.mean, color="k", lw=1.2,
                                  label="predictive mean", zorder=5)[0]
        ax.set_xlabel(self.feature_name)
        ax.set_ylabel(self.target_name)
        ax.set_xlim(grid[0], grid[-1])
        if self.y_data is not None:
            low, high = np.min(self.y_data), np.max(self.y_data)
            pad = 0.08 * (high - low)
            ax.set_ylim(low - pad, high + pad)
        if legend:
            add_legend(ax)
        return finish_plot(self, ax)


def _predictions(model, rows, output):
    """Each expert's mean, the mixture's mean and std on ``rows``, and the target's name.

    For a model fitted on several outputs, those of output ``output``.
    """
    experts = model.predict_experts(rows)
    mean, std = model.predict(rows, return_std=True)
    if experts.ndim == 2:
        return experts, mean, std, "y"
    if output is None:
        raise ValueError(f"the model has {experts.shape[2]} outputs; choose one with output=.")
    return experts[:, :, output], mean[:, output], std[:, output], f"y[{output}]"


def _data_points(x_data, y, output, max_points):
    """The points ``(x_data, y)`` to draw: output ``output`` of y, at most ``max_points``."""
    y_data = np.asarray(y, dtype=np.float64)
    if y_data.ndim == 2:
        if output is None:
            raise ValueError("y has several columns; choose one with output=.")
        y_data = y_data[:, output]
    if len(x_data) > max_points:
        keep = np.random.RandomState(0).choice(len(x_data), max_points, replace=False)
        x_data, y_data = x_data[keep], y_data[keep]
    return x_data, y_data


def _draw_experts(ax, grid, experts, gate, highlight, colors):
    """Each expert's mean: dashed everywhere, and solid where its gate is at least ``highlight``."""
    expert_lines, active_lines = [], []
    for k in range(experts.shape[1]):
        expert_lines.append(
            ax.plot(grid, experts[:, k], ls="--", lw=1, color=colors[k], alpha=0.7, zorder=3)[0]
        )
        if highlight is None:
            active = np.full(len(grid), np.nan)
        else:
            active = np.where(gate[:, k] >= highlight, experts[:, k], np.nan)
        active_lines.append(
            ax.plot(grid, active, lw=3.5, color=colors[k], label=f"expert {k}", zorder=4)[0]
        )
    return expert_lines, active_lines
