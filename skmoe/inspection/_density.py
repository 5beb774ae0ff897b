"""The conditional density of a regressor along one feature: :class:`PredictiveDensityDisplay`."""

import numpy as np

from ._experts import _data_points
from ._plotting import (
    add_legend,
    as_array_or_frame,
    check_matplotlib,
    check_predictive,
    column,
    feature_grid,
    feature_index,
    finish_plot,
    get_axes,
    line_keywords,
    model_rows,
    output_index,
    select_output,
    unwrap,
)

#: line styles of the central intervals, by rank of coverage (narrowest first)
_INTERVAL_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))


class PredictiveDensityDisplay:
    """The predictive density ``p(y | x)`` of a regressor along one feature, as a heat map.

    For a fitted :class:`~skmoe.MixtureOfExpertsRegressor`, as one feature
    varies (the other features held at their medians over ``X``, or at
    values given in ``at``; not averaged over ``X`` as in a partial
    dependence plot), draws

    * the conditional density of ``y`` on a grid of (feature, ``y``) values,
      ``exp(log_likelihood(x, y))``, as a heat map;
    * the predictive mean (``predict``);
    * the central intervals (``predict_interval``) for each ``coverage``,
      one line style per coverage;
    * the data ``(X[:, feature], y)`` when ``y`` is given.

    Where the model is heteroscedastic or multimodal the heat map shows what
    the mean line hides: the spread, the skew, and several ridges where the
    gate hesitates between experts that disagree. For a model fitted on
    several outputs it draws the marginal density of one output.

    Create it with :meth:`from_estimator`; the constructor only stores what
    to draw.

    Parameters
    ----------
    feature_values : ndarray of shape (n_grid,)
        The grid of the plotted feature.

    y_values : ndarray of shape (n_y,)
        The grid of target values.

    density : ndarray of shape (n_y, n_grid)
        Predictive density at each (target, feature) grid point: rows follow
        ``y_values``, columns ``feature_values``.

    mean : ndarray of shape (n_grid,)
        Predictive mean on the grid.

    intervals : ndarray of shape (n_coverages, n_grid, 2)
        Lower and upper ends of the central interval of each coverage.

    coverage : ndarray of shape (n_coverages,)
        The intervals' coverages.

    feature_name : str
        Label of the horizontal axis.

    x_data, y_data : ndarray of shape (n_samples,), default=None
        Data drawn as points (the plotted feature and the target).

    target_name : str, default="y"
        Label of the vertical axis.

    estimator_name : str, default=None
        Title of the legend.

    Attributes
    ----------
    mesh_ : matplotlib.collections.QuadMesh
        The heat map of the density.

    mean_line_ : matplotlib.lines.Line2D or None
        The predictive mean, when drawn.

    interval_lines_ : list of tuple of matplotlib.lines.Line2D
        The ``(lower, upper)`` lines of the interval of each coverage.

    scatter_ : matplotlib.collections.PathCollection or None
        The data points, when drawn.

    colorbar_ : matplotlib.colorbar.Colorbar or None
        The colour bar of the density, when drawn.

    ax_ : matplotlib.axes.Axes
        The axes drawn on.

    figure_ : matplotlib.figure.Figure
        The figure of ``ax_``.

    See Also
    --------
    ExpertsDisplay : Each expert's prediction and the mean +/- std band.
    PredictiveCalibrationDisplay : Whether the predictive distribution is
        calibrated on held-out data.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.inspection import PredictiveDensityDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(500, 1))
    >>> y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + rng.normal(0, 0.1, 500)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> display = PredictiveDensityDisplay.from_estimator(moe, X, y, grid_resolution=50)
    >>> display.density.shape, len(display.interval_lines_)
    ((200, 50), 2)
    """

    def __init__(self, feature_values, y_values, density, mean, intervals, coverage,
                 feature_name, *, x_data=None, y_data=None, target_name="y",
                 estimator_name=None):
        self.feature_values = feature_values
        self.y_values = y_values
        self.density = density
        self.mean = mean
        self.intervals = intervals
        self.coverage = coverage
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
        grid_resolution=100,
        percentiles=(0.0, 1.0),
        y_grid=None,
        y_resolution=200,
        coverage=(0.5, 0.9),
        show_mean=True,
        max_points=2000,
        cmap="Blues",
        colorbar=True,
        ax=None,
        legend=True,
        mesh_kw=None,
        name=None,
    ):
        """Compute the predictive density on a grid along one feature, and draw it.

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
            Which output to draw (its marginal density), for a model fitted
            on several outputs (required then).

        at : dict, default=None
            Values of the features that are not varied, ``{feature: value}``;
            the others are held at their median over ``X`` (the first row's
            value for non-numeric DataFrame columns).

        feature_names : list of str, default=None
            Names of the columns of ``X``.

        grid_resolution : int, default=100
            Number of grid points of the feature.

        percentiles : tuple of float, default=(0.0, 1.0)
            The grid spans these quantiles of the feature's values in ``X``.

        y_grid : array-like of shape (n_y,), default=None
            Increasing target values at which to evaluate the density
            (default: ``y_resolution`` values from the lowest 0.5% to the
            highest 99.5% predictive quantile over the feature's grid, padded
            by 5% of that range on each side).

        y_resolution : int, default=200
            Number of target values of the default ``y_grid``.

        coverage : float or sequence of float, default=(0.5, 0.9)
            Coverages of the central intervals to draw (each in ``(0, 1)``);
            an empty sequence draws none.

        show_mean : bool, default=True
            Whether to draw the predictive mean.

        max_points : int, default=2000
            At most this many data points are drawn (a fixed random subset).

        cmap : str or matplotlib.colors.Colormap, default="Blues"
            Colour map of the heat map.

        colorbar : bool, default=True
            Whether to add a colour bar.

        ax : matplotlib.axes.Axes, default=None
            Axes to draw on; a new figure when None.

        legend : bool, default=True
            Whether to add a legend.

        mesh_kw : dict, default=None
            Keywords for :meth:`~matplotlib.axes.Axes.pcolormesh` (e.g.
            ``norm=matplotlib.colors.PowerNorm(0.5)`` to see low densities).

        name : str, default=None
            Title of the legend (default: none).

        Returns
        -------
        display : PredictiveDensityDisplay
        """
        check_matplotlib("PredictiveDensityDisplay.from_estimator")
        transform, model = unwrap(estimator)
        check_predictive(model, "PredictiveDensityDisplay")
        output = output_index(model, output)
        X = as_array_or_frame(X)
        index, feature_name = feature_index(X, feature, feature_names)
        grid = feature_grid(X, index, grid_resolution, percentiles)
        rows = model_rows(X, [index], [grid], transform, at=at, feature_names=feature_names)
        coverage = np.atleast_1d(np.asarray(coverage, dtype=np.float64))
        if y_grid is None:
            y_grid = _default_y_grid(model, rows, output, y_resolution)
        y_grid = _check_y_grid(y_grid)
        intervals = np.empty((len(coverage), len(grid), 2))
        for i, c in enumerate(coverage):
            intervals[i] = select_output(model.predict_interval(rows, coverage=c), output)
        x_data = y_data = None
        if y is not None:
            x_data, y_data = _data_points(column(X, index), y, output, max_points)
        display = cls(
            grid, y_grid, predictive_density(model, rows, y_grid, output),
            select_output(model.predict(rows), output), intervals, coverage, feature_name,
            x_data=x_data, y_data=y_data,
            target_name="y" if output is None else f"y[{output}]",
            estimator_name=name,
        )
        return display.plot(ax=ax, show_mean=show_mean, cmap=cmap, colorbar=colorbar,
                            legend=legend, mesh_kw=mesh_kw)

    def plot(self, ax=None, *, show_mean=True, cmap="Blues", colorbar=True, legend=True,
             mesh_kw=None):
        """Draw the heat map, the mean, the intervals and the data.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Axes to draw on; a new figure when None.

        show_mean : bool, default=True
            Whether to draw the predictive mean.

        cmap : str or matplotlib.colors.Colormap, default="Blues"
            Colour map of the heat map.

        colorbar : bool, default=True
            Whether to add a colour bar.

        legend : bool, default=True
            Whether to add a legend.

        mesh_kw : dict, default=None
            Keywords for :meth:`~matplotlib.axes.Axes.pcolormesh`.

        Returns
        -------
        display : PredictiveDensityDisplay
            This object, with the matplotlib artists as attributes.
        """
        ax = get_axes("PredictiveDensityDisplay.plot", ax)
        grid, y_values = np.asarray(self.feature_values), np.asarray(self.y_values)
        self.mesh_ = ax.pcolormesh(
            grid, y_values, self.density,
            **line_keywords({"cmap": cmap, "shading": "nearest", "rasterized": True,
                             "zorder": 0}, mesh_kw),
        )
        self.colorbar_ = None
        if colorbar:
            self.colorbar_ = ax.figure.colorbar(self.mesh_, ax=ax, label="predictive density")
        self.scatter_ = None
        if self.x_data is not None:
            self.scatter_ = ax.scatter(self.x_data, self.y_data, s=7, color="C3", alpha=0.6,
                                       linewidths=0, label="data", zorder=2)
        self.interval_lines_ = []
        ranks = np.argsort(np.argsort(self.coverage, kind="stable"), kind="stable")
        for i, c in enumerate(self.coverage):
            style = {"color": "k", "lw": 1.1, "zorder": 3,
                     "ls": _INTERVAL_STYLES[ranks[i] % len(_INTERVAL_STYLES)]}
            low = ax.plot(grid, self.intervals[i, :, 0], label=f"{c:.0%} interval", **style)[0]
            high = ax.plot(grid, self.intervals[i, :, 1], **style)[0]
            self.interval_lines_.append((low, high))
        self.mean_line_ = None
        if show_mean:
            self.mean_line_ = ax.plot(grid, self.mean, color="k", lw=1.8,
                                      label="predictive mean", zorder=4)[0]
        ax.set_xlabel(self.feature_name)
        ax.set_ylabel(self.target_name)
        ax.set_xlim(grid[0], grid[-1])
        ax.set_ylim(y_values[0], y_values[-1])
        if legend and (show_mean or self.interval_lines_ or self.scatter_ is not None):
            add_legend(ax, title=self.estimator_name, title_fontsize="small")
        return finish_plot(self, ax)


def predictive_density(model, rows, y_values, output):
    """The density ``(n_y, n_rows)`` of the regressor at each pair of ``y_values`` and ``rows``.

    One output: ``exp(log_likelihood)`` on all pairs in one call (any expert
    family, dense or sparse). Several outputs: the marginal of ``output``,
    the mixture ``sum_k g_k(x) N(y; mu_k(x), s2_k)`` of the gate (``top_k``
    non-zeros for a sparse model), the experts' means and their variances.
    """
    n, n_y = rows.shape[0], len(y_values)
    if output is None:
        pairs = _repeat_rows(rows, n_y)
        log_density = model.log_likelihood(pairs, np.tile(y_values, n))
        return np.exp(log_density).reshape(n, n_y).T
    if getattr(model, "expert_df_", None) is not None:  # pragma: no cover (no such family yet)
        raise NotImplementedError("the marginal density of Student-t experts")
    gate = model.gate_proba(rows)  # (n, K)
    means = model.predict_experts(rows)[:, :, output]  # (n, K)
    var = np.asarray(model.expert_var_)[:, output]  # (K,)
    z2 = (y_values[:, None, None] - means[None]) ** 2 / var  # (n_y, n, K)
    return np.einsum("ik,jik->ji", gate, np.exp(-0.5 * z2) / np.sqrt(2 * np.pi * var))


def _repeat_rows(rows, times):
    """Each row of ``rows`` (array or DataFrame) repeated ``times`` times in a row."""
    if hasattr(rows, "iloc"):
        return rows.iloc[np.repeat(np.arange(len(rows)), times)].reset_index(drop=True)
    return np.repeat(np.asarray(rows), times, axis=0)


def _default_y_grid(model, rows, output, y_resolution):
    """From the lowest 0.5% to the highest 99.5% quantile over ``rows``, padded by 5%."""
    q = select_output(model.predict_quantiles(rows, quantiles=(0.005, 0.995)), output)
    low, high = np.min(q[:, 0]), np.max(q[:, 1])
    pad = 0.05 * (high - low) if high > low else 1.0
    return np.linspace(low - pad, high + pad, int(y_resolution))


def _check_y_grid(y_grid):
    y_grid = np.asarray(y_grid, dtype=np.float64)
    if y_grid.ndim != 1 or y_grid.size < 2 or not np.all(np.diff(y_grid) > 0):
        raise ValueError("y_grid must be a 1-D increasing array of at least two target values.")
    return y_grid
