"""The small protocol every expert family follows.

The EM engine (``skmoe._solvers._em``) is written once against it; a family
only supplies its likelihood and its M-step.

* ``estep_chunk(params, X1c, target_c, weight_c, logits, resp, log_norm,
  gate_resid, gate_q)``: fused E-step on a chunk of rows (a Numba kernel),
  writing responsibilities, per-sample log-likelihoods, the gate residual and
  the per-row gate objective.
* ``new_stats(n_columns)`` / ``accumulate(stats, params, X1c, target_c,
  soft_weight)``: additive sufficient statistics of one data pass at the
  current ``params`` (``soft_weight`` is ``w_i r_ik``). Being sums, they can
  be computed per chunk or per worker and added.
* ``mstep(stats, params, collapsed, context=None)``: new parameters from the
  statistics (``params=None`` at initialisation); experts flagged
  ``collapsed`` keep their parameters. ``context`` (an ``MStepContext``)
  gives iterative M-steps access to the data; without it the M-step must
  still not lower the objective (one pass per iteration, as distributed EM
  needs).
* ``iterative``: whether repeating the M-step on the same responsibilities
  improves it further (used at initialisation).
* ``penalty(params)``: the penalty subtracted from the log-likelihood in
  the objective EM never decreases.
* ``n_free_params(n_features)``: free parameters, for BIC/AIC.

Gradient solvers (``skmoe._objective``) also use ``grad_keys``,
``to_free``/``from_free`` (unconstrained parameters, e.g. log-variances),
``free_lower_bounds``, ``loglik_grad`` and ``penalty_grad``.
"""


class ExpertFamily:
    """Base class of expert families (documentation of the protocol)."""

    kind = None
    #: ``True``: experts use all design columns; ``False``: intercept only
    #: (constant experts). Set per instance by the families.
    linear = True

    def _q(self, n_columns):
        """Design columns an expert uses."""
        return n_columns if self.linear else 1

    def _inputs(self, X1):
        """The expert's view of the design matrix."""
        return X1 if self.linear else X1[:, :1]

    def n_free_params(self, n_features):  # pragma: no cover - abstract
        raise NotImplementedError

    def estep_chunk(
        self, params, X1c, target_c, weight_c, logits, resp, log_norm, gate_resid, gate_q
    ):  # pragma: no cover - abstract
        raise NotImplementedError

    def new_stats(self, n_columns):  # pragma: no cover - abstract
        raise NotImplementedError

    iterative = False

    def accumulate(self, stats, params, X1c, target_c, soft_weight):  # pragma: no cover
        raise NotImplementedError

    def mstep(self, stats, params, collapsed, context=None):  # pragma: no cover
        raise NotImplementedError

    def penalty(self, params):  # pragma: no cover - abstract
        raise NotImplementedError

    def free_lower_bounds(self):
        """Lower bounds of free parameters by key (absent keys are unbounded)."""
        return {}

    def free_upper_bounds(self):
        """Upper bounds of free parameters by key (absent keys are unbounded)."""
        return {}
