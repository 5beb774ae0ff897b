"""Fitting and prediction on Dask arrays (the optional extra ``skmoe[dask]``).

Exact distributed EM
--------------------
``fit`` on Dask arrays runs the same EM (``skmoe._solvers._em.run_em``) as
in memory; only the data passes differ. :class:`DaskDesign` keeps the
standardised design matrix as persisted row blocks on the workers and
:class:`DaskPasses` turns every access to the rows of an EM iteration into a
map-reduce over those blocks:

* the E-step: per block, the engine's own ``estep_pass`` (BLAS logits, the
  Numba E-step kernel, the experts' additive sufficient statistics) returns
  the statistics, the gate's gradient and expected log-likelihood and the
  block's log-likelihood; they are tree-summed and only they travel. The
  block's responsibilities stay on its worker (persisted) for the rest of
  the iteration;
* the candidate checks of the softmax steps (the gate's Newton candidate,
  and the logistic experts' candidates): per block ``softmax_objective`` on
  the stored responsibilities, tree-summed;
* the M-step runs on the client, on the summed statistics and on a sample
  of rows held there (the thinned rows that form Newton Hessians).

The sums are the in-memory sums in another order, so from the same starting
parameters the fit equals the in-memory fit up to floating-point round-off.
Initialisation (the start search, ``skmoe._base._search_start``) runs on the
client on the same hashed, de-duplicated samples of at most 20,000 rows as
in memory, drawn by one pass over the blocks; the scaling of ``X`` and ``y``
comes from Dask reductions with the in-memory formulas.

Inside each task Numba and BLAS use one thread: the workers' threads are the
parallelism (give Dask at least as many row blocks as worker threads).

Dask is imported only when a Dask collection is passed; collections are
recognised by the module of their type, so ``import skmoe`` never needs it.
"""

import functools
import time
import warnings

import numpy as np

from . import _kernels, _validation
from ._data import Design, Scaler, chunk_rows, design_matrix, iter_chunks
from ._softmax import softmax_objective, softmax_penalty
from ._threads import numba_threads

#: The install command named in errors.
EXTRA = 'pip install "skmoe[dask]"'
#: Chunk temporaries of the data passes inside worker tasks, in float64
#: values (in memory: 2**19). Dask's nanny starts workers with
#: ``MALLOC_TRIM_THRESHOLD_`` set, which fixes glibc's mmap threshold at
#: 128 KiB: every larger temporary is then mapped and page-faulted afresh.
#: Chunks of about 1,000 rows keep the (rows x n_experts) temporaries below
#: it; measured on 250,000-row blocks (d = 10, K = 8), this removed most of
#: the workers' system time (0.3 s of 0.9 s CPU per 8 E-steps).
TASK_CHUNK_VALUES = 1 << 14


def is_dask_collection(obj):
    """Whether ``obj`` is a Dask collection (array, DataFrame, ...), without importing Dask."""
    module = type(obj).__module__ or ""
    return module == "dask" or module.startswith(("dask.", "dask_expr"))


def is_dask_input(*objs):
    """Whether any of ``objs`` is a Dask collection."""
    return any(is_dask_collection(obj) for obj in objs)


def import_dask():
    """``(dask, dask.array)``, or ``ImportError`` naming the extra to install."""
    try:
        import dask
        import dask.array as da
    except ImportError as exc:
        raise ImportError(
            "skmoe was given a Dask collection, but Dask is not installed. Install "
            f"skmoe's optional Dask support with: {EXTRA}"
        ) from exc
    return dask, da


def check_supported(estimator, solver):
    """``ValueError`` unless the configuration has a distributed EM."""
    kind = _validation.expert_kind(estimator.expert)
    if estimator.top_k is None and kind == "builtin" and solver == "em":
        return
    what = (f"expert={estimator.expert!r}" if isinstance(estimator.expert, str)
            else "an estimator expert")
    what += f", top_k={estimator.top_k!r}, solver={estimator.solver!r}"
    hint = ""
    if solver == "adam" or estimator.top_k is not None:
        hint = (
            " Mini-batch Adam needs no distributed fit: call partial_fit on chunks "
            "(e.g. under dask_ml.wrappers.Incremental)."
        )
    raise ValueError(
        "Fitting on Dask arrays supports solver='em' (or 'auto') with the dense model "
        "(top_k=None) and expert='linear' or 'constant' (regressor), 'logistic' or "
        f"'constant' (classifier); got {what}.{hint} Otherwise pass NumPy arrays."
    )


