"""The training data of a distributed fit as persisted row blocks, and its passes.

Exact distributed EM
--------------------
``fit`` on Dask arrays runs the same engine and the same EM as in memory;
only the data layer differs. :class:`DaskTrainingData` validates the blocks
where they are (scikit-learn's checks and wording, per block), computes the
scaling of ``X`` and ``y`` by Dask reductions with the in-memory formulas,
and persists the standardised design blocks as a :class:`DaskDesign`, whose
:class:`DaskPasses` turn every access to the rows of an EM iteration into a
map-reduce over the blocks:

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
The start search runs on the client on the same hashed, de-duplicated
samples of at most 20,000 rows as in memory, drawn by one pass over the
blocks. The expert family and the parameters enter each pass's graph once
(:func:`shared`), not once per block task.

Inside each task Numba and BLAS use one thread: the workers' threads are the
parallelism (give Dask at least as many row blocks as worker threads).
"""

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, _check_y, check_array

from .. import _kernels, _validation
from .._data import Scaler, chunk_rows, design_matrix, iter_chunks
from .._passes import Design, estep_pass
from .._softmax import softmax_objective, softmax_penalty
from .._start import GATE_STEPS_FULL, SUBSAMPLE_ROWS
from ._collections import import_dask, prepare_inputs, single_threaded, tree_sum, tree_total

#: Chunk temporaries of the data passes inside worker tasks, in float64
#: values (in memory: 2**19). Dask's nanny starts workers with
#: ``MALLOC_TRIM_THRESHOLD_`` set, which fixes glibc's mmap threshold at
#: 128 KiB: every larger temporary is then mapped and page-faulted afresh;
#: chunks of about 1,000 rows keep the (rows x n_experts) temporaries below
#: it (measured: ``benchmarks/README.md``, "Measurements behind constants").
TASK_CHUNK_VALUES = 1 << 14


def shared(dask, obj):
    """``obj`` as one graph key (a ``Delayed``) that many tasks can depend on."""
    return dask.delayed(obj, pure=True, traverse=False)


@single_threaded
def _validated_block(name, y_kwargs, Xb, yb, wb):
    """Checked float64 ``(X, y, w)`` of one block, rows of zero weight dropped.

    ``name``: the estimator's class name, for scikit-learn's messages.
    """
    n = Xb.shape[0]
    if n == 0:
        return Xb.astype(np.float64), yb, np.zeros(0)
    Xb = check_array(Xb, dtype=np.float64, input_name="X", estimator=name)
    yb = _check_y(yb, estimator=name, **y_kwargs)
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


@single_threaded
def _block_summary(raw, classifier, n_outputs):
    """Rows, total weight, ``max |X|`` (and ``max |y|``, or the labels) of a raw block."""
    X, y, w = raw
    n, d = X.shape
    big = np.max(np.abs(X), axis=0) if n else np.zeros(d)
    if classifier:
        if n:
            check_classification_targets(y)
        return n, float(w.sum()), big, np.unique(y)
    T = np.asarray(y, dtype=np.float64).reshape(n, n_outputs)
    big_t = np.max(np.abs(T), axis=0) if n else np.zeros(T.shape[1])
    return n, float(w.sum()), np.concatenate([big, big_t]), None


def _scaled_columns(raw, classifier):
    X, y, w = raw
    if classifier:
        return X
    return np.hstack([X, np.asarray(y, dtype=np.float64).reshape(X.shape[0], -1)])


@single_threaded
def _block_mean(raw, classifier, total, big):
    """``w / total @ (Z / big)`` of a block (``Z``: the scaled columns, as ``Scaler``)."""
    Z = _scaled_columns(raw, classifier)
    w = raw[2] / total
    return w @ (Z / big)


@single_threaded
def _block_var(raw, classifier, total, big, mean):
    """``sum_i w_i / total * ((z_i - mean) / big)^2`` of a block, chunked as ``Scaler``."""
    Z = _scaled_columns(raw, classifier)
    w = raw[2] / total
    var = np.zeros(Z.shape[1])
    for sl in iter_chunks(Z.shape[0], chunk_rows(Z.shape[0], Z.shape[1])):
        diff = (Z[sl] - mean) / big
        var += w[sl] @ (diff * diff)
    return var


