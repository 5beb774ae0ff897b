"""The gate probabilities along one or two features: :class:`GateDisplay`."""

import numpy as np

from ._plotting import (
    add_legend,
    as_array_or_frame,
    check_matplotlib,
    estimator_name,
    expert_colors,
    feature_grid,
    feature_index,
    finish_plot,
    get_axes,
    line_keywords,
    model_rows,
    unwrap,
)


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
        check_matplotlib("GateDisplay.from_estimator")
        transform, model = unwrap(estimator)
        X = as_array_or_frame(X)
        indices, names = _features(X, feature, feature_names)
        if grid_resolution is None:
            grid_resolution = 200 if len(indices) == 1 else 100
        grids = [feature_grid(X, index, grid_resolution, percentiles) for index in indices]
        # two features: the grid's points in numpy.meshgrid order (rows follow the second)
        columns = grids if len(grids) == 1 else [m.ravel() for m in np.meshgrid(*grids)]
        rows = model_rows(X, indices, columns, transform, at=at, feature_names=feature_names)
        proba = model.gate_proba(rows)
        if len(grids) == 2:
            proba = proba.reshape(len(grids[1]), len(grids[0]), -1)
        display = cls(grids, proba, names, estimator_name=estimator_name(estimator, model))
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
        ax = get_axes("GateDisplay.plot", ax)
        proba = np.asarray(self.gate_proba)
        colors = expert_colors(proba.shape[-1], colors)
        self.lines_, self.contours_, self.surface_ = [], [], None
        if len(self.feature_values) == 1:
            self._plot_curves(ax, proba, colors, legend, line_kw)
        else:
            self._plot_regions(ax, proba, colors, legend)
        return finish_plot(self, ax)

    def _plot_curves(self, ax, proba, colors, legend, line_kw):
        """One feature: the curve ``g_k(x)`` of each expert."""
        grid = self.feature_values[0]
        for k in range(proba.shape[-1]):
            kw = line_keywords({"lw": 2, "color": colors[k], "label": f"expert {k}"}, line_kw)
            self.lines_.append(ax.plot(grid, proba[:, k], **kw)[0])
        ax.set_xlabel(self.feature_names[0])
        ax.set_ylabel("gate probability $g_k(x)$")
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlim(grid[0], grid[-1])
        if legend:
            add_legend(ax)

    def _plot_regions(self, ax, proba, colors, legend):
        """Two features: the plane in the gate-weighted colours, and the ``g_k = 0.5`` lines."""
        from matplotlib.colors import to_rgb
        from matplotlib.patches import Patch

        g0, g1 = self.feature_values
        n_experts = proba.shape[-1]
        rgb = np.asarray([to_rgb(c) for c in colors[:n_experts]])
        image = _lighten(np.clip(proba @ rgb, 0.0, 1.0))
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
            handles = [Patch(facecolor=_lighten(rgb[k]), edgecolor=colors[k], label=f"expert {k}")
                       for k in range(n_experts)]
            add_legend(ax, handles=handles, title="$g_k = 0.5$ lines", title_fontsize="small")


def _features(X, feature, feature_names):
    """Column indices and names of the one or two (distinct) features to vary."""
    features = feature if isinstance(feature, (tuple, list)) else (feature,)
    if len(features) not in (1, 2):
        raise ValueError(f"feature must be one feature or a pair, got {feature!r}.")
    found = [feature_index(X, f, feature_names) for f in features]
    indices = [index for index, _ in found]
    if len(set(indices)) != len(indices):
        raise ValueError(f"the two features must differ, got {feature!r}.")
    return indices, [name for _, name in found]


def _lighten(rgb):
    """Colours moved towards white, so that data drawn over the regions stay readable."""
    return 0.35 + 0.65 * rgb