def _single_threaded(fn):
    """Run a task body with one Numba thread and single-threaded BLAS."""

    # same name and qualname: pickled by reference (the module attribute is the wrapper)
    @functools.wraps(fn)
    def task(*args):
        with numba_threads(1):
            return fn(*args)

    return task


def _add(a, b):
    """Sum of two (nested tuple / list / dict of) arrays or numbers."""
    if isinstance(a, dict):
        return {key: _add(a[key], b[key]) for key in a}
    if isinstance(a, (tuple, list)):
        return type(a)(_add(x, y) for x, y in zip(a, b, strict=True))
    return a + b


def _tree_sum(dask, parts):
    """Pairwise (tree) sum of delayed parts, in block order."""
    parts = list(parts)
    while len(parts) > 1:
        parts = [
            dask.delayed(_add)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


# -- input preparation --------------------------------------------------------


def _as_array(da, obj, name):
    """A Dask array, a NumPy array or None from what the user passed."""
    if obj is None:
        return None
    if is_dask_collection(obj):
        if hasattr(obj, "to_dask_array"):  # DataFrame / Series
            obj = obj.to_dask_array(lengths=True)
        if not isinstance(obj, da.Array):
            raise TypeError(
                f"{name} is a {type(obj).__name__}; skmoe takes Dask arrays or Dask "
                "DataFrames (chunked by rows)."
            )
        return obj
    return np.asarray(obj)


def _feature_names(X):
    """String column names of a (Dask or pandas) DataFrame, else None (as scikit-learn)."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    if names.size and all(isinstance(name, str) for name in names):
        return names
    return None


def _known_rows(arr):
    if isinstance(arr, np.ndarray) or not np.any(np.isnan(arr.shape[0])):
        return arr
    return arr.compute_chunk_sizes()


def prepare_inputs(da, estimator, X, y, sample_weight):
    """Row-aligned float Dask arrays ``X`` (one column block), ``y``, ``sample_weight``.

    Shape and dtype problems raise here, with scikit-learn's wording; values
    (NaN, infinity, negative weights, labels) are checked by the block tasks.
    """
    names = _feature_names(X)
    if names is not None:
        estimator.feature_names_in_ = names
    elif hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None."
        )
    X = _known_rows(_as_array(da, X, "X"))
    y = _known_rows(_as_array(da, y, "y"))
    w = _as_array(da, sample_weight, "sample_weight")
    if w is not None and w.ndim == 0:
        w = None if isinstance(w, np.ndarray) and w == 1 else w
    w = _known_rows(w) if w is not None and w.ndim else w
    ref = next(a for a in (X, y, w) if a is not None and not isinstance(a, np.ndarray))
    rows = ref.chunks[0]
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead. Reshape your data either "
            "using array.reshape(-1, 1) if your data has a single feature or "
            "array.reshape(1, -1) if it contains a single sample."
        )
    if X.shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required."
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"X has dtype {X.dtype}; skmoe needs numeric features (encode strings and "
            "categories first)."
        )
    lengths = [int(a.shape[0]) for a in (X, y) if a is not None]
    if w is not None and w.ndim:
        if w.ndim != 1:
            raise ValueError("Sample weights must be 1D array or scalar")
        if w.shape[0] != X.shape[0]:
            raise ValueError(
                f"sample_weight.shape == ({w.shape[0]},), expected ({X.shape[0]},)!"
            )
    if len(set(lengths)) > 1:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: {lengths}"
        )
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D or 2-D; got {y.ndim} dimensions.")

    def aligned(arr, dtype=None):
        if isinstance(arr, np.ndarray):
            arr = da.from_array(arr, chunks=(rows,) + arr.shape[1:])
        arr = arr.rechunk((rows,) + tuple(-1 for _ in arr.shape[1:]))
        return arr if dtype is None else arr.astype(dtype)

    X = aligned(X, np.float64)
    y = aligned(y)
    if w is not None:
        w = aligned(w, np.float64) if w.ndim else float(w)
    return X, y, w


@_single_threaded
def _validated_block(estimator, Xb, yb, wb):
    """Checked float64 ``(X, y, w)`` of one block, rows of zero weight dropped."""
    from sklearn.utils.validation import _check_sample_weight, _check_y, check_array

    n = Xb.shape[0]
    if n == 0:
        return Xb.astype(np.float64), yb, np.zeros(0)
    Xb = check_array(Xb, dtype=np.float64, input_name="X", estimator=estimator)
    yb = _check_y(yb, estimator=estimator, **estimator._validate_y_kwargs)
    if wb is None or np.ndim(wb) == 0:
        wb = np.full(n, 1.0 if wb is None else float(wb))
    wb = _check_sample_weight(
        wb, Xb, dtype=np.float64, ensure_non_negative=True, allow_all_zero_weights=True
    )
    if not np.all(np.isfinite(wb)):
        raise ValueError("Input sample_weight contains NaN or infinity.")
    keep = wb > 0
    if not keep.all():
        Xb, yb, wb = Xb[keep], yb[keep], wb[keep]
    return np.ascontiguousarray(Xb), yb, np.ascontiguousarray(wb)


@_single_threaded
def _block_summary(estimator, raw, classifier):
    """Rows, total weight, ``max |X|`` (and ``max |y|``, or the labels) of a raw block."""
    from sklearn.utils.multiclass import check_classification_targets

    X, y, w = raw
    n, d = X.shape
    big = np.max(np.abs(X), axis=0) if n else np.zeros(d)
    if classifier:
        if n:
            check_classification_targets(y)
        return n, float(w.sum()), big, np.unique(y)
    T = np.asarray(y, dtype=np.float64).reshape(n, estimator._n_outputs)
    big_t = np.max(np.abs(T), axis=0) if n else np.zeros(T.shape[1])
    return n, float(w.sum()), np.concatenate([big, big_t]), None


def _scaled_columns(raw, classifier):
    X, y, w = raw
    if classifier:
        return X
    return np.hstack([X, np.asarray(y, dtype=np.float64).reshape(X.shape[0], -1)])


@_single_threaded
def _block_mean(raw, classifier, total, big):
    """``w / total @ (Z / big)`` of a block (``Z``: the scaled columns, as ``Scaler``)."""
    Z = _scaled_columns(raw, classifier)
    w = raw[2] / total
    return w @ (Z / big)


@_single_threaded
def _block_var(raw, classifier, total, big, mean):
    """``sum_i w_i / total * ((z_i - mean) / big)^2`` of a block, chunked as ``Scaler``."""
    Z = _scaled_columns(raw, classifier)
    w = raw[2] / total
    var = np.zeros(Z.shape[1])
    for sl in iter_chunks(Z.shape[0], chunk_rows(Z.shape[0], Z.shape[1])):
        diff = (Z[sl] - mean) / big
        var += w[sl] @ (diff * diff)
    return var


@_single_threaded
def _design_block(estimator, raw):
    """``(X1, target, weight)`` of a block: the design matrix the solvers see."""
    X, y, w = raw
    T = estimator._encode_target(y, reset=False)
    return design_matrix(X, estimator._scaler), estimator._scaled_target(T), w


# -- the design on the workers and its passes ---------------------------------


@_single_threaded
def _gram_block(block):
    X1, target, w = block
    gram = np.zeros((X1.shape[1], X1.shape[1]))
    for sl in Design(X1, target, w).chunks(X1.shape[1]):
        Xc = X1[sl]
        gram += (Xc * w[sl, None]).T @ Xc
    return gram


def _standardised_rows(block):
    """``[standardised X, target]`` rows of a block (what the subsample hashes and keeps)."""
    X1, target, _ = block
    T = target.reshape(X1.shape[0], -1).astype(np.float64)
    return np.hstack([X1[:, 1:], T]) + 0.0  # -0.0 -> 0.0


@_single_threaded
def _sample_block(block, threshold, seed):
    """Rows of a block selected by their hash (``_data.canonical_subsample``), with weights.

    The hash sees the standardised values rounded to 1e-6, as the in-memory
    ``_hash_view``; those are the design's own values, so the selection is
    the in-memory one.
    """
    Z = _standardised_rows(block)
    w = block[2]
    if threshold is None:
        return Z, w
    view = np.ascontiguousarray(np.round(Z, 6) + 0.0)
    hashes = np.empty(Z.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrap-around is the point (pure-Python mode)
        _kernels.hash_rows(view.view(np.uint64), np.uint64(seed), hashes)
    keep = hashes <= threshold
    return Z[keep], w[keep]


@_single_threaded
def _estep_block(block, family, params):
    """E-step on a block: ``(resp, (gate grad, gate Q, sum w log p, statistics))``."""
    X1, target, w = block
    design = Design(X1, target, w, TASK_CHUNK_VALUES)
    n_experts = params["gate"].shape[0]
    resp = np.empty((design.n_samples, n_experts))
    log_norm = np.empty(design.n_samples)
    stats = family.new_stats(design.n_columns)
    grad, gate_q = _estep_pass(design, family, params, resp, log_norm, stats)
    sums = {key: value for key, value in stats.items() if isinstance(value, np.ndarray)}
    return resp, (grad, gate_q, float(np.sum(w * log_norm)), sums)


def _estep_pass(*args):
    from ._solvers._em import estep_pass

    return estep_pass(*args)


@_single_threaded
def _softmax_block(block, state, family, k, candidates, need_grad):
    """Data term of ``softmax_objective`` on a block, with its stored responsibilities.

    ``family=None``: the gate (targets the responsibilities); otherwise
    logistic expert ``k`` (weights ``w r_k``, one-hot targets).
    """
    X1, target, w = block
    resp = state[0]
    if family is None:
        X, v, t = X1, w, resp
    else:
        X, v = family.inputs(X1), w * resp[:, k]
        t = np.zeros((X1.shape[0], family.n_classes))
        t[np.arange(X1.shape[0]), target] = 1.0
    return softmax_objective(X, v, t, candidates, 0.0, need_grad, TASK_CHUNK_VALUES)


class DaskDesign:
    """The standardised training data as persisted row blocks on the workers.

    Stands in for :class:`skmoe._data.Design` in ``run_em`` and
    ``GateMStep`` (``n_samples``, ``n_columns``, ``total_weight``,
    ``gram``, ``passes``) and for ``(X, T, w)`` in the start search
    (``shape`` and :meth:`canonical_design`).

    Parameters
    ----------
    dask : module
    estimator : BaseMixtureOfExperts
        With its scalers (and ``classes_``) set.
    blocks : list of dask.delayed.Delayed
        Persisted ``(X1, target, weight)`` per block, zero-weight rows dropped.
    n_rows : list of int
    total_weight : float
    """

    def __init__(self, dask, estimator, blocks, n_rows, total_weight):
        self.dask = dask
        self.blocks = blocks
        self.n_rows = list(n_rows)
        self.n_samples = int(sum(n_rows))
        self.n_features = estimator.n_features_in_
        self.n_columns = self.n_features + 1
        self.shape = (self.n_samples, self.n_features)
        self.total_weight = float(total_weight)
        self._classifier = _is_classifier(estimator)
        self._estimator = estimator
        self._gram = None

    @classmethod
    def from_arrays(cls, dask, estimator, X, y, w, warm):
        """Validate, scale (unless ``warm``) and persist the blocks of ``(X, y, w)``.

        Sets the estimator's scalers (and ``classes_`` or the target shape)
        as the in-memory ``fit`` does.
        """
        from sklearn.base import is_classifier

        delayed = dask.delayed
        classifier = is_classifier(estimator)
        if not warm and not classifier:
            estimator._y_ndim = y.ndim
            estimator._n_outputs = 1 if y.ndim == 1 else int(y.shape[1])
        xs = X.to_delayed().ravel()
        ys = y.to_delayed().ravel()
        ws = [None] * len(xs) if w is None or np.ndim(w) == 0 else w.to_delayed().ravel()
        if w is not None and np.ndim(w) == 0:
            ws = [w] * len(xs)
        raw = [delayed(_validated_block)(estimator, xb, yb, wb)
               for xb, yb, wb in zip(xs, ys, ws, strict=True)]
        raw = list(dask.persist(*raw))
        summaries = dask.compute(*[delayed(_block_summary)(estimator, r, classifier)
                                   for r in raw])
        keep = [i for i, s in enumerate(summaries) if s[0] > 0]
        n_rows = [summaries[i][0] for i in keep]
        total = float(sum(s[1] for s in summaries))
        if not n_rows:
            raise ValueError("Sample weights must contain at least one non-zero number.")
        if not np.isfinite(total) or total < _validation.MIN_TOTAL_WEIGHT:
            raise ValueError(
                f"sample_weight sums to {total!r}, outside the range skmoe can fit "
                f"([{_validation.MIN_TOTAL_WEIGHT:g}, inf)): the per-sample objective divides "
                "by it. Rescale sample_weight (e.g. divide by its mean; this changes how "
                "strongly the penalties act)."
            )
        weighted = w is not None
        _validation.check_n_samples(sum(n_rows), estimator.n_experts, weighted=weighted)
        raw = [raw[i] for i in keep]
        if classifier and not warm:
            classes = np.unique(np.concatenate([summaries[i][3] for i in keep]))
            if classes.shape[0] < 2:
                raise ValueError(
                    "This solver needs samples of at least 2 classes in the data, but the "
                    f"data contains only one class: {np.asarray(classes[0]).tolist()!r}"
                )
            estimator.classes_ = classes
        if not warm:
            big = np.max([summaries[i][2] for i in keep], axis=0)
            big = np.where(big > 0, big, 1.0)
            mean = _sum(dask, [delayed(_block_mean)(r, classifier, total, big) for r in raw])
            mean = mean * big
            var = _sum(dask, [delayed(_block_var)(r, classifier, total, big, mean) for r in raw])
            d = X.shape[1]
            estimator._scaler = Scaler.from_moments(mean[:d], var[:d], big[:d])
            if not classifier:
                estimator._set_target_scaler(Scaler.from_moments(mean[d:], var[d:], big[d:]))
        blocks = list(dask.persist(*[delayed(_design_block)(estimator, r) for r in raw]))
        del raw
        return cls(dask, estimator, blocks, n_rows, total)

    def gram(self):
        """``X1^T diag(w) X1``, tree-summed over the blocks, cached."""
        if self._gram is None:
            delayed = self.dask.delayed
            gram = _sum(self.dask, [delayed(_gram_block)(b) for b in self.blocks])
            self._gram = 0.5 * (gram + gram.T)
        return self._gram

    def passes(self, n_experts):
        """The data passes of an EM run (:class:`DaskPasses`)."""
        return DaskPasses(self)

    def canonical_subsample(self, max_rows, seed):
        """Standardised ``[X, target]`` rows and weights, as ``_data.canonical_subsample``."""
        n = self.n_samples
        threshold = None
        if n > max_rows:
            threshold = np.uint64(min(max_rows / n, 1.0) * float(2**64 - 1))
        delayed = self.dask.delayed
        parts = self.dask.compute(*[delayed(_sample_block)(b, threshold, seed)
                                    for b in self.blocks])
        selected = np.vstack([p[0] for p in parts])
        sel_weight = np.concatenate([p[1] for p in parts])
        rows, inverse = np.unique(selected, axis=0, return_inverse=True)
        row_weight = np.bincount(inverse.ravel(), weights=sel_weight, minlength=rows.shape[0])
        nonzero = row_weight > 0
        return np.ascontiguousarray(rows[nonzero]), row_weight[nonzero]

    def canonical_design(self, max_rows, seed, min_rows):
        """In-memory :class:`~skmoe._data.Design` on a canonical subsample (client side).

        The same rows, order and weights as the in-memory
        ``_canonical_design`` with the same scalers: the hash and the rows
        kept are the standardised values, which the in-memory path computes
        by the same formula.
        """
        rows, rw = self.canonical_subsample(max_rows, seed)
        if rows.shape[0] < min_rows:
            rows, rw = self.canonical_subsample(np.inf, seed)
        d = self.n_features
        X1 = np.empty((rows.shape[0], d + 1))
        X1[:, 0] = 1.0
        X1[:, 1:] = rows[:, :d]
        if self._classifier:
            target = self._estimator._scaled_target(rows[:, d:])
        else:
            target = np.ascontiguousarray(rows[:, d:])
        return Design(X1, target, rw)


def _is_classifier(estimator):
    from sklearn.base import is_classifier

    return is_classifier(estimator)


def _sum(dask, parts):
    return dask.compute(_tree_sum(dask, parts))[0]


class DaskPasses:
    """``RowPasses`` (``skmoe._solvers._em``) as map-reduces over the blocks of a ``DaskDesign``.

    The responsibilities of the last E-step stay on the workers, persisted
    next to their blocks, for the candidate checks of the same iteration.
    """

    def __init__(self, design):
        self.design = design
        self._states = None

    def estep(self, family, params, stats):
        """E-step over all blocks; adds into ``stats``; ``(grad, gate_q, sum w log p)``."""
        dask = self.design.dask
        delayed = dask.delayed
        self._states = None  # release the last iteration's responsibilities first
        states = [delayed(_estep_block)(b, family, params) for b in self.design.blocks]
        total = _tree_sum(dask, [s[1] for s in states])
        *states, total = dask.persist(*states, total)
        grad, gate_q, ll_sum, sums = dask.compute(total)[0]
        for key, value in sums.items():
            stats[key] += value
        self._states = states
        return grad, gate_q, ll_sum

    def _evaluator(self, family, k, alpha):
        dask = self.design.dask
        delayed = dask.delayed

        def evaluate(candidates, need_grad):
            parts = [
                delayed(_softmax_block)(b, s, family, k, candidates, need_grad)
                for b, s in zip(self.design.blocks, self._states, strict=True)
            ]
            q, grads = _sum(dask, parts)
            q = q - np.array([softmax_penalty(c, alpha) for c in candidates])
            return q, grads

        return evaluate

    def gate_objective(self, alpha):
        """``evaluate(candidates, need_grad)`` of the gate's softmax regression."""
        return self._evaluator(None, None, alpha)

    def expert_objective(self, family, k, alpha):
        """``evaluate(candidates, need_grad)`` of logistic expert ``k``'s regression."""
        return self._evaluator(family, k, alpha)


def fit(estimator, X, y, sample_weight):
    """``estimator.fit`` on Dask collections: exact distributed EM (see module doc).

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
    X : dask array or DataFrame of shape (n_samples, n_features)
        Chunked by rows (column chunks are merged).
    y : dask array of shape (n_samples,) or (n_samples, n_outputs)
        Or a NumPy array; re-chunked to the row blocks of ``X``.
    sample_weight : dask array of shape (n_samples,), NumPy array, float or None

    Returns
    -------
    estimator
        Fitted, with the same (NumPy) attributes as after an in-memory fit.

    Examples
    --------
    Any Dask scheduler works; here the synchronous one (under a
    ``distributed.Client`` the blocks are processed on its workers).

    >>> import dask
    >>> import dask.array as da
    >>> import numpy as np
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(30_000, 1))
    >>> y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + rng.normal(0, 0.1, 30_000)
    >>> dX, dy = da.from_array(X, chunks=(10_000, 1)), da.from_array(y, chunks=10_000)
    >>> with dask.config.set(scheduler="sync"):
    ...     moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(dX, dy)
    ...     mean = moe.predict(dX)
    ...     first = mean[:3].compute()
    >>> np.round(np.sort(moe.expert_coef_.ravel()), 1)
    array([-2.,  3.])
    >>> type(mean).__name__, mean.shape, mean.chunks
    ('Array', (30000,), ((10000, 10000, 10000),))
    >>> bool(np.allclose(first, moe.predict(X[:3])))
    True
    """
    from ._base import _GATE_STEPS_FULL, _SUBSAMPLE_ROWS, _Structure
    from ._gate import GateMStep

    dask, da = import_dask()
    from sklearn.utils import check_random_state

    t_start = time.perf_counter()
    warm, previous_n_features = estimator._start_fit()
    estimator._check_fit_params()
    solver = _validation.resolve_solver(estimator)
    check_supported(estimator, solver)
    X, y, w = prepare_inputs(da, estimator, X, y, sample_weight)
    estimator._check_warm_features(warm, X.shape[1], previous_n_features)
    estimator._solver = solver
    estimator._structure = _Structure.of(estimator)
    estimator.n_features_in_ = int(X.shape[1])
    rng = check_random_state(estimator.random_state)
    with numba_threads(estimator.n_jobs):
        t0 = time.perf_counter()
        design = DaskDesign.from_arrays(dask, estimator, X, y, w, warm)
        family = estimator._make_family()
        hessian = design.canonical_design(_SUBSAMPLE_ROWS, 0, 2 * estimator.n_experts)
        gate = GateMStep(design, estimator.gate_alpha, estimator.n_experts, hessian)
        timings = {"init": time.perf_counter() - t0}
        result, timings = estimator._restarts(
            rng, (design, None, None), design, family, gate, False, _GATE_STEPS_FULL, warm,
            timings,
        )
    estimator._store_fit(result, timings, design.total_weight, t_start, stacklevel=6)
    return estimator


# -- prediction ---------------------------------------------------------------


def _apply_block(estimator, method, kwargs, index, y_1d, Xb, yb=None):
    args = (Xb,) if yb is None else (Xb, yb[:, 0] if y_1d else yb)
    with warnings.catch_warnings():
        # blocks are plain arrays; the names were checked on the collection
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        with numba_threads(1):
            out = getattr(estimator, method)(*args, **kwargs)
    return out if index is None else out[index]


def map_rows(estimator, method, X, y=None, **kwargs):
    """``estimator.method(X[, y], **kwargs)`` block by block, as Dask array(s).

    The output's trailing shape and dtype come from the method on one row
    of zeros; each block runs the in-memory method (with its validation) on
    a worker with one thread.
    """
    import copy

    from sklearn.utils.validation import check_is_fitted

    _, da = import_dask()
    check_is_fitted(estimator)
    names, fitted = _feature_names(X), getattr(estimator, "feature_names_in_", None)
    if names is not None and fitted is not None and list(names) != list(fitted):
        raise ValueError(
            "The feature names should match those that were passed during fit: "
            f"got {list(names)}, expected {list(fitted)}."
        )
    X = _known_rows(_as_array(da, X, "X"))
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead.")
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    if isinstance(X, np.ndarray):
        X = da.from_array(X)
    X = X.rechunk({1: -1})
    local = copy.copy(estimator)
    local.n_jobs = 1
    operands, y_1d, example = [X], False, [np.zeros((1, X.shape[1]))]
    if y is not None:
        y = _known_rows(_as_array(da, y, "y"))
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                "Found input variables with inconsistent numbers of samples: "
                f"{[int(X.shape[0]), int(y.shape[0])]}"
            )
        y_1d = y.ndim == 1
        if isinstance(y, np.ndarray):
            y = da.from_array(y)
        y = (y[:, None] if y_1d else y).rechunk((X.chunks[0], -1))
        operands.append(y)
        if hasattr(estimator, "classes_"):
            example.append(np.asarray(estimator.classes_[:1]))
        else:
            example.append(np.zeros((1,) + tuple(y.shape[1:])) if not y_1d else np.zeros(1))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        sample = getattr(estimator, method)(*example, **kwargs)
    samples = sample if isinstance(sample, tuple) else (sample,)
    outputs = []
    for index, part in enumerate(samples):
        tail = part.shape[1:]
        chunks = (X.chunks[0],) + tuple((s,) for s in tail)
        extra = {}
        if len(tail) == 0:
            extra["drop_axis"] = 1
        elif len(tail) == 2:
            extra["new_axis"] = 2
        outputs.append(da.map_blocks(
            _apply_block, local, method, kwargs,
            index if isinstance(sample, tuple) else None, y_1d, *operands,
            chunks=chunks, dtype=part.dtype, meta=np.empty((0,) * part.ndim, part.dtype),
            **extra,
        ))
    return tuple(outputs) if isinstance(sample, tuple) else outputs[0]
