"""The data layer of a fit: validated training rows, in memory or on a Dask cluster.

:func:`training_data` is the one factory: it validates ``(X, y,
sample_weight)`` with scikit-learn's helpers and wording, encodes ``y``
with the target codec, drops rows of zero weight, and returns a
:class:`MemoryTrainingData` or, for Dask collections, a
``skmoe._dask.DaskTrainingData``. Both have the same methods, so the fit
after it (``skmoe._engine``) is one code path:

* ``fit_scaling(target)``: the scaler of ``X`` (and the codec's scaling of
  ``y``) from the training rows;
* ``design(x_scaler, target)``: the standardised design the solvers run on
  (``skmoe._passes.Design`` or ``skmoe._dask.DaskDesign``);
* ``canonical_design(x_scaler, target, max_rows, seed, min_rows)``: an
  in-memory design on a hashed, order-free, de-duplicated subsample;
* ``hessian_design(...)``: the rows that form Newton Hessians (None: the
  design's own rows);
* ``small`` and ``gate_steps``.
"""

import numpy as np
from sklearn.utils.validation import validate_data

from . import _validation
from ._dask import DaskTrainingData, is_dask_input
from ._data import Scaler, canonical_subsample, design_matrix
from ._passes import Design
from ._start import GATE_STEPS_FULL, GATE_STEPS_SUBSAMPLE, SUBSAMPLE_ROWS


def training_data(estimator, X, y, sample_weight, target, *, reset_features, reset_target,
                  check_n_samples=True, classes=None, incremental=False):
    """Validated training data of ``estimator`` (in memory, or on Dask for Dask input).

    ``reset_features``: learn ``n_features_in_`` (and the feature names), as
    ``validate_data(reset=True)``; ``reset_target``: learn the codec (the
    shape of ``y``, the classes) instead of checking ``y`` against it.
    ``incremental``: ``partial_fit``'s encoding of ``y`` (``classes``).
    """
    if not incremental and is_dask_input(X, y, sample_weight):
        return DaskTrainingData.from_input(estimator, X, y, sample_weight, target,
                                           reset_target)
    X, y = validate_data(estimator, X, y, reset=reset_features, dtype=np.float64,
                         **target.validate_kwargs)
    if incremental:
        T = target.encode_incremental(y, classes, reset_target, estimator)
    else:
        T = target.encode(y, reset=reset_target, name=type(estimator).__name__)
    w = _validation.check_sample_weight(sample_weight, X)
    positive = w > 0
    if not positive.all():
        X, T, w = X[positive], T[positive], w[positive]
    if check_n_samples:
        _validation.check_n_samples(X.shape[0], estimator.n_experts,
                                    weighted=not positive.all())
    # partial_fit's epoch visits the rows as given (its shuffle follows their order)
    return MemoryTrainingData(np.ascontiguousarray(X), np.ascontiguousarray(T), w,
                              canonical=incremental)


def hash_view(x_scaler, target, n_features):
    """What the subsample hash sees of raw ``[X, T]`` rows.

    Standardised values rounded to 1e-6 of a standard deviation: the
    selection is then the same for rescaled data, and round-off in the
    scaling (e.g. from another row order) almost never changes it.
    """

    def view(block):
        out = np.empty_like(block)
        x_scaler.transform(block[:, :n_features], out=out[:, :n_features])
        out[:, n_features:] = target.hash_view(block[:, n_features:])
        return np.round(out, 6) + 0.0

    return view


class MemoryTrainingData:
    """Validated training rows in memory: ``X``, raw target columns ``T``, weights ``w``.

    Up to ``SUBSAMPLE_ROWS`` rows (``small``), the rows are replaced by the
    canonical de-duplicated ones (identical rows merged, weights added,
    sorted), so that row order and repeated rows versus integer weights give
    bit-identical fits. ``canonical=True`` keeps the rows as they are (they
    already are canonical, or ``partial_fit`` visits them in the given
    order); ``small`` overrides the size rule (a subsample searched as small
    data).
    """

    distributed = False

    def __init__(self, X, T, w, canonical=False, small=None):
        n, self.n_features = X.shape
        self.small = n <= SUBSAMPLE_ROWS if small is None else small
        if self.small and not canonical:
            rows, w = canonical_subsample([X, T], w, np.inf, 0)
            X, T = rows[:, : self.n_features], rows[:, self.n_features :]
        self.X, self.T, self.w = X, T, w
        self.gate_steps = GATE_STEPS_SUBSAMPLE if self.small else GATE_STEPS_FULL

    @property
    def total_weight(self):
        return float(self.w.sum())

    def fit_scaling(self, target):
        """The scaler of ``X``; sets the codec's scaling of ``T``."""
        target.fit_scaling(self.T, self.w)
        return Scaler(self.X, self.w)

    def design(self, x_scaler, target):
        return Design(design_matrix(self.X, x_scaler), target.scaled(self.T), self.w)

    def canonical_rows(self, x_scaler, target, max_rows, seed):
        """``MemoryTrainingData`` of a hashed canonical subsample of about ``max_rows`` rows."""
        rows, rw = canonical_subsample([self.X, self.T], self.w, max_rows, seed,
                                       hash_view(x_scaler, target, self.n_features))
        d = self.n_features
        return MemoryTrainingData(rows[:, :d], rows[:, d:], rw, canonical=True)

    def canonical_design(self, x_scaler, target, max_rows, seed, min_rows):
        """Design on a canonical (order-free, de-duplicated) subsample."""
        sub = self.canonical_rows(x_scaler, target, max_rows, seed)
        if sub.X.shape[0] < min_rows:
            rows, rw = canonical_subsample([self.X, self.T], self.w, np.inf, seed)
            d = self.n_features
            sub = MemoryTrainingData(rows[:, :d], rows[:, d:], rw, canonical=True)
        return sub.design(x_scaler, target)

    def hessian_design(self, x_scaler, target, min_rows):
        """Rows for the gate's Newton Hessian: the design's own (None) when small."""
        if self.small:
            return None
        return self.canonical_design(x_scaler, target, SUBSAMPLE_ROWS, 0, min_rows)
