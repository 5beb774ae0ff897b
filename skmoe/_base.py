"""The estimator template of both estimators (in the style of ``sklearn/mixture/_base.py``).

``fit`` and ``partial_fit`` share :meth:`BaseMixtureOfExperts._fit`: check
the hyper-parameters, choose the solver from the registry, get the
validated training data from the data layer (in memory or on Dask), run the
engine, keep the result. The subclasses supply three hooks: their target
codec, their expert family and their fitted expert attributes; everything
else (prediction of the gate and the likelihood, scores, export of the
gate) is here.
"""

import time
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _validation
from ._auto import auto_structure
from ._criteria import InformationCriteriaMixin
from ._dask import dask_rows, is_dask_input
from ._data import Scaler, chunk_rows, design_matrix, iter_chunks
from ._engine import FitPlan, IncrementalState, first_incremental_state, fit_runs, incremental_pass
from ._experts import expert_attributes, expert_entry, expert_names
from ._gate import gate_proba
from ._inputs import training_data
from ._passes import Design, estep_pass
from ._solvers import SOLVERS, SolverSettings
from ._solvers._base import check_distributed, check_incremental, resolve
from ._sparse import dense_gate, route, sparse_log_norm
from ._structure import Structure, check_unchanged, check_warm_features, expert_name
from ._targets import target_from_state
from ._threads import numba_threads