@single_threaded
def _design_block(raw, x_scaler, target):
    """``(X1, target, weight)`` of a block: the design matrix the solvers see."""
    X, y, w = raw
    T = target.encode(y, reset=False)
    return design_matrix(X, x_scaler), target.scaled(T), w


# -- the design on the workers and its passes ---------------------------------


@single_threaded
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


@single_threaded
def _sample_block(block, threshold, seed):
    """Rows of a block selected by their hash (``_data.canonical_subsample``), with weights.

    The hash sees the standardised values rounded to 1e-6, as the in-memory
    ``skmoe._inputs.hash_view``; those are the design's own values, so the
    selection is the in-memory one.
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


@single_threaded
def _estep_block(block, family, params):
    """E-step on a block: ``(resp, (gate grad, gate Q, sum w log p, statistics))``."""
    X1, target, w = block
    design = Design(X1, target, w, TASK_CHUNK_VALUES)
    n_experts = params["gate"].shape[0]
    resp = np.empty((design.n_samples, n_experts))
    log_norm = np.empty(design.n_samples)
    stats = family.new_stats(design.n_columns)
    grad, gate_q = estep_pass(design, family, params, resp, log_norm, stats)
    sums = {key: value for key, value in stats.items() if isinstance(value, np.ndarray)}
    return resp, (grad, gate_q, float(np.sum(w * log_norm)), sums)


@single_threaded
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

    Stands in for :class:`skmoe._passes.Design` in ``run_em`` and
    ``GateMStep`` (``n_samples``, ``n_columns``, ``total_weight``,
    ``gram``, ``passes``) and for ``(X, T, w)`` in the start search
    (``shape`` and :meth:`canonical_design`).

    Parameters
    ----------
    dask : module
    blocks : list of dask.delayed.Delayed
        Persisted ``(X1, target, weight)`` per block, zero-weight rows dropped.
    n_rows : list of int
    total_weight : float
    n_features : int
    target : target codec (``skmoe._targets``), fitted
    """

    def __init__(self, dask, blocks, n_rows, total_weight, n_features, target):
        self.dask = dask
        self.blocks = blocks
        self.n_rows = list(n_rows)
        self.n_samples = int(sum(n_rows))
        self.n_features = n_features
        self.n_columns = self.n_features + 1
        self.shape = (self.n_samples, self.n_features)
        self.total_weight = float(total_weight)
        self._target = target
        self._gram = None

    def gram(self):
        """``X1^T diag(w) X1``, tree-summed over the blocks, cached."""
        if self._gram is None:
            delayed = self.dask.delayed
            gram = tree_total(self.dask, [delayed(_gram_block)(b) for b in self.blocks])
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
        ``MemoryTrainingData.canonical_design`` with the same scalers: the hash and the rows
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
        if self._target.head == "categorical":
            target = self._target.scaled(rows[:, d:])
        else:
            target = np.ascontiguousarray(rows[:, d:])
        return Design(X1, target, rw)


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
        # the family and the parameters enter the graph once, as keys every
        # block task depends on, not as literals copied into each task
        family_key, params_key = shared(dask, family), shared(dask, params)
        states = [delayed(_estep_block)(b, family_key, params_key) for b in self.design.blocks]
        total = tree_sum(dask, [s[1] for s in states])
        *states, total = dask.persist(*states, total)
        grad, gate_q, ll_sum, sums = dask.compute(total)[0]
        for key, value in sums.items():
            stats[key] += value
        self._states = states
        return grad, gate_q, ll_sum

    def _evaluator(self, family, k, alpha):
        dask = self.design.dask
        delayed = dask.delayed

        family_key = shared(dask, family)

        def evaluate(candidates, need_grad):
            candidates_key = shared(dask, candidates)
            parts = [
                delayed(_softmax_block)(b, s, family_key, k, candidates_key, need_grad)
                for b, s in zip(self.design.blocks, self._states, strict=True)
            ]
            q, grads = tree_total(dask, parts)
            q = q - np.array([softmax_penalty(c, alpha) for c in candidates])
            return q, grads

        return evaluate

    def gate_objective(self, alpha):
        """``evaluate(candidates, need_grad)`` of the gate's softmax regression."""
        return self._evaluator(None, None, alpha)

    def expert_objective(self, family, k, alpha):
        """``evaluate(candidates, need_grad)`` of logistic expert ``k``'s regression."""
        return self._evaluator(family, k, alpha)


