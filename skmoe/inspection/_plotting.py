"""What the Displays of :mod:`skmoe.inspection` share.

* drawing: matplotlib, imported only when something is drawn (with an error
  naming the plot extra when it is missing), the axes to draw on, the
  experts' colours, the legend style, and the ``ax_``/``figure_`` attributes;
* the estimator: a fitted mixture of experts, possibly at the end of a
  pipeline or inside a search;
* the grid: the values of one or two features over the range of ``X``, the
  other features held fixed, as rows of the model's input.
"""

import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

_MATPLOTLIB_MESSAGE = (
    "{} requires matplotlib, which is not installed. Install it with the plot "
    'extra: pip install "skmoe[plot]" (or: pip install matplotlib).'
)


# -- drawing --------------------------------------------------------------------


def check_matplotlib(caller):
    """Import ``matplotlib.pyplot``, or raise an ImportError naming the extra."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(_MATPLOTLIB_MESSAGE.format(caller)) from exc
    return plt


def get_axes(caller, ax=None):
    """The axes to draw on: ``ax``, or those of a new figure (matplotlib checked)."""
    plt = check_matplotlib(caller)
    if ax is None:
        _, ax = plt.subplots()
    return ax


def finish_plot(display, ax):
    """Store ``ax`` and its figure on ``display`` as ``ax_`` and ``figure_``; return it."""
    display.ax_ = ax
    display.figure_ = ax.figure
    return display


def expert_colors(n_experts, colors=None):
    """One colour per expert: ``colors``, or matplotlib's cycle ``"C0"``, ``"C1"``, ..."""
    if colors is None:
        return [f"C{k % 10}" for k in range(n_experts)]
    colors = list(colors)
    if len(colors) < n_experts:
        raise ValueError(f"colors has {len(colors)} entries for {n_experts} experts.")
    return colors


def line_keywords(defaults, line_kw):
    """The keywords of a line: the Display's ``defaults``, updated by the user's ``line_kw``."""
    return {**defaults, **(line_kw or {})}


def add_legend(ax, loc="best", **kwargs):
    """A legend in the style of every Display (small type)."""
    return ax.legend(loc=loc, fontsize="small", **kwargs)


# -- the estimator: a mixture of experts, possibly at the end of a pipeline ------


def unwrap(estimator):
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


def estimator_name(estimator, model):
    """The class name of what the user passed (the mixture's, when passed directly)."""
    return type(model).__name__ if estimator is model else type(estimator).__name__


# -- the grid over one or two features of X ----------------------------------------


def _is_frame(X):
    return hasattr(X, "iloc") and hasattr(X, "columns")


def as_array_or_frame(X):
    """``X`` as given when it is a DataFrame, else as a 2-D array."""
    if _is_frame(X):
        return X
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got an array of shape {X.shape}.")
    return X


def feature_index(X, feature, feature_names):
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


def column(X, index):
    """Column ``index`` of ``X`` (array or DataFrame) as a float array."""
    col = X.iloc[:, index] if _is_frame(X) else X[:, index]
    return np.asarray(col, dtype=np.float64)


def feature_grid(X, index, grid_resolution, percentiles):
    """``grid_resolution`` values of feature ``index`` between the ``percentiles`` of X."""
    low, high = percentiles
    if not 0 <= low < high <= 1:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 1, got {percentiles}.")
    values = column(X, index)
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
        index, _ = feature_index(X, key, feature_names)
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


def model_rows(X, indices, columns, transform, *, at=None, feature_names=None):
    """The model's input on a grid: the features ``indices`` take the ``columns`` values.

    The other features are held at their medians in ``X`` (or at the values
    in ``at``); ``transform`` (the steps of a pipeline before the mixture, or
    None) maps the rows to the mixture's input.
    """
    rows = _grid_rows(_reference_row(X, at, feature_names), indices, columns)
    return rows if transform is None else transform(rows)


# -- the regressor's predictive distribution ----------------------------------------


def check_predictive(model, caller):
    """Raise a TypeError unless ``model`` gives a predictive distribution (a regressor)."""
    if not hasattr(model, "predict_cdf"):
        raise TypeError(
            f"{caller} draws a regressor's predictive distribution (predict_cdf, "
            f"predict_interval); got {type(model).__name__}. For a classifier use "
            "GateDisplay (and sklearn.inspection.DecisionBoundaryDisplay)."
        )


def output_index(model, output):
    """The output to draw: None for a one-output model, else a validated index (required)."""
    variances = np.asarray(model.expert_var_)
    if variances.ndim == 1:
        if output not in (None, 0):
            raise ValueError(f"the model has one output; got output={output!r}.")
        return None
    n_outputs = variances.shape[1]
    if output is None:
        raise ValueError(f"the model has {n_outputs} outputs; choose one with output=.")
    if not isinstance(output, numbers.Integral) or not 0 <= output < n_outputs:
        raise ValueError(f"output={output!r} is not an output index of a model with "
                         f"{n_outputs} outputs.")
    return int(output)


def select_output(values, output):
    """Output ``output`` of a prediction with outputs on axis 1 (``values`` when None)."""
    return values if output is None else values[:, output]