class BaseMixtureOfExperts(InformationCriteriaMixin, BaseEstimator, metaclass=ABCMeta):
    """Fit template and everything the regressor and classifier share."""

    _parameter_constraints: dict = {
        "n_experts": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "expert": [StrOptions(set(expert_names())), HasMethods(["fit"])],
        "top_k": [Interval(Integral, 1, None, closed="left"), None],
        "solver": [StrOptions({"auto", *SOLVERS})],
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

    # -- hooks of the subclasses ------------------------------------------------

    #: ``"regression"`` or ``"classification"``: which experts of the registry
    #: (``skmoe._experts``) serve this estimator
    _task = None

    @abstractmethod
    def _new_target(self):
        """A fresh (unfitted) target codec (``skmoe._targets``)."""

    # -- experts: registry look-ups -------------------------------------------------

    def _check_expert(self):
        """``ValueError``/``TypeError`` unless ``expert`` suits this estimator."""
        expert_entry(self.expert).check(self.expert, self._task)

    def _build_family(self, structure, target, seed, proxy):
        """The expert family of ``structure`` (``proxy``: the start search's stand-ins)."""
        entry = expert_entry(structure.expert)
        if proxy:
            entry = expert_entry(entry.proxy_name[self._task])
        return entry.make(
            structure.expert, n_experts=structure.n_experts, target=target, alpha=self.alpha,
            expert_hidden=structure.expert_hidden, seed=seed, n_jobs=self.n_jobs,
            oof_variance=getattr(self, "_oof_variance", True),
            distribution="gaussian" if proxy else structure.expert_distribution,
        )

    #: Fitted attributes that only some experts have (the registry's); a refit
    #: with other experts removes those of the previous ones.
    _EXPERT_ATTRIBUTES = expert_attributes()

    # -- fitting ------------------------------------------------------------------

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
        return self._fit(X, y, sample_weight, incremental=False)

    def _partial_fit_available(self):
        if not isinstance(self.expert, str):
            raise AttributeError(
                "partial_fit is not available with estimator-instance experts, which are "
                "fitted by EM only; use fit."
            )
        return True

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        """``fit`` (one full fit, or a warm continuation) or one ``partial_fit`` pass."""
        t_start = time.perf_counter()
        continuing = hasattr(self, "_params") and (incremental or self.warm_start)
        if continuing:
            check_unchanged(self, incremental)
        previous_n_features = getattr(self, "n_features_in_", None)
        self._check_fit_params()
        if incremental:
            _validation.check_auto_incremental(self, continuing)
        distributed = is_dask_input(X, y, sample_weight)
        if distributed:
            _validation.check_auto_distributed(self, continuing)
        solver_cls = self._solver_class(incremental, distributed)
        target = self._target() if continuing else self._new_target()
        data = training_data(
            self, X, y, sample_weight, target, reset_features=not (incremental and continuing),
            reset_target=not continuing, check_n_samples=not (incremental and continuing),
            classes=classes, incremental=incremental,
        )
        if not incremental:
            check_warm_features(continuing, data.n_features, previous_n_features)
        with numba_threads(self.n_jobs):
            rng = check_random_state(self.random_state)
            path = None
            if continuing:
                structure = self._fitted_structure()
            elif self.n_experts == "auto":
                structure, path = auto_structure(
                    lambda K: self._plan(Structure.of(self, K), target, solver_cls), data, rng)
            else:
                structure = Structure.of(self)
            plan = self._plan(structure, target, solver_cls)
            if incremental:
                self._incremental_step(plan, data, continuing)
                return self
            warm = (self._params, self._x_scaler()) if continuing else (None, None)
            result, timings, x_scaler = fit_runs(plan, data, rng, *warm)
        self._store_fitted(structure, target, x_scaler, solver_cls.name)
        self._store_fit(result, timings, data.total_weight, t_start)
        if not continuing:
            self.__dict__.pop("n_experts_path_", None)
        if path is not None:
            self.n_experts_path_ = path
        return self

    def _check_fit_params(self):
        """Hyper-parameter checks of ``fit`` beyond ``_parameter_constraints``."""
        _validation.check_not_bool(self)
        self._check_expert()
        _validation.check_top_k(self.top_k, self.n_experts)
        _validation.check_n_jobs(self.n_jobs)

    def _solver_class(self, incremental, distributed):
        """The registered solver this call uses (``ValueError`` naming alternatives)."""
        args = (self.expert, expert_name(self.expert), self.top_k)
        if incremental:
            return check_incremental(SOLVERS, *args)
        solver_cls = resolve(SOLVERS, self.solver, *args)
        if distributed:
            check_distributed(SOLVERS, solver_cls, *args, self.solver, expert_names(self._task))
        return solver_cls

    def _plan(self, structure, target, solver_cls):
        def make_family(seed, proxy=False):
            return self._build_family(structure, target, seed, proxy)

        sparse = (self.noisy_gating, self.load_balancing) if structure.sparse else None
        settings = SolverSettings.of(self)
        return FitPlan(structure, target, settings, solver_cls(settings), make_family,
                       self.n_init, self.init, sparse)

    def _incremental_step(self, plan, data, continuing):
        """One ``partial_fit`` pass (the first call initialises from the batch)."""
        if getattr(self, "_partial_rng", None) is None or not continuing:
            self._partial_rng = check_random_state(self.random_state)
        rng = self._partial_rng
        if continuing:
            state = IncrementalState(self._params, self._x_scaler(), self._optimizer_state,
                                     self._seen_weight)
        else:
            state = first_incremental_state(plan, data, rng)
            self._store_fitted(plan.structure, plan.target, state.x_scaler, plan.solver.name)
            self.n_iter_ = 0
            self.log_likelihood_curve_ = np.empty(0)
            self.objective_curve_ = np.empty(0)
        state, ll, obj, load = incremental_pass(plan, data, state, rng)
        shift = plan.report_shift
        self._params, self._optimizer_state = state.params, state.optimizer_state
        self._seen_weight = state.seen_weight
        self.n_iter_ += 1
        if self.verbose >= 1:
            print(f"[partial_fit] pass {self.n_iter_:4d}  mean log-likelihood {ll + shift: .8f}")
        self.converged_ = False
        self.log_likelihood_ = float(ll + shift)
        self.log_likelihood_curve_ = np.append(self.log_likelihood_curve_, ll + shift)
        self.objective_curve_ = np.append(self.objective_curve_, obj + shift)
        self.expert_load_ = load / load.sum()
        self._export_all(state.params)

    def _store_fitted(self, structure, target, x_scaler, solver):
        """The fitted structure, codec and scaling, as plain values."""
        self._structure = structure.state()
        self.n_experts_ = structure.n_experts
        self._target_state = target.state()
        for name, value in target.public_attributes().items():
            setattr(self, name, value)
        self._x_scaling = x_scaler.state()
        self._solver = solver

    def _store_fit(self, result, timings, total_weight, t_start):
        """Keep the winning run: fitted attributes, timings, ``partial_fit`` state."""
        result.check_finite()
        timings["total"] = time.perf_counter() - t_start
        self._timings_ = timings
        self._optimizer_state = result.optimizer_state
        self._partial_rng = None
        self._seen_weight = total_weight
        self._params = result.params
        self.n_iter_ = int(result.n_iter)
        self.converged_ = bool(result.converged)
        shift = self._target().log_likelihood_shift()
        self.log_likelihood_curve_ = np.asarray(result.curve) + shift
        self.objective_curve_ = np.asarray(result.objective_curve) + shift
        self.accepted_moves_ = np.asarray(result.moves, dtype=np.intp)
        self.log_likelihood_ = float(result.log_likelihood + shift)
        self.expert_load_ = result.expert_weight / result.expert_weight.sum()
        self._export_all(result.params)
        result.warn(self._solver, self.max_iter, self.tol, stacklevel=5)

    # -- the fitted model, rebuilt from what is stored ----------------------------------

    def _fitted_structure(self):
        return Structure.from_state(self._structure)

    def _target(self):
        return target_from_state(self._target_state)

    def _x_scaler(self):
        return Scaler.from_state(self._x_scaling)

    def _family(self):
        """The fitted expert family."""
        return self._build_family(self._fitted_structure(), self._target(), 0, False)

    @property
    def _sparse(self):
        """Whether the model routes each row to its top ``top_k`` experts."""
        return self._structure["top_k"] is not None

    @property
    def _n_experts(self):
        return self._structure["n_experts"]

    def _export_all(self, params):
        """The public fitted attributes: the gate's and the experts' (registry export)."""
        self._export_gate(params["gate"])
        for name in self._EXPERT_ATTRIBUTES:
            self.__dict__.pop(name, None)
        entry = expert_entry(self._structure["expert"])
        exported = entry.export(params["experts"], self._x_scaler(), self._target())
        for name, value in exported.items():
            setattr(self, name, value)

    def _export_gate(self, gate):
        """Gate coefficients in the user's units."""
        scaler = self._x_scaler()
        coef = gate[:, 1:] / scaler.scale_
        self.gate_coef_ = coef
        self.gate_intercept_ = gate[:, 0] - coef @ scaler.mean_

    # -- prediction ------------------------------------------------------------------

    def _check_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=np.float64)

    def _X1_chunks(self, X, width):
        """Yield ``(slice, design chunk)`` over the rows of validated ``X``."""
        scaler = self._x_scaler()
        for sl in iter_chunks(X.shape[0], chunk_rows(X.shape[0], width + X.shape[1] + 1)):
            yield sl, design_matrix(X[sl], scaler)

    @dask_rows
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
        X = self._check_X(X)
        K, top_k = self._n_experts, self._structure["top_k"]
        out = np.empty((X.shape[0], K))
        with numba_threads(self.n_jobs):
            for sl, X1c in self._X1_chunks(X, K):
                if self._sparse:
                    out[sl] = dense_gate(*route(X1c, self._params["gate"], top_k), K)
                else:
                    out[sl] = gate_proba(X1c, self._params["gate"])
        return out

    @dask_rows
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
        check_is_fitted(self)
        target = self._target()
        X, y = validate_data(self, X, y, reset=False, dtype=np.float64,
                             **target.validate_kwargs)
        T = target.encode(y, reset=False, name=type(self).__name__)
        design = Design(design_matrix(X, self._x_scaler()), target.scaled(T), np.ones(len(X)))
        family = self._family()
        K, top_k = self._n_experts, self._structure["top_k"]
        log_norm = np.empty(X.shape[0])
        with numba_threads(self.n_jobs):
            if self._sparse:
                width = top_k * family.width + K + design.n_columns
                for sl in design.chunks(width):
                    log_norm[sl] = sparse_log_norm(
                        family, self._params, design.X1[sl], design.target[sl], top_k
                    )[0]
            else:
                estep_pass(design, family, self._params, np.empty((X.shape[0], K)), log_norm)
        return log_norm + target.log_likelihood_shift()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