class DaskTrainingData:
    """Validated training rows as persisted blocks on the workers (see the module doc).

    The twin of ``skmoe._inputs.MemoryTrainingData``: ``fit_scaling``,
    ``design``, ``canonical_design``, ``hessian_design``, ``small`` (always
    False: the start search samples the blocks) and ``gate_steps``.
    """

    distributed = True
    small = False
    gate_steps = GATE_STEPS_FULL

    def __init__(self, dask, raw, summaries, n_features, head):
        self.dask = dask
        self._raw = raw
        self._summaries = summaries
        self.n_rows = [s[0] for s in summaries]
        self.total_weight = float(sum(s[1] for s in summaries))
        self.n_features = n_features
        self._classifier = head == "categorical"
        self._design = None

    @classmethod
    def from_input(cls, estimator, X, y, sample_weight, target, reset_target):
        """Validate and persist the blocks of ``(X, y, sample_weight)``.

        Sets ``n_features_in_`` (and ``feature_names_in_``) as
        ``validate_data`` does, and, with ``reset_target``, the codec's shape
        of ``y`` or its classes.
        """
        dask, da = import_dask()
        X, y, w = prepare_inputs(da, estimator, X, y, sample_weight)
        classifier = target.head == "categorical"
        if reset_target and not classifier:
            target.set_shape(y.ndim, 1 if y.ndim == 1 else int(y.shape[1]))
        raw = _validated_blocks(dask, type(estimator).__name__, target, X, y, w)
        n_outputs = None if classifier else target.n_outputs
        summaries = dask.compute(*[dask.delayed(_block_summary)(r, classifier, n_outputs)
                                   for r in raw])
        keep = [i for i, s in enumerate(summaries) if s[0] > 0]
        if not keep:
            raise ValueError("Sample weights must contain at least one non-zero number.")
        _validation.check_total_weight(float(sum(s[1] for s in summaries)))
        _validation.check_n_samples(sum(summaries[i][0] for i in keep), estimator.n_experts,
                                    weighted=w is not None)
        summaries = [summaries[i] for i in keep]
        if classifier and reset_target:
            target.set_classes(np.unique(np.concatenate([s[3] for s in summaries])))
        return cls(dask, [raw[i] for i in keep], summaries, int(X.shape[1]), target.head)

    def fit_scaling(self, target):
        """The scaler of ``X``; sets the codec's scaling of ``y`` (Dask reductions)."""
        delayed, total, classifier = self.dask.delayed, self.total_weight, self._classifier
        big = np.max([s[2] for s in self._summaries], axis=0)
        big = np.where(big > 0, big, 1.0)
        mean = tree_total(self.dask, [delayed(_block_mean)(r, classifier, total, big)
                                      for r in self._raw]) * big
        var = tree_total(self.dask, [delayed(_block_var)(r, classifier, total, big, mean)
                                     for r in self._raw])
        d = self.n_features
        if not classifier:
            target.set_scaling(Scaler.from_moments(mean[d:], var[d:], big[d:]))
        return Scaler.from_moments(mean[:d], var[:d], big[:d])

    def design(self, x_scaler, target):
        """Persist the standardised blocks: the :class:`DaskDesign` the solvers run on."""
        delayed = self.dask.delayed
        blocks = list(self.dask.persist(*[delayed(_design_block)(r, x_scaler, target)
                                          for r in self._raw]))
        self._raw = None
        self._design = DaskDesign(self.dask, blocks, self.n_rows, self.total_weight,
                                  self.n_features, target)
        return self._design

    def canonical_design(self, x_scaler, target, max_rows, seed, min_rows):
        return self._design.canonical_design(max_rows, seed, min_rows)

    def hessian_design(self, x_scaler, target, min_rows):
        return self._design.canonical_design(SUBSAMPLE_ROWS, 0, min_rows)


def _validated_blocks(dask, name, target, X, y, w):
    """Persisted validated ``(X, y, w)`` blocks (see ``_validated_block``)."""
    xs = X.to_delayed().ravel()
    ys = y.to_delayed().ravel()
    ws = [None] * len(xs) if w is None or np.ndim(w) == 0 else w.to_delayed().ravel()
    if w is not None and np.ndim(w) == 0:
        ws = [w] * len(xs)
    raw = [dask.delayed(_validated_block)(name, target.validate_kwargs, xb, yb, wb)
           for xb, yb, wb in zip(xs, ys, ws, strict=True)]
    return list(dask.persist(*raw))

