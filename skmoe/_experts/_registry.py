"""The expert registry: every value of the estimators' ``expert`` parameter.

An entry says, for one ``expert`` value (a name, or ``"estimator"`` for any
estimator instance), which tasks it serves, how it is checked, how its
family (mean function x likelihood head) is made, how its fitted
parameters are exported as public attributes, which attributes those are,
and how a restart starts. The estimators and the engine look entries up
(:func:`expert_entry`) instead of branching on the name; adding an expert
family is one module and one line in ``EXPERTS``.

``target`` arguments are target codecs (``skmoe._targets``); entries use
only: Gaussian codec ``scaler`` (``mean_``, ``scale_``), ``n_outputs``,
``squeeze`` (``y`` was 1-D); categorical codec ``classes``, ``n_classes``.

Starts (``start_for(solver)``):

* ``"search"``: the start search of ``skmoe._start.StartSearch.search``
  with the family itself (linear, constant, logistic);
* ``"proxy"``: the start search with the ``proxy_name[task]`` experts, whose
  gate is kept and whose responsibilities on the data seed the family's
  ``init_params(design, resp, rng, ridge=proxy_init_ridge)`` (mlp with
  L-BFGS; estimator experts);
* ``"flat"``: a near-uniform gate and every expert fitted to uniform
  responsibilities by ``init_params(..., ridge=flat_init_ridge)`` (mlp with
  the solvers in ``flat_solvers``, i.e. Adam).
"""

from dataclasses import dataclass, field

import numpy as np
from sklearn.base import is_classifier, is_regressor
from sklearn.utils.validation import has_fit_parameter

from . import _heads
from ._categorical import CategoricalExperts
from ._estimator import EstimatorExperts
from ._gaussian import GaussianExperts
from ._heads import CategoricalHead, GaussianHead, StudentTHead
from ._mlp import ADAM_INIT_RIDGE, INIT_RIDGE, MLPExperts
from ._student import StudentTExperts

REGRESSION = "regression"
CLASSIFICATION = "classification"
_ESTIMATOR_CLASS = {REGRESSION: "MixtureOfExpertsRegressor",
                    CLASSIFICATION: "MixtureOfExpertsClassifier"}
_TASK_EXPERT = {REGRESSION: "a regression expert", CLASSIFICATION: "a classifier expert"}


def task_of(target):
    """``"classification"`` for a categorical codec (``classes``), else ``"regression"``."""
    return CLASSIFICATION if hasattr(target, "classes") else REGRESSION


def variance_prior(target, alpha):
    """The Gaussian head's variance prior ``(rows, var0)`` for ``alpha``, or None.

    ``VAR_PRIOR_ROWS * alpha`` pseudo-rows with squared residual
    ``VAR_PRIOR_SHARE`` times the codec's ``residual_var`` (the residual
    variance of a one-expert ridge fit, learned with the scaling; None
    before it is known).
    """
    residual_var = getattr(target, "residual_var", None)
    if residual_var is None or alpha == 0:
        return None
    return (_heads.VAR_PRIOR_ROWS * float(alpha),
            _heads.VAR_PRIOR_SHARE * np.asarray(residual_var))


def head_of(target, alpha=0.0):
    """The likelihood head of a target codec (with the variance prior of ``alpha``)."""
    if task_of(target) == CLASSIFICATION:
        return CategoricalHead(target.n_classes)
    return GaussianHead(target.n_outputs, prior=variance_prior(target, alpha))


