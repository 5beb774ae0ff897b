"""Input validation: bad inputs and degenerate data, across solver/expert configurations.

Two tables:

1. ``test_bad_input``: inputs and hyper-parameters that must be refused with a
   ``ValueError`` / ``TypeError`` naming the problem (API.md, "Errors"), for a
   representative set of configurations; ``test_accepted_input``: inputs that
   must work (float32, read-only memory maps, pandas nullable dtypes, lists).
2. ``test_degenerate_data_fits``: degenerate but legal data that must still
   give a finite model with ``n_experts`` entries everywhere.
3. ``test_extreme_hyper_parameters``: legal but extreme settings: a finite
   model or a ``ValueError`` naming the parameter.
4. ``test_hyper_parameters_changed_after_fit``: ``warm_start``, ``partial_fit``,
   prediction and refits after ``set_params(n_experts=...)`` / ``(expert=...)``.

A case that fails because skmoe misbehaves is kept and marked
``xfail(strict=True, reason="BUG: ...")``.
"""

import copy
import re
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._synthetic import gated_linear

# -- configurations ------------------------------------------------------------

#: Shared by every configuration: small, fast, deterministic.
BASE = dict(n_experts=2, max_iter=10, random_state=0, expert_hidden=4, batch_size=32)

REG_CONFIGS = {
    "linear-em": dict(),
    "constant-em": dict(expert="constant"),
    "linear-lbfgs": dict(solver="lbfgs"),
    "linear-adam": dict(solver="adam"),
    "mlp-lbfgs": dict(expert="mlp"),
    "mlp-adam": dict(expert="mlp", solver="adam"),
    "sparse-top1": dict(n_experts=3, top_k=1),
    "ridge-em": dict(expert=Ridge()),
    "tree-em": dict(expert=DecisionTreeRegressor(max_depth=2)),
}
CLF_CONFIGS = {
    "logistic-em": dict(),
    "constant-em": dict(expert="constant"),
    "logistic-lbfgs": dict(solver="lbfgs"),
    "logistic-adam": dict(solver="adam"),
    "mlp-lbfgs": dict(expert="mlp"),
    "sparse-top1": dict(n_experts=3, top_k=1),
    "logreg-em": dict(expert=LogisticRegression()),
    "tree-em": dict(expert=DecisionTreeClassifier(max_depth=2)),
}

#: Configurations the bad-input table runs over.
BAD_REG = ["linear-em", "constant-em", "mlp-lbfgs", "linear-adam", "sparse-top1", "ridge-em"]
BAD_CLF = ["logistic-em", "mlp-lbfgs", "sparse-top1", "logreg-em"]

#: Configurations the degenerate-data table runs over.
DEG_REG = ["linear-em", "constant-em", "linear-lbfgs", "linear-adam", "mlp-lbfgs",
           "sparse-top1", "ridge-em"]
DEG_CLF = ["logistic-em", "sparse-top1", "tree-em"]


def make(kind, config, **overrides):
    """A fresh estimator of ``kind`` ("reg" / "clf") in configuration ``config``."""
    cls, configs = ((MixtureOfExpertsRegressor, REG_CONFIGS) if kind == "reg"
                    else (MixtureOfExpertsClassifier, CLF_CONFIGS))
    params = {**BASE, **configs[config], **overrides}
    return clone(cls(**params))


def _is_estimator_expert(config, kind):
    configs = REG_CONFIGS if kind == "reg" else CLF_CONFIGS
    return not isinstance(configs[config].get("expert", "x"), str)


def fail_concisely(exc, prefix=""):
    """``pytest.fail`` naming the exception and where skmoe raised it, without a traceback.

    Formatting deep library tracebacks costs pytest about 0.1 s per failed or xfailed
    test; the innermost frame is all a reader of this table needs.
    """
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    where = f"{frame.filename.split('/site-packages/')[-1]}:{frame.lineno} in {frame.name}"
    pytest.fail(f"{prefix}{type(exc).__name__}: {exc} [raised at {where}]", pytrace=False)


@contextmanager
def concise():
    """Turn an unexpected exception into a short failure (see :func:`fail_concisely`)."""
    try:
        yield
    except AssertionError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported, not swallowed
        fail_concisely(exc)


# -- clean data ----------------------------------------------------------------

_rng = np.random.RandomState(0)
X_CLEAN = _rng.uniform(-2, 2, size=(40, 2))
Y_REG = np.where(X_CLEAN[:, 0] < 0, 2 * X_CLEAN[:, 1], -X_CLEAN[:, 1] + 1) + 0.1 * _rng.normal(
    size=40)
Y_CLF = np.where(X_CLEAN[:, 0] * X_CLEAN[:, 1] > 0, "same", "diff")


def clean_y(kind):
    return Y_REG if kind == "reg" else Y_CLF


