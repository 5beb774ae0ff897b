"""The shared core of both estimators: constraints, the fit template, scores."""

import time
import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _dask, _validation
from ._data import Design, Scaler, canonical_subsample, chunk_rows, design_matrix, iter_chunks
from ._experts import expert_attributes, expert_entry, expert_names
from ._gate import GateMStep, gate_proba
from ._init import initial_resp, params_from_resp
from ._objective import MixtureObjective
from ._solvers._adam import AdamState, adam_pass, run_adam
from ._solvers._em import estep_pass, run_em
from ._solvers._lbfgs import run_lbfgs
from ._sparse import SparseObjective, dense_gate, route, sparse_log_norm
from ._threads import numba_threads

#: Up to this many (weighted, de-duplicated) rows, EM runs on the canonical
#: de-duplicated data directly; above it, starts are searched on a hashed
#: subsample of about this size and the full data is only used at the end.
_SUBSAMPLE_ROWS = 20_000
#: Starting partitions tried per restart, short-EM iterations for each, and
#: the rows they run on (at least this many, and this many per parameter of
#: the experts).
_N_CANDIDATES = 8
_SHORT_ITER = 25
_CANDIDATE_ROWS = 5_000
_CANDIDATE_ROWS_PER_PARAM = 40
#: Böhning gate steps per M-step on the subsample and on the full data.
_GATE_STEPS_SHORT = 1
_GATE_STEPS_SUBSAMPLE = 2
_GATE_STEPS_FULL = 1
#: Runs whose objectives differ by less than this (relative) are ties, broken
#: by order, so that round-off cannot pick a relabelled twin.
_TIE_RTOL = 1e-9
#: EM iterations of the start search's subsample run for the gradient solvers.
_START_MAX_ITER = 200


class _Structure(NamedTuple):
    """The hyper-parameters that fix the shape and meaning of the fitted parameters.

    ``fit`` stores them (``_structure``) and everything after it (prediction,
    warm starts, ``partial_fit``, export) reads them from there, never from
    the constructor parameters, which ``set_params`` may have changed since.
    """

    n_experts: int
    expert: object  # the name, or the estimator instance (template of the clones)
    kind: str  # the name, or "estimator"
    top_k: object  # int or None
    expert_hidden: object  # int for "mlp" experts, else None

    @classmethod
    def of(cls, estimator):
        expert = estimator.expert
        kind = expert_entry(expert).name
        hidden = estimator.expert_hidden if kind == "mlp" else None
        return cls(estimator.n_experts, expert, kind, estimator.top_k, hidden)

    def describe(self, name):
        if name != "expert":
            return f"{name}={getattr(self, name)!r}"
        if self.kind == "estimator":
            return f"expert={type(self.expert).__name__}()"
        return f"expert={self.expert!r}"

    def first_difference(self, other):
        """Name of the first parameter whose fitted meaning differs, or None."""
        if self.n_experts != other.n_experts:
            return "n_experts"
        if self.kind != other.kind:
            return "expert"
        if self.top_k != other.top_k:
            return "top_k"
        if self.expert_hidden != other.expert_hidden:
            return "expert_hidden"
        return None


def _better(value, best):
    """``value`` beats ``best`` by more than a round-off tie."""
    return value > best + _TIE_RTOL * max(abs(best), 1.0)