@dataclass(frozen=True)
class ExpertEntry:
    """One value of ``expert``: checks, family, export, attributes, start.

    Attributes
    ----------
    name : str
        The ``expert`` string, or ``"estimator"``.
    tasks : tuple of str
        ``"regression"`` and/or ``"classification"``.
    attributes : tuple of str
        Public fitted attributes the entry's export may set.
    start : {"search", "proxy"}
        How a restart starts (see the module docstring).
    flat_solvers : tuple of str
        Solvers for which it starts flat instead.
    proxy_name : dict or None
        Task -> name of the entry whose experts run the start search
        (``start="proxy"``).
    proxy_init_ridge, flat_init_ridge : float or None
        ``ridge`` passed to ``family.init_params`` after a proxy / flat
        start; ``flat_init_ridge=None``: a flat start takes one M-step
        (``params_from_resp``) instead.
    keep_best : bool
        EM keeps the best iterate (M-steps that may lower the objective).
    """

    name: str
    tasks: tuple
    _make: object = field(repr=False)
    _export: object = field(repr=False)
    attributes: tuple = ()
    start: str = "search"
    flat_solvers: tuple = ()
    proxy_name: dict = None
    proxy_init_ridge: float = None
    flat_init_ridge: float = None
    keep_best: bool = False

    def check(self, expert, task):
        """``ValueError``/``TypeError`` if ``expert`` cannot serve ``task``."""
        if task not in self.tasks:
            names = [e.name for e in EXPERTS.values() if task in e.tasks and e.start == "search"]
            raise ValueError(
                f"expert={self.name!r} is {_TASK_EXPERT[self.tasks[0]]}; "
                f"{_ESTIMATOR_CLASS[task]} takes expert="
                + " or ".join(repr(n) for n in names) + "."
            )

    def make(self, expert, *, n_experts, target, alpha, expert_hidden, seed, n_jobs,
             oof_variance=True, distribution="gaussian"):
        """The expert family (standardised units) for ``target``."""
        check_distribution(distribution, expert)
        return self._make(expert, n_experts=n_experts, target=target, alpha=alpha,
                          expert_hidden=expert_hidden, seed=seed, n_jobs=n_jobs,
                          oof_variance=oof_variance, distribution=distribution)

    def export(self, params, x_scaler, target):
        """Public fitted attributes ``{name: value}`` of the experts' ``params``."""
        return self._export(params, x_scaler, target)

    def start_for(self, solver):
        """``"search"``, ``"proxy"`` or ``"flat"`` for ``solver``."""
        return "flat" if solver in self.flat_solvers else self.start


class _EstimatorEntry(ExpertEntry):
    def check(self, expert, task):
        _check_estimator_expert(expert, task == CLASSIFICATION)


# -- makers ---------------------------------------------------------------------


def _describe(expert):
    return f"expert={expert!r}" if isinstance(expert, str) else f"expert={type(expert).__name__}()"


def _make_linear(expert, *, n_experts, target, alpha, distribution="gaussian", **_):
    if task_of(target) == CLASSIFICATION:
        return CategoricalExperts(n_experts, target.n_classes, linear=True, alpha=alpha)
    family = StudentTExperts if distribution == "student_t" else GaussianExperts
    return family(n_experts, target.n_outputs, linear=True, alpha=alpha,
                  prior=variance_prior(target, alpha))


def _make_constant(expert, *, n_experts, target, alpha, distribution="gaussian", **_):
    if task_of(target) == CLASSIFICATION:
        return CategoricalExperts(n_experts, target.n_classes, linear=False, alpha=alpha)
    family = StudentTExperts if distribution == "student_t" else GaussianExperts
    return family(n_experts, target.n_outputs, linear=False, alpha=alpha,
                  prior=variance_prior(target, alpha))


def _make_mlp(expert, *, n_experts, target, alpha, expert_hidden, **_):
    return MLPExperts(n_experts, expert_hidden, head_of(target, alpha), alpha)


def _make_estimator(expert, *, n_experts, target, alpha, seed, n_jobs, oof_variance, **_):
    return EstimatorExperts(expert, n_experts, head_of(target, alpha), seed=seed, n_jobs=n_jobs,
                            oof_variance=oof_variance)


# -- exports --------------------------------------------------------------------


def _head_export(params, target):
    if task_of(target) == CLASSIFICATION:
        return {}
    head = StudentTHead if "df" in params else GaussianHead
    return head(target.n_outputs).export(params, target)


def _export_coef(params, x_scaler, target, slopes_too):
    """``expert_coef_`` (linear experts) and ``expert_intercept_`` in the user's units."""
    sx, mx = x_scaler.scale_, x_scaler.mean_
    coef = params["coef"]  # (K, o, q)
    out = {}
    if task_of(target) == CLASSIFICATION:
        if target.n_classes == 2:
            # one row per expert: the log-odds of classes[1], as LogisticRegression
            coef = coef[:, 1:, :] - coef[:, :1, :]
        intercept = coef[:, :, 0]
        if slopes_too:
            slopes = coef[:, :, 1:] / sx
            intercept = intercept - slopes @ mx
            out["expert_coef_"] = slopes
        out["expert_intercept_"] = intercept
        return out
    sy, my = target.scaler.scale_, target.scaler.mean_
    squeeze = target.squeeze
    intercept = sy * coef[:, :, 0] + my
    if slopes_too:
        slopes = sy[None, :, None] * coef[:, :, 1:] / sx
        intercept = intercept - np.einsum("kmd,d->km", slopes, mx)
        out["expert_coef_"] = slopes[:, 0, :] if squeeze else slopes
    out["expert_intercept_"] = intercept[:, 0] if squeeze else intercept
    return {**_head_export(params, target), **out}