def fit_quiet(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        return est.fit(X, y, **kwargs)


_FITTED = {}


def fitted(kind, config):
    """A deep copy of a model fitted on the clean data (cached per configuration)."""
    key = (kind, config)
    if key not in _FITTED:
        _FITTED[key] = fit_quiet(make(kind, config), X_CLEAN, clean_y(kind))
    return copy.deepcopy(_FITTED[key])


# -- 1. bad input --------------------------------------------------------------


def _with(arr, index, value, dtype=float):
    out = np.array(arr, dtype=dtype, copy=True)
    out[index] = value
    return out


@dataclass
class Bad:
    """One bad-input case: ``act(kind, config)`` must raise ``error`` matching ``match``."""

    name: str
    act: object
    error: object
    match: str
    kinds: tuple = ("reg", "clf")
    only: tuple = ()  # restrict to these configurations (empty: all of the table)
    #: "kind:config", "config", "kind:*" or "*" -> reason (the first key that matches)
    bugs: dict = field(default_factory=dict)


def fit_with(X=None, y=None, **fit_kwargs):
    """Action: fit a fresh estimator on (X, y) (clean data where None)."""

    def act(kind, config, params=None):
        est = make(kind, config, **(params or {}))
        Xa = X_CLEAN if X is None else (X(kind) if callable(X) else X)
        ya = clean_y(kind) if y is None else (y(kind) if callable(y) else y)
        fit_quiet(est, Xa, ya, **fit_kwargs)

    return act


def fit_params(**params):
    """Action: fit on clean data with ``params`` overriding the configuration."""

    def act(kind, config):
        fit_quiet(make(kind, config, **params), X_CLEAN, clean_y(kind))

    return act


def on_fitted(method, *args_factory):
    """Action: call ``method`` of a fitted model with arguments built per kind."""

    def act(kind, config):
        model = fitted(kind, config)
        if not hasattr(model, method):
            pytest.skip(f"{type(model).__name__} has no {method}")
        args = [a(kind) if callable(a) else a for a in args_factory]
        getattr(model, method)(*args)

    return act


X3 = np.ones((5, 3))
NAN_X = _with(X_CLEAN, (3, 1), np.nan)
INF_X = _with(X_CLEAN, (5, 0), np.inf)
NEG_INF_X = _with(X_CLEAN, (5, 0), -np.inf)
SW_OK = np.ones(40)
STRINGS_X = np.array([["a", "b"]] * 40, dtype=object)


def nan_y(kind):
    if kind == "reg":
        return _with(Y_REG, 7, np.nan)
    return _with((Y_CLF == "same").astype(float), 7, np.nan)


def inf_y(kind):
    if kind == "reg":
        return _with(Y_REG, 7, np.inf)
    return _with((Y_CLF == "same").astype(float), 7, np.inf)


def one_class(kind):
    return np.full(40, "same") if kind == "clf" else Y_REG


def new_label_y(kind):
    return _with(Y_CLF, 0, "other", dtype=object).astype(str)


def partial_fit_unseen(kind, config):
    model = fitted(kind, config)
    if not hasattr(model, "partial_fit"):
        pytest.skip("no partial_fit for estimator experts")
    model.partial_fit(X_CLEAN, new_label_y(kind))


def partial_fit_first_unseen(kind, config):
    est = make(kind, config)
    est.partial_fit(X_CLEAN, new_label_y(kind), classes=["diff", "same"])


def partial_fit_first_no_classes(kind, config):
    est = make(kind, config)
    est.partial_fit(X_CLEAN, Y_CLF)


def partial_fit_first_one_class(kind, config):
    est = make(kind, config)
    est.partial_fit(X_CLEAN, np.full(40, "same"), classes=["same"])


def partial_fit_wrong_features(kind, config):
    model = fitted(kind, config)
    if not hasattr(model, "partial_fit"):
        pytest.skip("no partial_fit for estimator experts")
    model.partial_fit(np.hstack([X_CLEAN, X_CLEAN]), clean_y(kind))


def partial_fit_nan(kind, config):
    est = make(kind, config)
    if not hasattr(est, "partial_fit"):
        pytest.skip("no partial_fit for estimator experts")
    extra = {"classes": ["diff", "same"]} if kind == "clf" else {}
    est.partial_fit(NAN_X, clean_y(kind), **extra)


def partial_fit_negative_weight(kind, config):
    model = fitted(kind, config)
    if not hasattr(model, "partial_fit"):
        pytest.skip("no partial_fit for estimator experts")
    model.partial_fit(X_CLEAN, clean_y(kind), sample_weight=-SW_OK)


def partial_fit_too_few(kind, config):
    est = make(kind, config, n_experts=4)
    if not hasattr(est, "partial_fit"):
        pytest.skip("no partial_fit for estimator experts")
    extra = {"classes": ["diff", "same"]} if kind == "clf" else {}
    est.partial_fit(X_CLEAN[:3], np.array(clean_y(kind))[[0, 1, 4]] if kind == "reg"
                    else np.array(["same", "diff", "same"]), **extra)


def estimator_partial_fit(kind, config):
    """Estimator experts have no partial_fit (``available_if``): the reason is the cause."""
    est = make(kind, config)
    assert not hasattr(est, "partial_fit")
    try:
        est.partial_fit(X_CLEAN, clean_y(kind))
    except AttributeError as exc:
        raise AttributeError(f"{exc} <- {exc.__cause__}") from exc


def unseen_label_other_type(kind, config):
    """Fitted on string labels, scored with integer labels."""
    model = fitted(kind, config)
    model.log_likelihood(X_CLEAN, np.arange(40) % 2)


def dataframe_renamed(kind, config):
    pd = pytest.importorskip("pandas")
    est = make(kind, config)
    fit_quiet(est, pd.DataFrame(X_CLEAN, columns=["a", "b"]), clean_y(kind))
    est.predict(pd.DataFrame(X_CLEAN, columns=["a", "c"]))


def dataframe_with_na(kind, config):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X_CLEAN, columns=["a", "b"]).astype(pd.Float64Dtype())
    df.iloc[2, 1] = pd.NA
    fit_quiet(make(kind, config), df, clean_y(kind))


def sparse_at_predict(kind, config):
    fitted(kind, config).predict(sp.csr_matrix(X_CLEAN))


def too_few_samples(kind, config):
    y = Y_REG[:3] if kind == "reg" else np.array(["same", "diff", "same"])
    fit_quiet(make(kind, config, n_experts=4), X_CLEAN[:3], y)


def too_few_positive_weight(kind, config):
    sw = np.r_[1.0, 1.0, np.zeros(38)]
    y = clean_y(kind).copy()
    if kind == "clf":
        y[:2] = ["same", "diff"]
    fit_quiet(make(kind, config, n_experts=3 if config != "sparse-top1" else 4), X_CLEAN, y,
              sample_weight=sw)


def wrong_feature_count(method):
    return on_fitted(method, X3, lambda kind: clean_y(kind)[:5])


def bic_wrong_features(kind, config):
    fitted(kind, config).bic(X3, clean_y(kind)[:5])


def sparse_y(kind):
    if kind == "reg":
        return sp.csr_matrix(Y_REG[:, None])
    return sp.csr_matrix((Y_CLF == "same").astype(np.int64)[:, None])


def series_y_with_na(kind, config):
    pd = pytest.importorskip("pandas")
    if kind == "reg":
        y = pd.Series(pd.array(Y_REG, dtype=pd.Float64Dtype()))
    else:
        y = pd.Series(pd.array((Y_CLF == "same").astype(int), dtype=pd.Int64Dtype()))
    y[3] = pd.NA
    fit_quiet(make(kind, config), X_CLEAN, y)


class FitPredictOnly:
    """Has ``fit(X, y, sample_weight)``, ``predict`` and ``predict_proba`` but is not a
    scikit-learn estimator (no ``BaseEstimator``: no tags, no ``get_params``)."""

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.zeros(len(X))

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


FEATURES_MSG = "X has 3 features, but .* is expecting 2 features"
PARAM_MSG = "The '{}' parameter of MixtureOf.* must be"

