"""The protocol every expert family follows: everything the engine reads of one.

A family is a mean function (linear, constant, mlp, estimator) times a
likelihood head (``_heads``: Gaussian or categorical), made by its registry
entry (``_registry``). Parameters are a dict of arrays in standardised
units. A family holds only its configuration: no data, no chunk caches
(results are returned, not kept), so it pickles small; and the engine never
sets attributes on it.

Members read by the engine (``skmoe._base``, ``_init``, ``_objective``,
``_sparse``, ``_solvers``, ``_dask``, the estimators):

Shape
    ``width``: columns per expert in a chunk's temporaries (chunk sizing);
    ``n_classes``: classes (categorical families; logistic M-step passes);
    ``n_free_params(n_features)``: free parameters, for BIC/AIC;
    ``inputs(X1)``: the expert's view of the design (all columns, or the
    intercept only for constant experts).

E-step (EM and the gradient solvers)
    ``estep_chunk(params, X1c, target_c, weight_c, logits, resp, log_norm,
    gate_resid, gate_q) -> forward``: fused E-step on a chunk (a Numba
    kernel through the head), writing responsibilities, per-sample
    log-likelihoods, the gate residual and the per-row gate objective;
    returns the forward pass (e.g. the means) for ``loglik_grad`` on the
    same chunk, or None.

EM
    ``new_stats(n_columns)`` / ``accumulate(stats, params, X1c, target_c,
    soft_weight)``: additive sufficient statistics (``soft_weight = w_i
    r_ik``; ``stats["n"]`` the experts' weights); ``mstep(stats, params,
    collapsed, context=None)``: new parameters (``params=None`` at
    initialisation; ``collapsed`` experts keep theirs; ``context``, an
    ``MStepContext``, gives data access); ``iterative``: repeating the
    M-step on the same responsibilities improves it (initialisation);
    ``needs_data``: the M-step needs ``context`` (estimator experts);
    ``penalty(params)``: subtracted from the log-likelihood.

Gradient solvers (``skmoe._objective``)
    ``grad_keys``; ``to_free(params)`` / ``from_free(free)`` (unconstrained
    parameters, e.g. log-variances); ``free_lower_bounds()`` /
    ``free_upper_bounds()``; ``loglik_grad(params, X1c, target_c,
    soft_weight, forward=None)``; ``penalty_grad(params)``;
    ``init_params(design, resp, rng, ridge=None)``: experts fitted to
    starting responsibilities (mlp and estimator experts).

Sparse routing (``skmoe._sparse``)
    ``slot_outputs(params, X1, sel)``; ``slot_forward(params, X1, sel) ->
    (out, forward)``; ``slot_loglik(params, out, target, sel)``;
    ``slot_grad(params, X1, target, sel, out, soft, forward=None)``.

Prediction
    ``means(params, X1)`` (Gaussian families) or ``log_proba(params, X1)``
    (categorical families).

Restarts
    ``with_seed(seed)``: the same family with another seed (estimator
    experts seed their clones and folds per restart); others return self.
"""

class ExpertFamily:
    """Base class of expert families (see the module docstring)."""

    #: the likelihood head (``_heads.GaussianHead`` or ``CategoricalHead``)
    head = None
    #: ``True``: experts use all design columns; ``False``: intercept only
    #: (constant experts).
    linear = True
    iterative = False
    needs_data = False
    grad_keys = ()

    @property
    def width(self):
        return self.head.n_out

    @property
    def n_classes(self):
        return self.head.n_classes

    def _q(self, n_columns):
        """Design columns an expert uses."""
        return n_columns if self.linear else 1

    def inputs(self, X1):
        """The expert's view of the design matrix."""
        return X1 if self.linear else X1[:, :1]

    def with_seed(self, seed):
        """The family for another restart seed (seed-free families: ``self``)."""
        return self

    # -- abstract ---------------------------------------------------------------

    def n_free_params(self, n_features):  # pragma: no cover - abstract
        raise NotImplementedError

    def estep_chunk(
        self, params, X1c, target_c, weight_c, logits, resp, log_norm, gate_resid, gate_q
    ):  # pragma: no cover - abstract
        raise NotImplementedError

    def new_stats(self, n_columns):  # pragma: no cover - abstract
        raise NotImplementedError

    def accumulate(self, stats, params, X1c, target_c, soft_weight):  # pragma: no cover
        raise NotImplementedError

    def mstep(self, stats, params, collapsed, context=None):  # pragma: no cover
        raise NotImplementedError

    def penalty(self, params):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- defaults ---------------------------------------------------------------

    def free_lower_bounds(self):
        """Lower bounds of free parameters by key (absent keys are unbounded)."""
        return {}

    def free_upper_bounds(self):
        """Upper bounds of free parameters by key (absent keys are unbounded)."""
        return {}

    def slot_forward(self, params, X1, sel):
        """``(slot outputs, forward)``; ``forward`` goes to :meth:`slot_grad`."""
        return self.slot_outputs(params, X1, sel), None

    def slot_loglik(self, params, out, target, sel):
        return self.head.slot_loglik(params, out, target, sel)

    def log_proba(self, params, X1):  # pragma: no cover - categorical families
        raise NotImplementedError

    def means(self, params, X1):  # pragma: no cover - Gaussian families
        raise NotImplementedError