def _export_linear(params, x_scaler, target):
    return _export_coef(params, x_scaler, target, slopes_too=True)


def _export_constant(params, x_scaler, target):
    return _export_coef(params, x_scaler, target, slopes_too=False)


def _export_mlp(params, x_scaler, target):
    return _head_export(params, target)


def _export_estimator(params, x_scaler, target):
    return {**_head_export(params, target), "experts_": list(params["models"])}


# -- the estimator-instance check -------------------------------------------------


def _check_estimator_expert(expert, classifier):
    """An estimator expert must take ``sample_weight`` (and ``predict_proba``)."""
    name = type(expert).__name__
    try:
        is_classifier(expert)
    except (AttributeError, TypeError) as exc:
        raise TypeError(
            f"expert={name}() is not a scikit-learn estimator ({exc}); give a "
            "BaseEstimator subclass with fit(X, y, sample_weight) and predict."
        ) from exc
    if classifier and not is_classifier(expert):
        raise ValueError(
            f"expert={name}() is not a classifier; MixtureOfExpertsClassifier needs "
            "classifier experts with predict_proba."
        )
    if not classifier and is_classifier(expert):
        raise ValueError(
            f"expert={name}() is a classifier; MixtureOfExpertsRegressor needs "
            "regressor experts."
        )
    if not (classifier or is_regressor(expert) or hasattr(expert, "predict")):
        raise ValueError(f"expert={name}() has no predict method.")
    if not has_fit_parameter(expert, "sample_weight"):
        raise ValueError(
            f"expert={name}() does not accept sample_weight in fit; estimator experts are "
            "fitted with the responsibilities as sample weights. Choose an estimator "
            "whose fit takes sample_weight."
        )
    if classifier and not hasattr(expert, "predict_proba"):
        raise ValueError(
            f"expert={name}() has no predict_proba; classifier experts must give class "
            "probabilities."
        )


# -- the registry -------------------------------------------------------------------

_BOTH = (REGRESSION, CLASSIFICATION)
_PROXY = {REGRESSION: "linear", CLASSIFICATION: "logistic"}
_COEF = ("expert_coef_", "expert_intercept_", "expert_var_", "expert_df_")
_INTERCEPT = ("expert_intercept_", "expert_var_", "expert_df_")
#: the entries that take ``expert_distribution="student_t"``
DISTRIBUTION_EXPERTS = ("linear", "constant")
#: the regressor's ``expert_distribution`` values
DISTRIBUTIONS = ("gaussian", "student_t")

#: name -> entry. The order is that of the messages.
EXPERTS = {
    entry.name: entry
    for entry in (
        ExpertEntry("linear", (REGRESSION,), _make_linear, _export_linear, _COEF),
        ExpertEntry("logistic", (CLASSIFICATION,), _make_linear, _export_linear, _COEF),
        ExpertEntry("constant", _BOTH, _make_constant, _export_constant, _INTERCEPT),
        ExpertEntry("mlp", _BOTH, _make_mlp, _export_mlp, ("expert_var_",), start="proxy",
                    flat_solvers=("adam",), proxy_name=_PROXY, proxy_init_ridge=INIT_RIDGE,
                    flat_init_ridge=ADAM_INIT_RIDGE),
        _EstimatorEntry("estimator", _BOTH, _make_estimator, _export_estimator,
                        ("experts_", "expert_var_"), start="proxy", proxy_name=_PROXY,
                        keep_best=True),
    )
}


def check_distribution(distribution, expert):
    """``ValueError`` unless the experts ``expert`` come with ``distribution``."""
    if distribution != "gaussian" and expert_entry(expert).name not in DISTRIBUTION_EXPERTS:
        raise ValueError(
            f"expert_distribution={distribution!r} is supported for expert="
            + " or ".join(repr(n) for n in DISTRIBUTION_EXPERTS)
            + f", not for {_describe(expert)}."
        )


def expert_entry(expert):
    """The entry of an ``expert`` value: a registered name, or any estimator instance."""
    if isinstance(expert, str):
        try:
            return EXPERTS[expert]
        except KeyError:
            raise ValueError(
                f"expert={expert!r} is not one of {sorted(expert_names())}."
            ) from None
    return EXPERTS["estimator"]


def expert_names(task=None):
    """The ``expert`` strings (for ``task``, or all): ``_parameter_constraints``, messages."""
    return [
        name for name, entry in EXPERTS.items()
        if name != "estimator" and (task is None or task in entry.tasks)
    ]


def expert_attributes():
    """Every public fitted attribute an entry's export may set."""
    names = []
    for entry in EXPERTS.values():
        names += [a for a in entry.attributes if a not in names]
    return tuple(names)