BAD_CASES = [
    # non-finite values
    Bad("nan-X", fit_with(X=NAN_X), ValueError, "Input X contains NaN"),
    Bad("inf-X", fit_with(X=INF_X), ValueError, "Input X contains infinity"),
    Bad("neg-inf-X", fit_with(X=NEG_INF_X), ValueError, "Input X contains infinity"),
    Bad("nan-y", fit_with(y=nan_y), ValueError, "Input y contains NaN"),
    Bad("inf-y", fit_with(y=inf_y), ValueError, "Input y contains infinity"),
    Bad("nan-sample_weight", fit_with(sample_weight=_with(SW_OK, 3, np.nan)), ValueError,
        "sample_weight contains NaN"),
    Bad("inf-sample_weight", fit_with(sample_weight=_with(SW_OK, 3, np.inf)), ValueError,
        "sample_weight contains (NaN or )?infinity"),
    Bad("nan-X-at-predict", on_fitted("predict", NAN_X), ValueError, "Input X contains NaN"),
    Bad("inf-X-at-log_likelihood", on_fitted("log_likelihood", INF_X, clean_y), ValueError,
        "Input X contains infinity"),
    Bad("nan-y-at-log_likelihood", on_fitted("log_likelihood", X_CLEAN, nan_y), ValueError,
        "Input y contains NaN"),
    Bad("pandas-NA-in-X", dataframe_with_na, ValueError, "Input X contains NaN"),
    # shapes
    Bad("empty-X", fit_with(X=np.empty((0, 2)), y=lambda kind: clean_y(kind)[:0]), ValueError,
        r"0 sample\(s\)"),
    Bad("zero-features", fit_with(X=np.empty((40, 0))), ValueError, r"0 feature\(s\)"),
    Bad("1d-X", fit_with(X=X_CLEAN[:, 0]), ValueError, "Expected 2D array"),
    Bad("3d-X", fit_with(X=X_CLEAN[:, :, None]), ValueError, "dim 3"),
    Bad("y-too-short", fit_with(y=lambda kind: clean_y(kind)[:-1]), ValueError,
        "inconsistent numbers of samples"),
    Bad("2d-y-classifier", fit_with(y=lambda kind: np.c_[Y_CLF, Y_CLF]), ValueError,
        "1d array|multilabel|multiclass-multioutput|not supported", kinds=("clf",)),
    Bad("sample_weight-wrong-length", fit_with(sample_weight=np.ones(39)), ValueError,
        r"sample_weight.shape == \(39,\), expected \(40,\)"),
    Bad("sample_weight-2d", fit_with(sample_weight=np.ones((40, 2))), ValueError,
        "Sample weights must be 1D"),
    # dtypes
    Bad("complex-X", fit_with(X=X_CLEAN.astype(complex)), ValueError, "Complex data not supported"),
    Bad("string-object-X", fit_with(X=STRINGS_X), ValueError, "could not convert string to float"),
    Bad("string-object-y-regressor", fit_with(y=np.array(["a"] * 40, dtype=object)), ValueError,
        "could not convert string to float", kinds=("reg",)),
    Bad("continuous-y-classifier", fit_with(y=np.linspace(0, 1, 40)), ValueError,
        "Unknown label type", kinds=("clf",)),
    Bad("scipy-sparse-X", fit_with(X=sp.csr_matrix(X_CLEAN)), TypeError, "[Ss]parse"),
    Bad("scipy-sparse-X-at-predict", sparse_at_predict, TypeError, "[Ss]parse"),
    Bad("scipy-sparse-y", fit_with(y=sparse_y), TypeError, "[Ss]parse"),
    Bad("pandas-NA-in-y", series_y_with_na, ValueError, "Input y contains NaN"),
    # feature-count mismatch after fit
    Bad("features-predict", on_fitted("predict", X3), ValueError, FEATURES_MSG),
    Bad("features-predict_proba", on_fitted("predict_proba", X3), ValueError, FEATURES_MSG,
        kinds=("clf",)),
    Bad("features-predict_log_proba", on_fitted("predict_log_proba", X3), ValueError,
        FEATURES_MSG, kinds=("clf",)),
    Bad("features-log_likelihood", wrong_feature_count("log_likelihood"), ValueError,
        FEATURES_MSG),
    Bad("features-gate_proba", on_fitted("gate_proba", X3), ValueError, FEATURES_MSG),
    Bad("features-predict_experts", on_fitted("predict_experts", X3), ValueError, FEATURES_MSG),
    Bad("features-sample_y", on_fitted("sample_y", X3), ValueError, FEATURES_MSG,
        kinds=("reg",)),
    Bad("features-score", wrong_feature_count("score"), ValueError, FEATURES_MSG),
    Bad("features-bic", bic_wrong_features, ValueError, FEATURES_MSG),
    Bad("features-partial_fit", partial_fit_wrong_features, ValueError,
        "X has 4 features, but .* is expecting 2 features"),
    Bad("feature-names-renamed-at-predict", dataframe_renamed, ValueError,
        "feature names should match"),
    # sample weights and sizes
    Bad("negative-sample_weight", fit_with(sample_weight=_with(SW_OK, 0, -1.0)), ValueError,
        "Negative values in data passed to `sample_weight`"),
    Bad("all-zero-sample_weight", fit_with(sample_weight=np.zeros(40)), ValueError,
        "at least one (non-zero|positive)"),
    Bad("fewer-samples-than-experts", too_few_samples, ValueError,
        r"n_samples=3 should be >= n_experts=4"),
    Bad("fewer-positive-weights-than-experts", too_few_positive_weight, ValueError,
        r"n_samples=2 with positive sample_weight should be >= n_experts"),
    # classes
    Bad("one-class", fit_with(y=one_class), ValueError, "only one class", kinds=("clf",)),
    Bad("unseen-class-log_likelihood", on_fitted("log_likelihood", X_CLEAN, new_label_y),
        ValueError, r"previously unseen labels: .*'other'", kinds=("clf",)),
    Bad("unseen-class-of-another-type-log_likelihood", unseen_label_other_type, ValueError,
        "previously unseen labels", kinds=("clf",)),
    Bad("unseen-class-partial_fit", partial_fit_unseen, ValueError,
        r"previously unseen labels: .*'other'", kinds=("clf",)),
    Bad("unseen-class-first-partial_fit", partial_fit_first_unseen, ValueError,
        r"previously unseen labels: .*'other'", kinds=("clf",),
        only=("logistic-em", "mlp-lbfgs", "sparse-top1")),
    Bad("no-classes-first-partial_fit", partial_fit_first_no_classes, ValueError,
        "classes must be passed on the first call", kinds=("clf",),
        only=("logistic-em", "mlp-lbfgs", "sparse-top1")),
    Bad("one-class-first-partial_fit", partial_fit_first_one_class, ValueError,
        "at least 2 classes", kinds=("clf",), only=("logistic-em", "mlp-lbfgs", "sparse-top1")),
    # partial_fit inputs
    Bad("nan-X-partial_fit", partial_fit_nan, ValueError, "Input X contains NaN"),
    Bad("negative-sample_weight-partial_fit", partial_fit_negative_weight, ValueError,
        "Negative values in data passed to `sample_weight`"),
    Bad("fewer-samples-than-experts-partial_fit", partial_fit_too_few, ValueError,
        r"n_samples=3 should be >= n_experts=4"),
    Bad("partial_fit-estimator-expert", estimator_partial_fit, AttributeError,
        "has no attribute 'partial_fit' <- partial_fit is not available with estimator-instance",
        only=("ridge-em", "logreg-em")),
    # hyper-parameters: every constructor parameter with a bad value
    *[
        Bad(f"param-{name}={value!r}", fit_params(**{name: value}), ValueError,
            PARAM_MSG.format(name))
        for name, value in [
            ("n_experts", 0), ("n_experts", 2.5), ("n_experts", "2"),
            ("expert", "tree"), ("expert", None), ("top_k", 0), ("top_k", 1.5),
            ("solver", "sgd"), ("noisy_gating", "yes"), ("load_balancing", -0.1),
            ("load_balancing", np.nan), ("alpha", -1.0), ("alpha", np.nan),
            ("gate_alpha", -1.0), ("gate_alpha", np.nan), ("expert_hidden", 0),
            ("max_iter", 0), ("max_iter", 1.5), ("tol", -1e-3), ("tol", np.nan),
            ("n_init", 0), ("init", "kmeans++"), ("batch_size", 0),
            ("learning_rate", 0.0), ("learning_rate", -1.0), ("learning_rate", np.nan),
            ("warm_start", "no"), ("random_state", "seed"), ("verbose", -1),
            ("n_jobs", 1.5), ("n_jobs", "all"),
        ]
    ],
    Bad("param-n_experts=True", fit_params(n_experts=True), (ValueError, TypeError),
        "n_experts|top_k=1 must be smaller"),
    Bad("param-n_init=True", fit_params(n_init=True), (ValueError, TypeError), "n_init"),
    Bad("param-n_jobs=0", fit_params(n_jobs=0), ValueError, "n_jobs == 0"),
    # unsupported combinations
    Bad("top_k=n_experts", fit_params(n_experts=2, top_k=2), ValueError,
        "top_k=2 must be smaller than n_experts=2"),
    Bad("top_k>n_experts", fit_params(n_experts=2, top_k=3), ValueError,
        "top_k=3 must be smaller than n_experts=2"),
    Bad("em-with-mlp", fit_params(expert="mlp", solver="em", top_k=None), ValueError,
        "solver='em' is not supported for expert='mlp'.*'lbfgs' or 'adam'"),
    Bad("lbfgs-with-top_k", fit_params(n_experts=3, top_k=1, solver="lbfgs"), ValueError,
        "solver='lbfgs' is not supported .*top_k=1; use solver='adam'",
        only=("linear-em", "constant-em", "mlp-lbfgs", "linear-adam", "sparse-top1",
              "logistic-em")),
    Bad("em-with-top_k", fit_params(n_experts=3, top_k=1, solver="em"), ValueError,
        "solver='em' is not supported .*top_k=1; use solver='adam'",
        only=("linear-em", "sparse-top1", "logistic-em")),
    Bad("estimator-expert-with-adam", fit_params(solver="adam"), ValueError,
        "solver='adam' is not supported for an estimator expert .*use solver='em'",
        only=("ridge-em", "logreg-em")),
    Bad("estimator-expert-with-lbfgs", fit_params(solver="lbfgs"), ValueError,
        "solver='lbfgs' is not supported for an estimator expert .*use solver='em'",
        only=("ridge-em", "logreg-em")),
    Bad("estimator-expert-with-top_k", fit_params(n_experts=3, top_k=1), ValueError,
        "an estimator expert with top_k=1 is not available", only=("ridge-em", "logreg-em")),
    Bad("regressor-given-classifier-expert", fit_params(expert=LogisticRegression()),
        ValueError, r"expert=LogisticRegression\(\) is a classifier", kinds=("reg",)),
    Bad("regressor-given-logistic", fit_params(expert="logistic"), ValueError,
        "expert='logistic' is a classifier expert", kinds=("reg",)),
    Bad("classifier-given-regressor-expert", fit_params(expert=Ridge()), ValueError,
        r"expert=Ridge\(\) is not a classifier", kinds=("clf",)),
    Bad("classifier-given-linear", fit_params(expert="linear"), ValueError,
        "expert='linear' is a regression expert", kinds=("clf",)),
    Bad("estimator-without-sample_weight", fit_params(expert=KNeighborsRegressor()), ValueError,
        r"expert=KNeighborsRegressor\(\) does not accept sample_weight", kinds=("reg",)),
    Bad("classifier-estimator-without-sample_weight", fit_params(expert=KNeighborsClassifier()),
        ValueError, r"expert=KNeighborsClassifier\(\) does not accept sample_weight",
        kinds=("clf",)),
    Bad("classifier-estimator-without-predict_proba", fit_params(expert=LinearSVC()), ValueError,
        r"expert=LinearSVC\(\) has no predict_proba", kinds=("clf",)),
    Bad("expert-not-an-estimator", fit_params(expert=object()), ValueError,
        "'expert' parameter"),
    Bad("expert-not-a-scikit-learn-estimator", fit_params(expert=FitPredictOnly()),
        (ValueError, TypeError), "not a scikit-learn estimator"),
]