_SHARED_PARAMS_DOC = """
    n_experts : int, default=4
        Number of experts ``K`` (``>= 1``).

    top_k : int or None, default=None
        ``None`` for the dense mixture. An int ``1 <= top_k < n_experts``
        gives the sparse model (Shazeer et al. 2017): each row is routed to
        the ``top_k`` experts with the largest gate logits, the gate is the
        softmax renormalised over them, and only they are evaluated, in
        training and in prediction. Fitted by ``solver="adam"`` only. The
        training loss is the negative log-likelihood of the top-k mixture
        plus that of the top-(k+1) mixture (the extra "challenger" expert
        gives the gate a learning signal for every k, including 1), plus the
        load-balancing penalty; see the user guide for the exact formulas.

    solver : {"auto", "em", "lbfgs", "adam"}, default="auto"
        Fitting method. ``"em"`` runs expectation-maximisation; ``"lbfgs"``
        minimises the same penalised objective by full-batch L-BFGS (scipy)
        with exact gradients (expert variances in log space); ``"adam"`` by
        mini-batch Adam. All start from the same start search. ``"auto"``
        means ``"em"``, ``"lbfgs"`` for ``expert="mlp"`` (which has no EM),
        and ``"adam"`` when ``top_k`` is set (the top-k sets change as the
        gate moves, so there is neither a monotone EM nor a smooth objective
        for L-BFGS). An unsupported combination raises ``ValueError`` naming the
        supported solvers.

    noisy_gating : bool, default=True
        Sparse training only: route each training row by ``h + eps *
        softplus(W_n x)`` with ``eps ~ N(0, 1)`` drawn per row, expert and
        step from ``random_state`` and learned noise weights ``W_n``.
        Prediction never uses noise. No effect on a dense model.

    load_balancing : float, default=1e-2
        Sparse training only: weight ``w`` of the penalty ``w * (CV^2(I) +
        CV^2(L))`` added to each mini-batch's loss (Shazeer et al. 2017), with
        ``I_e = sum_i w_i softmax(H_i)_e`` (softmax of the routing logits over
        all experts), ``L_e = sum_i w_i Phi((h_ie - t_ie) / s_ie)`` the smooth
        estimate of how often expert ``e`` is in the top ``top_k`` under the
        noise (``t_ie`` the ``top_k``-th largest noisy logit of row ``i``
        other than ``e``'s, ``s_ie`` the noise scale; ``s = 1`` without
        noisy gating) and ``CV^2 = variance / mean^2`` over the experts. No
        effect on a dense model.

    expert_hidden : int, default=32
        Hidden ``tanh`` units of each ``"mlp"`` expert.

    max_iter : int, default=200
        Maximum number of EM or L-BFGS iterations, or Adam epochs, of the
        main run (the short EM runs of the start search use at most 25).

    tol : float, default=1e-5
        EM stops when the weighted mean log-likelihood changes by less than
        ``tol`` between iterations; L-BFGS when the objective (per unit
        weight) decreases by less than ``tol`` in 10 consecutive iterations;
        Adam when the epoch's loss has not improved on the best by ``tol``
        for more than 10 consecutive epochs (as ``MLPRegressor``).

    n_init : int, default=1
        Number of restarts; the one with the best log-likelihood is kept.
        Each restart already searches several starting partitions (see
        Notes), so ``n_init=1`` is usually enough.

    init : {"kmeans", "random"}, default="kmeans"
        How starting partitions are drawn: weighted k-means on the
        standardised ``[X, y]`` rows, or random responsibilities. A sparse
        model with ``init="random"`` skips the start search's EM runs: one
        M-step on random responsibilities gives near-identical experts and a
        nearly flat gate (the usual deep-learning start, the one prone to
        collapse without load balancing).

    batch_size : int, default=256
        Mini-batch size of ``solver="adam"`` and ``partial_fit``.

    learning_rate : float, default=1e-2
        Step size of ``solver="adam"`` and ``partial_fit``. A fresh
        optimiser state ramps it up linearly over its first 200 steps.

    warm_start : bool, default=False
        Start from the previous fit's parameters (and its scaling of the
        data) instead of a new initialisation; ``n_init`` is then ignored.
        The parameters that fix the fitted structure (``n_experts``, the
        kind of ``expert``, ``top_k``, ``expert_hidden``) must be those of
        the previous fit: a warm start (or ``partial_fit``) after
        ``set_params`` changed one raises ``ValueError`` naming it. Others
        (``alpha``, ``solver``, ``max_iter``, ...) may change. Prediction
        always uses the fitted structure.

    random_state : int, RandomState instance or None, default=None
        Seeds the start search. An int gives bit-identical models across
        runs and across ``n_jobs``.

    verbose : int, default=0
        ``1`` prints a line per EM or L-BFGS run (and per Adam epoch), ``2``
        a line per iteration.

    n_jobs : int or None, default=None
        Threads for the compiled kernels (``None`` keeps Numba's current
        setting, ``-1`` uses all of its pool). Results do not depend on it.
"""


