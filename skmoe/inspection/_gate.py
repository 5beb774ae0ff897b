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
  iteration or epoch (``log_likelihood_curve_``).

Expert ``k`` is drawn in matplotlib's colour ``"C{k}"`` in every display, so
the same expert has the same colour in a gate plot and an experts plot.

Importing this module does not need matplotlib; drawing does (install it with
``pip install "skmoe[plot]"``).
"""

import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["ExpertsDisplay", "GateDisplay", "LogLikelihoodCurveDisplay"]

_MATPLOTLIB_MESSAGE = (
    "{} requires matplotlib, which is not installed. Install it with the plot "
    'extra: pip install "skmoe[plot]" (or: pip install matplotlib).'
)


def _check_matplotlib(caller):
    """Import ``matplotlib.pyplot``, or raise an ImportError naming the extra."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(_MATPLOTLIB_MESSAGE.format(caller)) from exc
    return plt


def _get_ax(plt, ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _expert_colors(n_experts, colors):
    if colors is None:
        return [f"C{k % 10}" for k in range(n_experts)]
    colors = list(colors)
    if len(colors) < n_experts:
        raise ValueError(f"colors has {len(colors)} entries for {n_experts} experts.")
    return colors


# -- estimators: a mixture of experts, possibly at the end of a pipeline ------


def _unwrap(estimator):
    """``(transform, model)``: ``model`` is the mixture, ``transform`` maps raw X to its input.

    Accepts a fitted mixture of experts, a fitted :class:`~sklearn.pipeline.Pipeline`
    ending in one, or a fitted search (``best_estimator_``) over either.
    """
    if hasattr(estimator, "best_estimator_"):
        estimator = estimator.best_estimator_
    transform = None
    if hasattr(estimator, "steps"):
        if len(estimator.steps) > 1:
            transform = estimator[:-1].transform
        estimator = estimator.steps[-1][1]
    if not hasattr(estimator, "gate_proba") or not hasattr(estimator, "n_experts"):
        raise TypeError(
            "expected a fitted MixtureOfExpertsRegressor or MixtureOfExpertsClassifier "
            "(or a Pipeline or search ending in one), got "
            f"{type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    return transform, estimator


def _is_frame(X):
    return hasattr(X, "iloc") and hasattr(X, "columns")


def _as_array_or_frame(X):
    if _is_frame(X):
        return X
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got an array of shape {X.shape}.")
    return X


def _feature_index(X, feature, feature_names):
    """Column index and display name of ``feature`` (an int or a column name)."""
    n_features = X.shape[1]
    if feature_names is None and _is_frame(X):
        feature_names = [str(c) for c in X.columns]
    if isinstance(feature, str):
        if feature_names is None or feature not in list(feature_names):
            raise ValueError(
                f"feature {feature!r} is not a column name of X; pass an integer index "
                "or X as a DataFrame (or feature_names)."
            )
        index = list(feature_names).index(feature)
    elif isinstance(feature, numbers.Integral) and not isinstance(feature, bool):
        index = int(feature)
        if not -n_features <= index < n_features:
            raise ValueError(f"feature={feature} is out of range for X with {n_features} columns.")
        index %= n_features
    else:
        raise TypeError(f"feature must be an int or a column name, got {feature!r}.")
    name = feature_names[index] if feature_names is not None else f"x{index}"
    return index, str(name)


def _column(X, index):
    col = X.iloc[:, index] if _is_frame(X) else X[:, index]
    return np.asarray(col, dtype=np.float64)


def _grid(X, index, grid_resolution, percentiles):
    low, high = percentiles
    if not 0 <= low < high <= 1:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 1, got {percentiles}.")
    values = _column(X, index)
    lo, hi = np.quantile(values, [low, high])
    if lo == hi:
        raise ValueError(f"feature {index} is constant over the chosen percentiles of X.")
    return np.linspace(lo, hi, int(grid_resolution))


def _reference_row(X, at, feature_names):
    """One row of ``X`` holding the other features fixed: medians, or ``at``."""
    if _is_frame(X):
        row = X.iloc[[0]].copy()
        for j, col in enumerate(X.columns):
            if np.issubdtype(np.asarray(X[col]).dtype, np.number):
                row.iloc[0, j] = X[col].median()
    else:
        row = np.median(np.asarray(X, dtype=np.float64), axis=0)[None, :]
    for key, value in (at or {}).items():
        index, _ = _feature_index(X, key, feature_names)
        if _is_frame(row):
            row.iloc[0, index] = value
        else:
            row[0, index] = value
    return row


def _grid_rows(row, indices, columns):
    """Copies of ``row`` with the ``indices`` columns set to the ``columns`` values."""
    n = len(columns[0])
    if _is_frame(row):
        rows = row.iloc[np.zeros(n, dtype=int)].reset_index(drop=True)
        for index, values in zip(indices, columns, strict=True):
            rows[rows.columns[index]] = values
        return rows
    rows = np.repeat(row, n, axis=0)
    for index, values in zip(indices, columns, strict=True):
        rows[:, index] = values
    return rows


def _estimator_name(estimator, model):
    return type(model).__name__ if estimator is model else type(estimator).__name__


# -- the gate -------------------------------------------------------------------


class GateDisplay:
    """Gate probabilities of a mixture of experts along one or two features.

    With one feature, one curve per expert: ``g_k(x)`` as that feature varies
    and the other features are held fixed (at their medians, or at values
    given in ``at``). With two features, the plane is coloured by the gate:
    each point gets the gate-weighted average of the experts' colours (pure
    colour where one expert is trusted, a blend where the gate hesitates),
    and a line marks where each expert's probability is one half.

    Create it with :meth:`from_estimator`; the constructor only stores what
    to draw.

    Parameters
    ----------
    feature_values : list of ndarray
        The grid of each plotted feature: one array (one feature) or two.

    gate_proba : ndarray of shape (n_grid, n_experts) or (n_grid_1, n_grid_0, n_experts)
        Gate probabilities on the grid; for two features, rows follow the
        second feature and columns the first (as ``numpy.meshgrid``).

    feature_names : list of str
        Axis labels, one per plotted feature.

    estimator_name : str, default=None
        Used in the title.

    Attributes
    ----------
    lines_ : list of matplotlib.lines.Line2D
        One feature: the gate curve of each expert.

    surface_ : matplotlib.image.AxesImage
        Two features: the coloured plane.

    contours_ : list of matplotlib.contour.QuadContourSet
        Two features: each expert's ``g_k = 0.5`` line (empty sets for experts
        that never reach one half).

    ax_ : matplotlib.axes.Axes
        The axes drawn on.

    figure_ : matplotlib.figure.Figure
        The figure of ``ax_``.

    See Also
    --------
    ExpertsDisplay : Each expert's prediction along one feature.
    sklearn.inspection.DecisionBoundaryDisplay : The classifier's predicted
        class over two features.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.inspection import GateDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(500, 2))
    >>> y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + rng.normal(0, 0.1, 500)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> display = GateDisplay.from_estimator(moe, X, feature=0)
    >>> len(display.lines_)
    2
    >>> display = GateDisplay.from_estimator(moe, X, feature=(0, 1))
    >>> display.gate_proba.shape
    (100, 100, 2)
    """

    def __init__(self, feature_values, gate_proba, feature_names, *, estimator_name=None):
        self.feature_values = feature_values
        self.gate_proba = gate_proba
        self.feature_names = feature_names
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        *,
        feature=0,
        at=None,
        feature_names=None,
        grid_resolution=None,
        percentiles=(0.0, 1.0),
        colors=None,
        ax=None,
        legend=True,
        line_kw=None,
    ):
        """Compute the gate on a grid over one or two features of ``X``, and draw it.

        Parameters
        ----------
        estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
            A fitted mixture, or a fitted :class:`~sklearn.pipeline.Pipeline`
            ending in one (the grid is in the units of the pipeline's input),
            or a fitted search over either (its ``best_estimator_`` is used).

        X : array-like or DataFrame of shape (n_samples, n_features)
            Data that set the range of the grid and the fixed values of the
            other features (typically the training data).

        feature : int, str, or pair of them, default=0
            The feature to vary (column index, or column name when ``X`` is a
            DataFrame or ``feature_names`` is given); a pair gives the
            two-feature plot.

        at : dict, default=None
            Values of the features that are not varied, ``{feature: value}``;
            features left out are held at their median in ``X`` (the first
            row's value for non-numeric DataFrame columns).

        feature_names : list of str, default=None
            Names of the columns of ``X`` (default: a DataFrame's columns, or
            ``x0, x1, ...``).

        grid_resolution : int, default=None
            Grid points per feature: 200 for one feature, 100 for two.

        percentiles : tuple of float, default=(0.0, 1.0)
            The grid of each feature spans these quantiles of its values in
            ``X``.

        colors : list of color, default=None
            One colour per expert (default ``"C0"``, ``"C1"``, ...).

        ax : matplotlib.axes.Axes, default=None
            Axes to draw on; a new figure when None.

        legend : bool, default=True
            Whether to add a legend.

        line_kw : dict, default=None
            Keywords for :meth:`~matplotlib.axes.Axes.plot` (one feature).

        Returns
        -------
        display : GateDisplay
        """
        _check_matplotlib("GateDisplay.from_estimator")
        transform, model = _unwrap(estimator)
        X = _as_array_or_frame(X)
        features = feature if isinstance(feature, (tuple, list)) else (feature,)
        if len(features) not in (1, 2):
            raise ValueError(f"feature must be one feature or a pair, got {feature!r}.")
        found = [_feature_index(X, f, feature_names) for f in features]
        indices = [index for index, _ in found]
        if len(set(indices)) != len(indices):
            raise ValueError(f"the two features must differ, got {feature!r}.")
        if grid_resolution is None:
            grid_resolution = 200 if len(indices) == 1 else 100
        grids = [_grid(X, index, grid_resolution, percentiles) for index in indices]
        row = _reference_row(X, at, feature_names)
        if len(grids) == 1:
            columns = grids
        else:
            mesh = np.meshgrid(*grids)
            columns = [m.ravel() for m in mesh]
        rows = _grid_rows(row, indices, columns)
        proba = model.gate_proba(rows if transform is None else transform(rows))
        if len(grids) == 2:
            proba = proba.reshape(len(grids[1]), len(grids[0]), -1)
        display = cls(grids, proba, [name for _, name in found],
                      estimator_name=_estimator_name(estimator, model))
        return display.plot(ax=ax, colors=colors, legend=legend, line_kw=line_kw)

    def plot(self, ax=None, *, colors=None, legend=True, line_kw=None):
        """Draw the gate.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Axes to draw on; a new figure when None.

        colors : list of color, default=None
            One colour per expert (default ``"C0"``, ``"C1"``, ...).

        legend : bool, default=True
            Whether to add a legend.

        line_kw : dict, default=None
            Keywords for :meth:`~matplotlib.axes.Axes.plot` (one feature).

        Returns
        -------
        display : GateDisplay
            This object, with the matplotlib artists as attributes.
        """
        plt = _check_matplotlib("GateDisplay.plot")
        from matplotlib.colors import to_rgb
        from matplotlib.patches import Patch

        ax = _get_ax(plt, ax)
        proba = np.asarray(self.gate_proba)
        n_experts = proba.shape[-1]
        colors = _expert_colors(n_experts, colors)
        self.lines_, self.contours_, self.surface_ = [], [], None
        if len(self.feature_values) == 1:
            grid = self.feature_values[0]
            for k in range(n_experts):
                kw = {"lw": 2, "color": colors[k], "label": f"expert {k}"}
                kw.update(line_kw or {})
                self.lines_.append(ax.plot(grid, proba[:, k], **kw)[0])
            ax.set_xlabel(self.feature_names[0])
            ax.set_ylabel("gate probability $g_k(x)$")
            ax.set_ylim(-0.03, 1.03)
            ax.set_xlim(grid[0], grid[-1])
            if legend:
                ax.legend(loc="best", fontsize="small")
        else:
            g0, g1 = self.feature_values
            rgb = np.asarray([to_rgb(c) for c in colors[:n_experts]])
            image = np.clip(proba @ rgb, 0.0, 1.0)
            # lighten towards white so that overlaid data stay readable
            image = 0.35 + 0.65 * image
            self.surface_ = ax.imshow(
                image, origin="lower", aspect="auto", interpolation="bilinear",
                extent=(g0[0], g0[-1], g1[0], g1[-1]),
            )
            for k in range(n_experts):
                self.contours_.append(
                    ax.contour(g0, g1, proba[:, :, k], levels=[0.5], colors=[colors[k]],
                               linewidths=1.5)
                )
            ax.set_xlabel(self.feature_names[0])
            ax.set_ylabel(self.feature_names[1])
            if legend:
                handles = [Patch(facecolor=0.35 + 0.65 * rgb[k], edgecolor=colors[k],
                                 label=f"expert {k}") for k in range(n_experts)]
                ax.legend(handles=handles, loc="best", fontsize="small",
                          title="$g_k = 0.5$ lines", title_fontsize="small")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self


# -- the experts and the predictive band (regressor) ------------------------------


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
        _check_matplotlib("ExpertsDisplay.from_estimator")
        transform, model = _unwrap(estimator)
        if not hasattr(model, "sample_y"):
            raise TypeError(
                "ExpertsDisplay draws a regressor's experts and predictive band; for a "
                "classifier use GateDisplay (and sklearn.inspection.DecisionBoundaryDisplay)."
            )
        X = _as_array_or_frame(X)
        index, name = _feature_index(X, feature, feature_names)
        grid = _grid(X, index, grid_resolution, percentiles)
        rows = _grid_rows(_reference_row(X, at, feature_names), [index], [grid])
        if transform is not None:
            rows = transform(rows)
        experts = model.predict_experts(rows)
        mean, std = model.predict(rows, return_std=True)
        gate = model.gate_proba(rows)
        target_name = "y"
        if experts.ndim == 3:
            if output is None:
                raise ValueError(
                    f"the model has {experts.shape[2]} outputs; choose one with output=."
                )
            experts, mean, std = experts[:, :, output], mean[:, output], std[:, output]
            target_name = f"y[{output}]"
        x_data = y_data = None
        if y is not None:
            y_data = np.asarray(y, dtype=np.float64)
            if y_data.ndim == 2:
                if output is None:
                    raise ValueError("y has several columns; choose one with output=.")
                y_data = y_data[:, output]
            x_data = _column(X, index)
            if len(x_data) > max_points:
                keep = np.random.RandomState(0).choice(len(x_data), max_points, replace=False)
                x_data, y_data = x_data[keep], y_data[keep]
        display = cls(grid, experts, gate, mean, std, name, x_data=x_data, y_data=y_data,
                      target_name=target_name,
                      estimator_name=_estimator_name(estimator, model))
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
        plt = _check_matplotlib("ExpertsDisplay.plot")
        ax = _get_ax(plt, ax)
        grid = np.asarray(self.feature_values)
        experts = np.asarray(self.expert_predictions)
        gate = np.asarray(self.gate_proba)
        n_experts = experts.shape[1]
        colors = _expert_colors(n_experts, colors)
        self.scatter_ = None
        if self.x_data is not None:
            self.scatter_ = ax.scatter(self.x_data, self.y_data, s=5, color="0.55", alpha=0.45,
                                       linewidths=0, label="data", zorder=1)
        self.band_ = ax.fill_between(grid, self.mean - n_std * self.std,
                                     self.mean + n_std * self.std, color="0.2", alpha=0.15,
                                     lw=0, label=f"mean ± {n_std:g} std", zorder=2)
        self.expert_lines_, self.active_lines_ = [], []
        for k in range(n_experts):
            self.expert_lines_.append(
                ax.plot(grid, experts[:, k], ls="--", lw=1, color=colors[k], alpha=0.7,
                        zorder=3)[0]
            )
            if highlight is None:
                active = np.full(len(grid), np.nan)
            else:
                active = np.where(gate[:, k] >= highlight, experts[:, k], np.nan)
            self.active_lines_.append(
                ax.plot(grid, active, lw=3.5, color=colors[k], label=f"expert {k}",
                        zorder=4)[0]
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
            ax.legend(loc="best", fontsize="small")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self


# -- the training curve ---------------------------------------------------------


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
        _check_matplotlib("LogLikelihoodCurveDisplay.from_estimator")
        _, model = _unwrap(estimator)
        curve = np.asarray(model.log_likelihood_curve_, dtype=np.float64)
        solver = getattr(model, "_solver", None)
        if step_name is None:
            step_name = _STEP_NAMES.get(solver, "iteration")
        # EM and L-BFGS curves start with the value before the first iteration
        first = 0 if len(curve) == model.n_iter_ + 1 else 1
        steps = np.arange(first, first + len(curve))
        obj = None
        if objective:
            obj = np.asarray(getattr(model, "objective_curve_", np.full(len(curve), np.nan)))
        display = cls(steps, curve, objective=obj, step_name=step_name,
                      name=name if name is not None else _estimator_name(estimator, model))
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
        plt = _check_matplotlib("LogLikelihoodCurveDisplay.plot")
        ax = _get_ax(plt, ax)
        kw = {"lw": 1.8, "marker": "o" if len(self.steps) <= 40 else None, "ms": 3,
              "label": self.name}
        kw.update(line_kw or {})
        self.line_ = ax.plot(self.steps, self.log_likelihood, **kw)[0]
        self.objective_line_ = None
        if self.objective is not None:
            self.objective_line_ = ax.plot(
                self.steps, self.objective, ls=":", lw=1.5, color=self.line_.get_color(),
                label=f"{self.name}: penalised objective" if self.name else "penalised objective",
            )[0]
        ax.set_xlabel(self.step_name)
        ax.set_ylabel("mean training log-likelihood")
        if self.name is not None or self.objective is not None:
            ax.legend(loc="lower right", fontsize="small")
        ax.grid(alpha=0.3)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