def _bad_params():
    for case in BAD_CASES:
        for kind in case.kinds:
            configs = BAD_REG if kind == "reg" else BAD_CLF
            for config in configs:
                if case.only and config not in case.only:
                    continue
                marks = []
                # (sparse-top1 with n_experts=True stops at "top_k=1 must be smaller than
                # n_experts=True", which is fine: a None entry means "no bug here")
                reason = next((case.bugs[key] for key in (f"{kind}:{config}", config, f"{kind}:*",
                                                          "*") if key in case.bugs), None)
                if reason is not None:
                    marks.append(pytest.mark.xfail(strict=True, reason="BUG: " + reason))
                yield pytest.param(case, kind, config, id=f"{case.name}-{kind}-{config}",
                                   marks=marks)


@pytest.mark.parametrize("case, kind, config", list(_bad_params()))
def test_bad_input(case, kind, config):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            case.act(kind, config)
        except case.error as exc:
            message = str(exc)
            if not re.search(case.match, message):
                fail_concisely(exc, prefix="unclear message: ")
        except Exception as exc:  # noqa: BLE001
            fail_concisely(exc, prefix="wrong exception type: ")
        else:
            pytest.fail(f"no {case.error} raised", pytrace=False)
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert not runtime, [f"{w.filename}:{w.lineno}: {w.message}" for w in runtime]


# -- 1b. inputs that must work ---------------------------------------------------

ACCEPT_REG = ["linear-em", "mlp-lbfgs", "linear-adam", "sparse-top1", "ridge-em"]
ACCEPT_CLF = ["logistic-em", "sparse-top1", "logreg-em"]


def _float32(kind):
    X = X_CLEAN.astype(np.float32)
    return X, clean_y(kind), {}, X.astype(np.float64)


def _float32_y(kind):
    y = clean_y(kind)
    if kind == "reg":
        y = y.astype(np.float32)
    return X_CLEAN, y, {}, X_CLEAN


def _memmap(kind):
    from sklearn.utils._testing import create_memmap_backed_data

    X, y, sw = create_memmap_backed_data([X_CLEAN, clean_y(kind), np.ones(40)])
    assert not X.flags.writeable
    return X, y, {"sample_weight": sw}, X_CLEAN


_MEMMAP_DIR = None


def _memmap_np(kind):
    import os
    import tempfile

    global _MEMMAP_DIR
    if _MEMMAP_DIR is None:  # removed when the interpreter exits
        _MEMMAP_DIR = tempfile.TemporaryDirectory(prefix="skmoe-memmap-")
    path = os.path.join(_MEMMAP_DIR.name, "X.dat")
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=X_CLEAN.shape)
    mm[:] = X_CLEAN
    mm.flush()
    X = np.memmap(path, dtype=np.float64, mode="r", shape=X_CLEAN.shape)
    return X, clean_y(kind), {}, X_CLEAN


def _readonly_flag(kind):
    X = X_CLEAN.copy()
    X.setflags(write=False)
    y = np.array(clean_y(kind))
    y.setflags(write=False)
    return X, y, {}, X_CLEAN


def _fortran(kind):
    return np.asfortranarray(X_CLEAN), clean_y(kind), {}, X_CLEAN


def _strided(kind):
    wide = np.repeat(X_CLEAN, 2, axis=1)
    return wide[:, ::2], clean_y(kind), {}, X_CLEAN


def _pandas_nullable(kind):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": pd.array(X_CLEAN[:, 0], dtype=pd.Float64Dtype()),
                       "b": pd.array(np.round(X_CLEAN[:, 1] * 10), dtype=pd.Int64Dtype())})
    if kind == "reg":
        y = pd.Series(pd.array(Y_REG, dtype=pd.Float64Dtype()))
    else:
        y = pd.Series(pd.array((Y_CLF == "same").astype(int), dtype=pd.Int64Dtype()))
    X_ref = np.c_[X_CLEAN[:, 0], np.round(X_CLEAN[:, 1] * 10)]
    return df, y, {}, X_ref


def _pandas_categorical_y(kind):
    pd = pytest.importorskip("pandas")
    return X_CLEAN, pd.Series(pd.Categorical(Y_CLF)), {}, X_CLEAN


def _lists(kind):
    return X_CLEAN.tolist(), list(clean_y(kind)), {"sample_weight": [1.0] * 40}, X_CLEAN


def _int_X(kind):
    Xi = np.round(X_CLEAN * 10).astype(np.int64)
    return Xi, clean_y(kind), {}, Xi.astype(np.float64)


def _bool_y(kind):
    return X_CLEAN, Y_CLF == "same", {}, X_CLEAN


#: name -> (builder, kinds, configs: "all" of ACCEPT_REG / ACCEPT_CLF or a few)
_FEW = ("linear-em", "logistic-em", "sparse-top1")
ACCEPT_CASES = {
    "float32-X": (_float32, ("reg", "clf"), "all"),
    "memmap-readonly-X-y-weight": (_memmap, ("reg", "clf"), "all"),
    "np.memmap-mode-r": (_memmap_np, ("reg", "clf"), "all"),
    "pandas-nullable-Float64-Int64": (_pandas_nullable, ("reg", "clf"), "all"),
    "python-lists": (_lists, ("reg", "clf"), "all"),
    "float32-y": (_float32_y, ("reg",), _FEW),
    "readonly-ndarray-X-y": (_readonly_flag, ("reg", "clf"), _FEW),
    "fortran-order-X": (_fortran, ("reg", "clf"), _FEW),
    "strided-view-X": (_strided, ("reg", "clf"), _FEW),
    "pandas-categorical-y": (_pandas_categorical_y, ("clf",), _FEW),
    "int64-X": (_int_X, ("reg", "clf"), _FEW),
    "bool-y": (_bool_y, ("clf",), _FEW),
}
ACCEPT_BUGS = {}


_REFERENCE = {}


def _reference_fit(kind, config, X, y):
    """Fit on plain float64 arrays, cached by content (most cases share X_CLEAN)."""
    key = (kind, config, X.tobytes(), np.asarray(y).tobytes(), str(np.asarray(y).dtype))
    if key not in _REFERENCE:
        _REFERENCE[key] = fit_quiet(make(kind, config), X, y)
    return _REFERENCE[key]


def _accept_params():
    for name, (_, kinds, which) in ACCEPT_CASES.items():
        for kind in kinds:
            for config in (ACCEPT_REG if kind == "reg" else ACCEPT_CLF):
                if which != "all" and config not in which:
                    continue
                reason = ACCEPT_BUGS.get((name, kind, config))
                marks = [pytest.mark.xfail(strict=True, reason="BUG: " + reason)] if reason else []
                yield pytest.param(name, kind, config, id=f"{name}-{kind}-{config}", marks=marks)


@pytest.mark.parametrize("name, kind, config", list(_accept_params()))
def test_accepted_input(name, kind, config):
    X, y, fit_kwargs, X_ref = ACCEPT_CASES[name][0](kind)
    with warnings.catch_warnings(), concise():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        model = make(kind, config).fit(X, y, **fit_kwargs)
    # the same model as from the equivalent float64 ndarray
    y_ref = np.asarray(y, dtype=np.float64) if kind == "reg" else np.asarray(y)
    ref = _reference_fit(kind, config, X_ref, y_ref)
    with concise():
        out = model.predict_proba(X) if kind == "clf" else model.predict(X)
        ll = model.log_likelihood(X, y)
    assert np.all(np.isfinite(out))
    assert np.all(np.isfinite(ll))
    expected = ref.predict_proba(X_ref) if kind == "clf" else ref.predict(X_ref)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-9)
    if kind == "clf":
        np.testing.assert_array_equal(model.predict(X), ref.predict(X_ref).astype(
            model.classes_.dtype))


@pytest.mark.parametrize("name", ["memmap-readonly-X-y-weight", "pandas-nullable-Float64-Int64",
                                  "python-lists", "float32-X"])
@pytest.mark.parametrize("kind, config", [("reg", "linear-em"), ("reg", "sparse-top1"),
                                          ("clf", "logistic-em"), ("clf", "mlp-lbfgs")])
def test_accepted_input_partial_fit(name, kind, config):
    X, y, fit_kwargs, X_ref = ACCEPT_CASES[name][0](kind)
    model = make(kind, config)
    extra = {"classes": np.unique(np.asarray(y))} if kind == "clf" else {}
    with concise():
        model.partial_fit(X, y, **fit_kwargs, **extra)
        model.partial_fit(X, y, **fit_kwargs)
        out = model.predict_proba(X) if kind == "clf" else model.predict(X)
        ll = model.log_likelihood(X, y)
    assert np.all(np.isfinite(out))
    assert np.all(np.isfinite(ll))


# -- 2. degenerate data that must still fit --------------------------------------


def reg_data(case, K):
    """(X, y, overrides) for a degenerate regression case and ``K`` experts."""
    rng = np.random.RandomState(1)
    X = rng.normal(size=(40, 2))
    y = np.where(X[:, 0] > 0, X[:, 1], -2 * X[:, 1]) + 0.1 * rng.normal(size=40)
    if case == "constant-y":
        return X, np.full(40, 3.0), {}
    if case == "duplicated-rows":
        return np.r_[X[:20], X[:20]], np.r_[y[:20], y[:20]], {}
    if case == "identical-X-rows":
        return np.tile([[0.5, -1.0]], (40, 1)), y, {}
    if case == "identical-rows-and-y":
        return np.tile([[0.5, -1.0]], (40, 1)), np.full(40, 2.0), {}
    if case == "constant-feature":
        return np.c_[X[:, :1], np.full(40, 7.0)], y, {}
    if case == "collinear-features":
        return np.c_[X[:, 0], 3 * X[:, 0] - 1], y, {}
    if case == "n_samples==n_experts":
        return X[:K], y[:K], {}
    if case == "n_samples==n_experts+1":
        return X[:K + 1], y[:K + 1], {}
    if case == "y~1e9-X~1e-9":
        return X * 1e-9 + 3e-9, y * 1e9 + 2e9, {}
    if case == "outlier-y-1e12":
        return X, _with(y, 5, 1e12), {}
    if case == "6-experts-2-regimes":
        X2, y2, _ = gated_linear(120, n_regimes=2, n_features=2, seed=3)
        return X2, y2, {"n_experts": 6}
    if case == "X~1e160":
        return X * 1e160, y, {}
    if case == "y~1e160":
        return X, y * 1e160, {}
    return _weight_case(case, X, y)


def _weight_case(case, X, y):
    """Legal but extreme ``sample_weight`` (passed as the ``sample_weight`` override)."""
    n = len(X)
    if case == "one-row-weight-1e9":
        return X, y, {"sample_weight": np.r_[1e9, np.ones(n - 1)]}
    if case == "sample_weight*1e-200":
        return X, y, {"sample_weight": np.full(n, 1e-200)}
    if case == "sample_weight*1e200":
        return X, y, {"sample_weight": np.full(n, 1e200)}
    if case == "subnormal-sample_weight":
        return X, y, {"sample_weight": np.full(n, 5e-324)}
    raise KeyError(case)


def clf_data(case, K):
    rng = np.random.RandomState(2)
    X = rng.normal(size=(40, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, "a", "b")
    y[:2] = ["a", "b"]
    if case == "constant-feature":
        return np.c_[X[:, :1], np.full(40, -4.0)], y, {}
    if case == "duplicated-rows":
        return np.r_[X[:20], X[:20]], np.r_[y[:20], y[:20]], {}
    if case == "identical-X-rows":
        return np.tile([[0.5, -1.0]], (40, 1)), y, {}
    if case == "collinear-features":
        return np.c_[X[:, 0], -2 * X[:, 0] + 3], y, {}
    if case == "n_samples==n_experts":
        return X[:K], np.resize(["a", "b"], K), {}
    if case == "n_samples==n_experts+1":
        return X[:K + 1], np.resize(["a", "b"], K + 1), {}
    if case == "outlier-X-1e12":
        return _with(X, (5, 0), 1e12), y, {}
    if case == "X~1e-9":
        return X * 1e-9, y, {}
    if case == "separable":
        return X, np.where(X[:, 0] > 0, "a", "b"), {}
    if case == "single-sample-class":
        return X, np.r_[["c"], np.where(X[1:, 0] > 0, "a", "b")], {}
    if case == "6-experts-2-regimes":
        X2 = rng.normal(size=(120, 2))
        return X2, np.where(X2[:, 0] > 0, np.where(X2[:, 1] > 0, "a", "b"), "a"), {
            "n_experts": 6}
    if case == "X~1e160":
        return X * 1e160, y, {}
    return _weight_case(case, X, y)


REG_DEGENERATE = ["constant-y", "duplicated-rows", "identical-X-rows", "identical-rows-and-y",
                  "constant-feature", "collinear-features", "n_samples==n_experts",
                  "n_samples==n_experts+1", "y~1e9-X~1e-9", "outlier-y-1e12",
                  "6-experts-2-regimes", "X~1e160", "y~1e160", "one-row-weight-1e9",
                  "sample_weight*1e-200", "sample_weight*1e200", "subnormal-sample_weight"]
CLF_DEGENERATE = ["constant-feature", "duplicated-rows", "identical-X-rows",
                  "collinear-features", "n_samples==n_experts", "n_samples==n_experts+1",
                  "outlier-X-1e12", "X~1e-9", "separable", "single-sample-class",
                  "6-experts-2-regimes", "X~1e160", "one-row-weight-1e9",
                  "sample_weight*1e-200", "sample_weight*1e200", "subnormal-sample_weight"]

#: (kind, case, config) -> reason
DEGENERATE_BUGS = {}
#: cases that are rejected with a clear ValueError instead of fitted
#: (beyond float64: variances of y ~ 1e160 overflow; total weight ~1e-310
#: makes the per-sample objective divide by a subnormal)
DEGENERATE_REJECTED = {
    "y~1e160": "variances overflow float64",
    "subnormal-sample_weight": "sample_weight sums to",
}


#: (kind, case, config) -> warning categories seen (filled as the tests run)
WARNINGS_SEEN = {}


def _degenerate_params():
    for kind, cases, configs in [("reg", REG_DEGENERATE, DEG_REG),
                                 ("clf", CLF_DEGENERATE, DEG_CLF)]:
        for case in cases:
            for config in configs:
                reason = DEGENERATE_BUGS.get((kind, case, config))
                marks = [pytest.mark.xfail(strict=True, reason="BUG: " + reason)] if reason else []
                yield pytest.param(kind, case, config, id=f"{kind}-{case}-{config}", marks=marks)


def _check_finite_attributes(model, K):
    for name, value in vars(model).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if isinstance(value, float):
            assert np.isfinite(value), name
        elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert np.all(np.isfinite(value)), name
    # a collapsed expert is never removed
    for name in ["gate_coef_", "gate_intercept_", "expert_coef_", "expert_intercept_",
                 "expert_var_", "expert_load_", "experts_"]:
        if hasattr(model, name):
            assert len(getattr(model, name)) == K, name
    np.testing.assert_allclose(model.expert_load_.sum(), 1.0)


@pytest.mark.parametrize("kind, case, config", list(_degenerate_params()))
def test_degenerate_data_fits(kind, case, config, record_property):
    K = {**BASE, **(REG_CONFIGS if kind == "reg" else CLF_CONFIGS)[config]}["n_experts"]
    X, y, overrides = (reg_data if kind == "reg" else clf_data)(case, K)
    sample_weight = overrides.pop("sample_weight", None)
    K = overrides.get("n_experts", K)
    model = make(kind, config, **overrides)
    if case in DEGENERATE_REJECTED:
        with pytest.raises(ValueError, match=DEGENERATE_REJECTED[case]):
            model.fit(X, y, sample_weight=sample_weight)
        return
    with warnings.catch_warnings(record=True) as caught, concise():
        warnings.simplefilter("always")
        model.fit(X, y, sample_weight=sample_weight)
        g = model.gate_proba(X)
        ll = model.log_likelihood(X, y)
        if kind == "reg":
            mean, std = model.predict(X, return_std=True)
            experts = model.predict_experts(X)
            draws = model.sample_y(X[:3], n_samples=2, random_state=0)
            bic = model.bic(X, y)
        else:
            proba = model.predict_proba(X)
            log_proba = model.predict_log_proba(X)
            experts = model.predict_experts(X)
            labels = model.predict(X)
    seen = sorted({w.category.__name__ for w in caught})
    WARNINGS_SEEN[(kind, case, config)] = seen
    record_property("warnings", ",".join(seen))
    runtime = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught
               if issubclass(w.category, RuntimeWarning)]
    assert not runtime, runtime
    _check_finite_attributes(model, K)
    assert g.shape == (len(X), K)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g.sum(axis=1), 1.0, rtol=1e-10)
    assert np.all(np.isfinite(ll)), ll
    assert experts.shape[:2] == (len(X), K)
    assert np.all(np.isfinite(experts))
    if kind == "reg":
        assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std >= 0)
        assert np.all(np.isfinite(draws))
        assert np.isfinite(bic)
    else:
        assert np.all(np.isfinite(proba))
        assert np.all((proba >= 0) & (proba <= 1))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-10)
        assert not np.any(np.isnan(log_proba))
        assert set(labels) <= set(model.classes_)


# -- 3. extreme but legal hyper-parameters -----------------------------------------
# Each must give a finite model, or a ValueError that names the parameter; never a
# FloatingPointError from the final check, a RuntimeWarning or NaN.

EXTREME_CASES = [
    ("reg", "linear-adam", {"learning_rate": 1e3}),
    ("reg", "mlp-adam", {"learning_rate": 1e3}),
    ("reg", "sparse-top1", {"learning_rate": 1e2}),
    ("reg", "sparse-top1", {"learning_rate": 1e3}),
    ("clf", "logistic-adam", {"learning_rate": 1e3}),
    ("clf", "sparse-top1", {"learning_rate": 1e2}),
    ("clf", "sparse-top1", {"learning_rate": 1e3}),
    ("reg", "linear-em", {"alpha": 1e300, "gate_alpha": 1e300}),
    ("reg", "linear-lbfgs", {"alpha": 1e300, "gate_alpha": 1e300}),
    ("reg", "sparse-top1", {"alpha": 1e300, "gate_alpha": 1e300, "load_balancing": 1e300}),
    ("clf", "logistic-em", {"alpha": 1e300, "gate_alpha": 1e300}),
    ("reg", "linear-adam", {"batch_size": 1, "max_iter": 2}),
    ("reg", "sparse-top1", {"batch_size": 1, "max_iter": 2}),
    ("reg", "linear-em", {"max_iter": 1, "n_init": 3, "init": "random"}),
    ("clf", "logistic-em", {"max_iter": 1, "n_init": 3, "init": "random"}),
    ("reg", "mlp-lbfgs", {"expert_hidden": 1}),
    ("reg", "linear-em", {"tol": 0.0}),
]
EXTREME_BUGS = {}


def _extreme_id(kind, config, params):
    return "-".join([kind, config, *(f"{k}={v!r}" for k, v in params.items())])


def _extreme_params():
    for kind, config, params in EXTREME_CASES:
        key = (kind, config, ",".join(f"{k}={v!r}" for k, v in params.items()))
        reason = EXTREME_BUGS.get(key)
        marks = [pytest.mark.xfail(strict=True, reason="BUG: " + reason)] if reason else []
        yield pytest.param(kind, config, params, id=_extreme_id(kind, config, params),
                           marks=marks)


@pytest.mark.parametrize("kind, config, params", list(_extreme_params()))
def test_extreme_hyper_parameters(kind, config, params):
    model = make(kind, config, **params)
    y = clean_y(kind)
    with warnings.catch_warnings(record=True) as caught, concise():
        warnings.simplefilter("always")
        try:
            model.fit(X_CLEAN, y)
        except ValueError as exc:
            if not any(name in str(exc) for name in params):
                fail_concisely(exc, prefix="unclear message: ")
            return
        out = model.predict_proba(X_CLEAN) if kind == "clf" else model.predict(X_CLEAN)
        ll = model.log_likelihood(X_CLEAN, y)
    runtime = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught
               if issubclass(w.category, RuntimeWarning)]
    assert not runtime, runtime
    _check_finite_attributes(model, model.n_experts)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(ll))


# -- 4. hyper-parameters changed after fit ---------------------------------------
# warm_start / partial_fit / predict after set_params(n_experts=...) or (expert=...):
# a warm fit or partial_fit raises a ValueError naming the parameter (the documented
# choice: they continue the fitted parameters, which cannot change structure) and
# leaves the fitted model as it was; prediction uses the fitted state. A plain refit
# must leave no stale fitted attributes of the previous expert type.

CHANGE_CONFIGS = [("reg", c) for c in ["linear-em", "constant-em", "linear-lbfgs",
                                       "linear-adam", "mlp-lbfgs", "sparse-top1", "ridge-em"]]
CHANGE_CONFIGS += [("clf", c) for c in ["logistic-em", "mlp-lbfgs", "sparse-top1", "logreg-em"]]
OTHER_EXPERT = {
    ("reg", "linear-em"): "constant", ("reg", "constant-em"): "linear",
    ("reg", "linear-lbfgs"): "constant", ("reg", "linear-adam"): "constant",
    ("reg", "mlp-lbfgs"): "linear", ("reg", "sparse-top1"): "constant",
    ("reg", "ridge-em"): "linear", ("clf", "logistic-em"): "constant",
    ("clf", "mlp-lbfgs"): "logistic", ("clf", "sparse-top1"): "constant",
    ("clf", "logreg-em"): "logistic",
}
CHANGE_MSG = {"n_experts": "n_experts", "expert": r"expert='|expert=\w|'expert'"}


def _change(kind, config, what):
    if what == "n_experts":
        K = {**BASE, **(REG_CONFIGS if kind == "reg" else CLF_CONFIGS)[config]}["n_experts"]
        return {"n_experts": K + 1}
    return {"expert": OTHER_EXPERT[(kind, config)]}


def _public_fitted(model):
    return {k for k in vars(model) if k.endswith("_") and not k.startswith("_")}


def _change_params():
    for kind, config in CHANGE_CONFIGS:
        for what in ["n_experts", "expert"]:
            for action in ["warm-fit", "partial_fit", "predict", "refit"]:
                yield pytest.param(kind, config, what, action,
                                   id=f"{action}-after-changing-{what}-{kind}-{config}")


_FRESH = {}


def _fresh_fit(kind, config, what):
    """A fresh fit with the changed parameter (cached: shared by the four actions)."""
    if (kind, config, what) not in _FRESH:
        _FRESH[(kind, config, what)] = fit_quiet(
            make(kind, config, **_change(kind, config, what)), X_CLEAN, clean_y(kind))
    return _FRESH[(kind, config, what)]


@pytest.mark.parametrize("kind, config, what, action", list(_change_params()))
def test_hyper_parameters_changed_after_fit(kind, config, what, action):
    y = clean_y(kind)
    model = fitted(kind, config)
    change = _change(kind, config, what)
    def outputs(m):
        out = [m.predict(X_CLEAN), m.gate_proba(X_CLEAN), m.log_likelihood(X_CLEAN, y)]
        return out + ([m.predict_proba(X_CLEAN)] if kind == "clf" else [])

    before = outputs(model)
    fresh = _fresh_fit(kind, config, what)
    with warnings.catch_warnings(record=True) as caught, concise():
        warnings.simplefilter("always")
        try:
            if action == "warm-fit":
                model.set_params(warm_start=True, **change)
                model.fit(X_CLEAN, y)
            elif action == "refit":
                model.set_params(**change)
                model.fit(X_CLEAN, y)
            elif action == "partial_fit":
                model.set_params(**change)
                if not hasattr(model, "partial_fit"):
                    pytest.skip("no partial_fit for estimator experts")
                model.partial_fit(X_CLEAN, y)
            else:
                model.set_params(**change)
                after = outputs(model)
        except (ValueError, TypeError) as exc:
            if action in ("refit", "predict"):
                fail_concisely(exc, prefix=f"{action} must work: ")
            if not re.search(CHANGE_MSG[what], str(exc)):
                fail_concisely(exc, prefix="unclear message: ")
            # the failed call left the fitted model untouched
            for a, b in zip(outputs(model), before, strict=True):
                np.testing.assert_array_equal(a, b)
            return
    assert action not in ("warm-fit", "partial_fit"), f"{action} ignored the change of {what}"
    runtime = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught
               if issubclass(w.category, RuntimeWarning)]
    assert not runtime, runtime
    if action == "predict":
        for a, b in zip(after, before, strict=True):
            np.testing.assert_array_equal(a, b)
        return
    K = model.n_experts
    _check_finite_attributes(model, K)
    assert model.gate_proba(X_CLEAN).shape == (len(X_CLEAN), K)
    assert _public_fitted(model) == _public_fitted(fresh)
    for name in _public_fitted(fresh):
        value = getattr(fresh, name)
        if isinstance(value, np.ndarray):
            assert getattr(model, name).shape == value.shape, name


@pytest.mark.parametrize("kind, config, change", [
    ("reg", "linear-adam", dict(top_k=1)),
    ("reg", "sparse-top1", dict(top_k=2)),
    ("reg", "sparse-top1", dict(top_k=None, solver="em")),
    ("reg", "mlp-lbfgs", dict(expert_hidden=5)),
    ("clf", "mlp-lbfgs", dict(expert_hidden=5)),
    ("clf", "sparse-top1", dict(top_k=2)),
])
@pytest.mark.parametrize("action", ["warm-fit", "partial_fit", "predict"])
def test_structure_changed_after_fit(kind, config, change, action):
    """top_k and expert_hidden fix the fitted structure as n_experts and expert do."""
    y = clean_y(kind)
    model = fitted(kind, config)
    before = [model.predict(X_CLEAN), model.gate_proba(X_CLEAN), model.log_likelihood(X_CLEAN, y)]
    name = next(iter(change))
    if action == "predict":
        model.set_params(**change)
    else:
        model.set_params(warm_start=True, **change)
        with pytest.raises(ValueError, match=rf"{name}=.*fitted with {name}="):
            if action == "warm-fit":
                model.fit(X_CLEAN, y)
            else:
                model.partial_fit(X_CLEAN, y)
    after = [model.predict(X_CLEAN), model.gate_proba(X_CLEAN), model.log_likelihood(X_CLEAN, y)]
    for a, b in zip(after, before, strict=True):
        np.testing.assert_array_equal(a, b)