class BaseMixtureOfExperts(BaseEstimator):
    """Fit template and everything the regressor and classifier share."""

    _parameter_constraints: dict = {
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "expert": [StrOptions(set(expert_names())), HasMethods(["fit"])],
        "top_k": [Interval(Integral, 1, None, closed="left"), None],
        "solver": [StrOptions({"auto", "em", "lbfgs", "adam"})],
        "noisy_gating": ["boolean"],
        "load_balancing": [Interval(Real, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "gate_alpha": [Interval(Real, 0, None, closed="left")],
        "expert_hidden": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"kmeans", "random"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_jobs": [Integral, None],
    }

    # -- hooks implemented by the subclasses --------------------------------
    #   _check_expert()                    -> None (expert name valid for the class)
    #   _encode_target(y, reset)           -> (n, m) float64 raw target columns
    #   _fit_target_scaling(T, w)          -> None
    #   _scaled_target(T)                  -> family target
    #   _make_family()                     -> ExpertFamily
    #   _cluster_features(design)          -> (n, c) features added for k-means
    #   _export_params(params)             -> None (public fitted attributes)
    #   _validate_y_kwargs                 -> kwargs of validate_data

    # -- fitting -----------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the mixture of experts (EM, L-BFGS or Adam: see ``solver``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. A Dask array (or DataFrame) chunked by rows runs
            the exact distributed EM on the blocks, where they are (the
            optional extra ``skmoe[dask]``; see "Distributed fitting with
            Dask" in the documentation).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; a zero weight is the same as an absent row
            and an integer weight the same as repeating the row.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if _dask.is_dask_input(X, y, sample_weight):
            return _dask.fit(self, X, y, sample_weight)
        t_start = time.perf_counter()
        warm, previous_n_features = self._start_fit()
        X, y = validate_data(self, X, y, dtype=np.float64, **self._validate_y_kwargs)
        self._check_warm_features(warm, X.shape[1], previous_n_features)
        self._check_fit_params()
        self._solver = _validation.resolve_solver(self)
        self._structure = _Structure.of(self)
        T = self._encode_target(y, reset=not warm)
        w = _validation.check_sample_weight(sample_weight, X)
        positive = w > 0
        if not positive.all():
            X, T, w = X[positive], T[positive], w[positive]
        _validation.check_n_samples(X.shape[0], self.n_experts, weighted=not positive.all())
        X = np.ascontiguousarray(X)
        T = np.ascontiguousarray(T)

        with numba_threads(self.n_jobs):
            result, timings = self._fit_solver(X, T, w, warm)
        self._store_fit(result, timings, float(w.sum()), t_start)
        return self

    def _start_fit(self):
        """``(warm, n_features_in_ of the previous fit)``; a warm start must keep the structure."""
        warm = self.warm_start and hasattr(self, "_params")
        if warm:
            self._check_structure_unchanged(
                "a warm start (warm_start=True) continues the fitted parameters",
                "Set warm_start=False to refit from scratch.",
            )
        return warm, getattr(self, "n_features_in_", None)

    @staticmethod
    def _check_warm_features(warm, n_features, previous_n_features):
        if warm and n_features != previous_n_features:
            raise ValueError(
                f"X has {n_features} features, but the warm-started model was fitted "
                f"with {previous_n_features} features; set warm_start=False to refit."
            )

    def _check_fit_params(self):
        """Hyper-parameter checks of ``fit`` beyond ``_parameter_constraints``."""
        _validation.check_not_bool(self)
        self._check_expert()
        _validation.check_top_k(self.top_k, self.n_experts)
        _validation.check_n_jobs(self.n_jobs)

    def _store_fit(self, result, timings, total_weight, t_start, stacklevel=5):
        """Keep the winning run: fitted attributes, timings, ``partial_fit`` state.

        ``stacklevel`` of the fit warnings: the user's call of ``fit``.
        """
        timings["total"] = time.perf_counter() - t_start
        self._timings_ = timings
        self._adam_state = getattr(result, "adam_state", None)
        self._partial_rng = None
        self._seen_weight = total_weight
        self._finish_fit(result, stacklevel)

    def _check_structure_unchanged(self, what, remedy):
        """``ValueError`` if ``set_params`` changed the fitted structure since the last fit."""
        fitted, now = self._structure, _Structure.of(self)
        name = fitted.first_difference(now)
        if name is not None:
            raise ValueError(
                f"{now.describe(name)}, but the model was fitted with "
                f"{fitted.describe(name)}: {what} and cannot change {name}. {remedy}"
            )

    def _partial_fit_available(self):
        if not isinstance(self.expert, str):
            raise AttributeError(
                "partial_fit is not available with estimator-instance experts, which are "
                "fitted by EM only; use fit."
            )
        return True

    def _partial_fit(self, X, y, sample_weight, classes):
        """One pass of mini-batch Adam over ``(X, y)`` (see ``partial_fit``)."""
        first = not hasattr(self, "_params")
        if not first:
            self._check_structure_unchanged(
                "partial_fit updates the fitted parameters",
                "Call fit to refit from scratch (or clone the estimator).",
            )
        X, y = validate_data(self, X, y, reset=first, dtype=np.float64, **self._validate_y_kwargs)
        _validation.check_not_bool(self)
        self._check_expert()
        _validation.check_top_k(self.top_k, self.n_experts)
        _validation.check_n_jobs(self.n_jobs)
        _validation.check_partial_fit(self)
        T = self._partial_fit_target(y, classes, first)
        w = _validation.check_sample_weight(sample_weight, X)
        positive = w > 0
        if not positive.all():
            X, T, w = X[positive], T[positive], w[positive]
        if first:
            _validation.check_n_samples(X.shape[0], self.n_experts, not positive.all())
        X = np.ascontiguousarray(X)
        T = np.ascontiguousarray(T)
        if getattr(self, "_partial_rng", None) is None:
            self._partial_rng = check_random_state(self.random_state)
        rng = self._partial_rng
        with numba_threads(self.n_jobs):
            if first:
                self._solver = "adam"
                self._structure = _Structure.of(self)
                self._scaler = Scaler(X, w)
                self._fit_target_scaling(T, w)
                rows, rw = canonical_subsample([X, T], w, _SUBSAMPLE_ROWS, 0, self._hash_view)
                d = X.shape[1]
                data = (rows[:, :d], rows[:, d:], rw)
                start = Design(design_matrix(data[0], self._scaler),
                               self._scaled_target(data[1]), data[2])
                family = self._make_family()
                gate = GateMStep(start, self.gate_alpha, self.n_experts)
                seed = int(rng.randint(np.iinfo(np.int32).max))
                self._params = self._initial_params(data, start, family, gate, True, seed)
                self._seen_weight = 0.0
                self._adam_state = None
                self.n_iter_ = 0
                self.log_likelihood_curve_ = np.empty(0)
                self.objective_curve_ = np.empty(0)
            family = self._make_family()
            design = Design(design_matrix(X, self._scaler), self._scaled_target(T), w)
            self._seen_weight += design.total_weight
            if self._sparse:
                self._params = self._with_noise(self._params)
                objective = self._sparse_objective(family, self._seen_weight, rng)
            else:
                objective = MixtureObjective(None, family, self.gate_alpha, self._seen_weight)
            like = self._params
            theta = objective.pack(like)
            lower, upper = objective.bounds(like)
            if lower is not None or upper is not None:
                theta = np.clip(theta, lower, upper)
            state = self._adam_state
            if state is None or state.m.shape != theta.shape:
                state = AdamState.fresh(theta.shape[0])
            ll_sum, w_sum, load = adam_pass(
                objective, theta, like, state, design, batch_size=self.batch_size,
                learning_rate=self.learning_rate, rng=rng, lower=lower, upper=upper,
            )
        params = objective.unpack(theta, like)
        self._params = params
        self._adam_state = state
        shift = self._log_likelihood_shift()
        ll = ll_sum / w_sum + shift
        obj = ll - objective.penalty(params) / objective.total_weight
        self.n_iter_ += 1
        if self.verbose >= 1:
            print(f"[partial_fit] pass {self.n_iter_:4d}  mean log-likelihood {ll: .8f}")
        self.converged_ = False
        self.log_likelihood_ = float(ll)
        self.log_likelihood_curve_ = np.append(self.log_likelihood_curve_, ll)
        self.objective_curve_ = np.append(self.objective_curve_, obj)
        self.expert_load_ = load / load.sum()
        self._export_params(params)
        return self

    def _fit_solver(self, X, T, w, warm):
        rng = check_random_state(self.random_state)
        n_samples, n_features = X.shape
        timings = {"init": 0.0}
        t0 = time.perf_counter()
        small = n_samples <= _SUBSAMPLE_ROWS
        if small:
            # EM on the canonical de-duplicated data: row order and duplicated
            # rows versus integer weights give bit-identical fits
            rows, rw = canonical_subsample([X, T], w, np.inf, 0)
            data = (rows[:, :n_features], rows[:, n_features:], rw)
        else:
            data = (X, T, w)
        if not warm:
            self._scaler = Scaler(data[0], data[2])
            self._fit_target_scaling(data[1], data[2])
        main = Design(
            design_matrix(data[0], self._scaler), self._scaled_target(data[1]), data[2]
        )
        family = self._make_family()
        hessian_design = None
        if not small:
            hessian_design = self._canonical_design(X, T, w, _SUBSAMPLE_ROWS, 0)
        gate_main = GateMStep(main, self.gate_alpha, self._structure.n_experts, hessian_design)
        gate_steps = _GATE_STEPS_SUBSAMPLE if small else _GATE_STEPS_FULL
        timings["init"] += time.perf_counter() - t0
        return self._restarts(rng, data, main, family, gate_main, small, gate_steps, warm, timings)

    def _restarts(self, rng, data, main, family, gate_main, small, gate_steps, warm, timings):
        """Run the solver from each restart's start; the best run and the timings.

        ``data`` is the ``(X, T, w)`` the start search samples from (or a
        ``skmoe._dask.DaskDesign`` and two Nones), ``main`` the design the
        solver runs on (a ``Design`` or a ``skmoe._dask.DaskDesign``).
        """
        seeds = rng.randint(np.iinfo(np.int32).max, size=1 if warm else self.n_init)
        best = None
        for seed in seeds:
            t0 = time.perf_counter()
            # the estimator experts' clones and folds are seeded per restart
            family = family.with_seed(int(seed))
            if warm:
                params = self._params
            else:
                # in the small case the start search sees the canonical rows, so
                # repeated rows and integer weights take the same path
                params = self._initial_params(data, main, family, gate_main, small, int(seed))
            timings["init"] += time.perf_counter() - t0
            objective = None
            run_rng = np.random.RandomState(int(seed))
            if self._sparse:
                params = self._with_noise(params)
                objective = self._sparse_objective(family, main.total_weight, run_rng)
            if self._solver == "adam":
                result, state = run_adam(
                    main,
                    family,
                    params,
                    max_iter=self.max_iter,
                    tol=self.tol,
                    gate_alpha=self.gate_alpha,
                    batch_size=self.batch_size,
                    learning_rate=self.learning_rate,
                    rng=run_rng,
                    verbose=self.verbose,
                    report_shift=self._log_likelihood_shift(),
                    objective=objective,
                )
                result.adam_state = state
            elif self._solver == "lbfgs":
                result = run_lbfgs(
                    main,
                    family,
                    params,
                    max_iter=self.max_iter,
                    tol=self.tol,
                    gate_alpha=self.gate_alpha,
                    verbose=self.verbose,
                    report_shift=self._log_likelihood_shift(),
                )
            else:
                result = run_em(
                    main,
                    family,
                    gate_main,
                    params,
                    max_iter=self.max_iter,
                    tol=self.tol,
                    gate_alpha=self.gate_alpha,
                    gate_steps=gate_steps,
                    verbose=self.verbose,
                    report_shift=self._log_likelihood_shift(),
                    keep_best=expert_entry(self._structure.expert).keep_best,
                )
            if best is None or _better(result.log_likelihood, best.log_likelihood):
                best = result
        for key, value in best.timings.items():
            timings[key] = value
        return best, timings

    def _initial_params(self, data, main, family, gate_main, small, seed):
        """Starting parameters of one restart.

        Built-in experts: the start search of :meth:`_search_start`. MLP
        experts fitted by L-BFGS: the start search with linear (logistic)
        experts, whose gate is kept and whose responsibilities on the data
        seed the mlp experts (``MLPExperts.init_params``). MLP experts fitted
        by Adam: a near-uniform gate (``N(0, 0.01^2)`` weights) and every
        expert fitted to all the data on its own random hidden features, the
        usual deep-learning start, from which the experts specialise
        together. Measured on 1e5 rows, 8 experts, 10 features with a sine
        term (``benchmarks/bench_gradient.py``'s data): after 5 Adam epochs
        -1.40 from this start against -1.53 from the start search; for
        L-BFGS the start search is better (-1.60 against -1.82 after 60
        iterations).
        """
        rng = np.random.RandomState(seed)
        K = self._structure.n_experts
        entry = expert_entry(self._structure.expert)
        start = entry.start_for(self._solver)
        if self._sparse and self.init == "random":
            # the deep-learning start: one M-step on random responsibilities,
            # near-identical experts and a nearly flat gate (no EM)
            resp = initial_resp(main, None, K, "random", rng)
            return self._flat_start(main, family, gate_main, resp, rng)
        if start == "flat":
            resp = np.full((main.n_samples, K), 1.0 / K)
            return self._flat_start(main, family, gate_main, resp, rng)
        if start == "search":
            return self._search_start(*data, main, family, gate_main, small, seed)
        # experts that do not run the start search themselves: search with
        # the entry's proxy experts, keep its gate, and seed the experts from
        # its responsibilities on the data
        proxy = self._make_family(proxy=True)
        found = self._search_start(*data, main, proxy, gate_main, small, seed)
        resp = np.empty((main.n_samples, K))
        estep_pass(main, proxy, found, resp, np.empty(main.n_samples))
        experts = family.init_params(main, resp, rng, ridge=entry.proxy_init_ridge)
        return {"gate": found["gate"], "experts": experts}

    def _flat_start(self, main, family, gate_main, resp, rng):
        """Experts from the responsibilities ``resp``, the gate (nearly) flat.

        mlp experts: each fitted to its weighted rows on its own random
        hidden features, gate weights ``N(0, 0.01^2)``; other experts: one
        M-step (``params_from_resp``).
        """
        ridge = expert_entry(self._structure.expert).flat_init_ridge
        if ridge is None:
            return params_from_resp(main, family, gate_main, resp)
        experts = family.init_params(main, resp, rng, ridge=ridge)
        gate = rng.normal(scale=0.01, size=(self._structure.n_experts, main.n_columns))
        return {"gate": gate - gate.mean(axis=0), "experts": experts}

    def _with_noise(self, params):
        """Parameters with the noise weights of noisy gating (zeros when new)."""
        if "noise" in params:
            return params
        return {**params, "noise": np.zeros_like(params["gate"])}

    def _sparse_objective(self, family, total_weight, rng):
        return SparseObjective(
            family, self._structure.top_k, self.noisy_gating, self.load_balancing,
            self.gate_alpha, total_weight, rng,
        )

    def _expert_seed(self):
        """Seed of the estimator experts' clones and folds (fixed per fit)."""
        return getattr(self, "_fit_seed", 0)

    def _canonical_design(self, X, T, w, max_rows, seed):
        """Design on a canonical (order-free, de-duplicated) subsample."""
        if isinstance(X, _dask.DaskDesign):
            return X.canonical_design(max_rows, seed, 2 * self._structure.n_experts)
        n_features = X.shape[1]
        rows, rw = canonical_subsample([X, T], w, max_rows, seed, self._hash_view)
        if rows.shape[0] < 2 * self._structure.n_experts:
            rows, rw = canonical_subsample([X, T], w, np.inf, seed)
        return Design(
            design_matrix(rows[:, :n_features], self._scaler),
            self._scaled_target(rows[:, n_features:]),
            rw,
        )

    def _hash_view(self, block):
        """What the subsample hash sees of raw ``[X, T]`` rows.

        Standardised values rounded to 1e-6 of a standard deviation: the
        selection is then the same for rescaled data, and round-off in the
        scaling (e.g. from another row order) almost never changes it.
        """
        d = self.n_features_in_
        out = np.empty_like(block)
        self._scaler.transform(block[:, :d], out=out[:, :d])
        out[:, d:] = self._target_for_hash(block[:, d:])
        return np.round(out, 6) + 0.0

    def _target_for_hash(self, T):
        return T

    def _search_start(self, X, T, w, main, family, gate_main, small, seed):
        """Best of several short EM runs on a canonical subsample (see ``_init``).

        The candidates run on about ``_CANDIDATE_ROWS`` rows; the winner is
        run to convergence on about ``_SUBSAMPLE_ROWS`` rows when the data is
        larger than that, and then handed to the EM on all the data.
        """
        rng = np.random.RandomState(seed)
        K = self._structure.n_experts
        # max_iter caps EM's own runs; for the gradient solvers it counts
        # their iterations or epochs, not the start search's
        em_cap = self.max_iter if self._solver == "em" else _START_MAX_ITER
        cand_rows = max(_CANDIDATE_ROWS, _CANDIDATE_ROWS_PER_PARAM * K * (X.shape[1] + 1))
        if small and main.n_samples <= cand_rows:
            cand, gate_cand = main, gate_main
        else:
            cand = self._canonical_design(X, T, w, cand_rows, seed)
            gate_cand = GateMStep(cand, self.gate_alpha, K)
        features = self._cluster_features(cand)
        best = None
        for _ in range(_N_CANDIDATES):
            resp = initial_resp(cand, features, K, self.init, rng)
            params = params_from_resp(cand, family, gate_cand, resp)
            result = run_em(
                cand,
                family,
                gate_cand,
                params,
                max_iter=min(_SHORT_ITER, em_cap),
                tol=self.tol,
                gate_alpha=self.gate_alpha,
                gate_steps=_GATE_STEPS_SHORT,
                verbose=max(self.verbose - 1, 0),
                label="start",
                report_shift=self._log_likelihood_shift(),
            )
            if best is None or _better(result.objective, best.objective):
                best = result
        if not small:
            sub = self._canonical_design(X, T, w, _SUBSAMPLE_ROWS, seed)
            best = run_em(
                sub,
                family,
                GateMStep(sub, self.gate_alpha, K),
                best.params,
                max_iter=em_cap,
                tol=self.tol,
                gate_alpha=self.gate_alpha,
                gate_steps=_GATE_STEPS_SUBSAMPLE,
                verbose=max(self.verbose - 1, 0),
                label="subsample",
                report_shift=self._log_likelihood_shift(),
            )
        return best.params

    def _finish_fit(self, result, stacklevel=4):
        params = result.params
        arrays = [params["gate"], params.get("noise", params["gate"]),
                  *params["experts"].values()]
        for arr in [a for a in arrays if a.dtype != object]:
            if not np.all(np.isfinite(arr)):  # pragma: no cover - guarded by floors
                raise FloatingPointError(
                    "fitting produced non-finite parameters; please report this with "
                    "the data that triggers it."
                )
        self._params = params
        self.n_iter_ = int(result.n_iter)
        self.converged_ = bool(result.converged)
        shift = self._log_likelihood_shift()
        self.log_likelihood_curve_ = np.asarray(result.curve) + shift
        self.objective_curve_ = np.asarray(result.objective_curve) + shift
        self.log_likelihood_ = float(result.log_likelihood + shift)
        self.expert_load_ = result.expert_weight / result.expert_weight.sum()
        self._export_params(params)
        if not result.converged:
            name, steps = {"lbfgs": ("L-BFGS", "iterations"), "adam": ("Adam", "epochs")}.get(
                self._solver, ("EM", "iterations")
            )
            warnings.warn(
                f"{name} did not converge in max_iter={self.max_iter} {steps} "
                f"(last change of the mean log-likelihood above tol={self.tol}). "
                "Increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=stacklevel,
            )
        if result.collapsed.any():
            which = np.flatnonzero(result.collapsed).tolist()
            warnings.warn(
                f"Expert(s) {which} received (almost) no training weight; they are kept "
                "with negligible gate probability and their parameters were frozen. "
                "Consider fewer n_experts.",
                UserWarning,
                stacklevel=stacklevel,
            )

    def _log_likelihood_shift(self):
        """Added to standardised-unit log-likelihoods to get the user's units."""
        return 0.0

    # -- prediction-side helpers ----------------------------------------------

    def _check_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=np.float64)

    def _X1_chunks(self, X, width):
        """Yield ``(slice, design chunk)`` over the rows of validated ``X``."""
        rows = chunk_rows(X.shape[0], width + X.shape[1] + 1)
        for sl in iter_chunks(X.shape[0], rows):
            yield sl, design_matrix(X[sl], self._scaler)

    def gate_proba(self, X):
        """Gate probabilities ``g_k(x)`` of each expert.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts)
            Rows sum to one. A sparse model (``top_k`` set) has exactly
            ``top_k`` non-zeros per row: the softmax renormalised over the
            selected experts.
        """
        if _dask.is_dask_collection(X):
            return _dask.map_rows(self, "gate_proba", X)
        X = self._check_X(X)
        K, top_k = self._structure.n_experts, self._structure.top_k
        out = np.empty((X.shape[0], K))
        with numba_threads(self.n_jobs):
            for sl, X1c in self._X1_chunks(X, K):
                if self._sparse:
                    out[sl] = dense_gate(*route(X1c, self._params["gate"], top_k), K)
                else:
                    out[sl] = gate_proba(X1c, self._params["gate"])
        return out

    def log_likelihood(self, X, y):
        """Per-sample log-likelihood ``log p(y_i | x_i)`` under the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
        """
        if _dask.is_dask_input(X, y):
            return _dask.map_rows(self, "log_likelihood", X, y)
        check_is_fitted(self)
        X, y = validate_data(self, X, y, reset=False, dtype=np.float64, **self._validate_y_kwargs)
        T = self._encode_target(y, reset=False)
        design = Design(design_matrix(X, self._scaler), self._scaled_target(T), np.ones(len(X)))
        family = self._make_family()
        K, top_k = self._structure.n_experts, self._structure.top_k
        log_norm = np.empty(X.shape[0])
        with numba_threads(self.n_jobs):
            if self._sparse:
                width = top_k * family.width + K + design.n_columns
                for sl in design.chunks(width):
                    log_norm[sl] = sparse_log_norm(
                        family, self._params, design.X1[sl], design.target[sl], top_k
                    )[0]
            else:
                resp = np.empty((X.shape[0], K))
                estep_pass(design, family, self._params, resp, log_norm)
        return log_norm + self._log_likelihood_shift()

    @property
    def _sparse(self):
        """Whether the model routes each row to its top ``top_k`` experts."""
        return self._structure.top_k is not None

    def _n_free_params(self):
        d = self.n_features_in_
        gate = (self._structure.n_experts - 1) * (d + 1)
        return gate + self._make_family().n_free_params(d)

    def bic(self, X, y):
        """Bayesian information criterion on ``(X, y)`` (lower is better).

        ``-2 * sum_i log p(y_i | x_i) + n_params * log(n_samples)``, with the
        identifiable free parameters counted as in the user guide.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        bic : float
        """
        ll = self.log_likelihood(X, y)
        return float(-2.0 * ll.sum() + self._n_free_params() * np.log(ll.shape[0]))

    def aic(self, X, y):
        """Akaike information criterion on ``(X, y)`` (lower is better).

        ``-2 * sum_i log p(y_i | x_i) + 2 * n_params``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        aic : float
        """
        ll = self.log_likelihood(X, y)
        return float(-2.0 * ll.sum() + 2.0 * self._n_free_params())

    #: Fitted attributes that only some experts have (the registry's); a refit
    #: with other experts removes those of the previous ones.
    _EXPERT_ATTRIBUTES = expert_attributes()

    def _clear_expert_attributes(self):
        for name in self._EXPERT_ATTRIBUTES:
            self.__dict__.pop(name, None)

    def _expert_family(self, task, target, proxy=False):
        """The family of the fitted ``expert`` (registry look-up); ``proxy``: its proxy's."""
        expert = self._structure.expert
        entry = expert_entry(expert)
        if proxy:
            entry = expert_entry(entry.proxy_name[task])
        return entry.make(
            expert, n_experts=self._structure.n_experts, target=target, alpha=self.alpha,
            expert_hidden=self._structure.expert_hidden, seed=self._expert_seed(),
            n_jobs=self.n_jobs, oof_variance=getattr(self, "_oof_variance", True),
        )

    def _export_experts(self, expert_params, target):
        """The experts' public fitted attributes (registry export)."""
        self._clear_expert_attributes()
        entry = expert_entry(self._structure.expert)
        for name, value in entry.export(expert_params, self._scaler, target).items():
            setattr(self, name, value)

    def _export_gate(self, gate):
        """Gate coefficients in the user's units."""
        scale, mean = self._scaler.scale_, self._scaler.mean_
        coef = gate[:, 1:] / scale
        self.gate_coef_ = coef
        self.gate_intercept_ = gate[:, 0] - coef @ mean

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags
