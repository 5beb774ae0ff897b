"""The expert registry, the likelihood heads and the family protocol."""

import pickle
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._data import Scaler, design_matrix
from skmoe._experts import (
    EXPERTS,
    CategoricalHead,
    EstimatorExperts,
    GaussianExperts,
    GaussianHead,
    MLPExperts,
    expert_attributes,
    expert_entry,
    expert_names,
)
from skmoe._objective import MixtureObjective
from skmoe._passes import Design, estep_pass


def _regression_design(n=5000, d=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d))
    y = rng.normal(size=(n, 1))
    return Design(design_matrix(X, Scaler(X, np.ones(n))), y, np.ones(n)), rng


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_family_pickles_small_after_estep_and_gradient(kind):
    """No chunk data stays on the family (it pickled to megabytes with ``_last_means``)."""
    design, rng = _regression_design()
    K, p = 3, design.n_columns
    if kind == "linear":
        family = GaussianExperts(K, 1, True, 1e-4)
        experts = {"coef": rng.normal(size=(K, 1, p)), "var": np.ones((K, 1))}
    else:
        family = MLPExperts(K, 4, GaussianHead(1), 1e-4)
        experts = {"W1": rng.normal(size=(K, 4, p)), "W2": rng.normal(size=(K, 1, 5)),
                   "var": np.ones((K, 1))}
    params = {"gate": np.zeros((K, p)), "experts": experts}
    before = len(pickle.dumps(family))
    estep_pass(design, family, params, np.empty((design.n_samples, K)),
               np.empty(design.n_samples))
    MixtureObjective(design, family, 1e-4).value_and_grad(params)
    after = len(pickle.dumps(family))
    assert after == before
    assert after < 4096


def test_registry_entries_and_names():
    assert list(EXPERTS) == ["linear", "logistic", "constant", "mlp", "estimator"]
    assert expert_names() == ["linear", "logistic", "constant", "mlp"]
    assert expert_names("regression") == ["linear", "constant", "mlp"]
    assert expert_names("classification") == ["logistic", "constant", "mlp"]
    assert expert_entry("mlp") is EXPERTS["mlp"]
    assert expert_entry(Ridge()) is EXPERTS["estimator"]
    assert set(expert_attributes()) == {"expert_coef_", "expert_intercept_", "expert_var_",
                                        "expert_df_",
                                        "experts_"}
    assert expert_entry("linear").start_for("em") == "search"
    assert expert_entry("mlp").start_for("lbfgs") == "proxy"
    assert expert_entry("mlp").start_for("adam") == "flat"
    assert expert_entry(Ridge()).start_for("em") == "proxy"
    assert expert_entry(Ridge()).keep_best and not expert_entry("linear").keep_best


@pytest.mark.parametrize("expert, task, message", [
    ("logistic", "regression",
     "expert='logistic' is a classifier expert; MixtureOfExpertsRegressor takes "
     "expert='linear' or 'constant'."),
    ("linear", "classification",
     "expert='linear' is a regression expert; MixtureOfExpertsClassifier takes "
     "expert='logistic' or 'constant'."),
])
def test_check_messages(expert, task, message):
    with pytest.raises(ValueError) as info:
        expert_entry(expert).check(expert, task)
    assert str(info.value) == message
    cls = MixtureOfExpertsRegressor if task == "regression" else MixtureOfExpertsClassifier
    X = np.random.RandomState(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="is a"):
        cls(2, expert=expert).fit(X, (X[:, 0] > 0).astype(int))


def test_estimator_check_moved_to_registry():
    with pytest.raises(ValueError, match="is a classifier; MixtureOfExpertsRegressor"):
        expert_entry(LogisticRegression()).check(LogisticRegression(), "regression")
    with pytest.raises(ValueError, match="is not a classifier"):
        expert_entry(Ridge()).check(Ridge(), "classification")
    expert_entry(Ridge()).check(Ridge(), "regression")


def test_make_and_export_with_stand_in_codecs():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 2)) * 3 + 1
    y = rng.normal(size=(50, 2)) * 2 - 1
    xs, ys = Scaler(X, np.ones(50)), Scaler(y, np.ones(50))
    gauss = SimpleNamespace(scaler=ys, n_outputs=2, squeeze=False)
    cat = SimpleNamespace(classes=np.array(["a", "b"]), n_classes=2)
    make = dict(n_experts=3, alpha=0.1, expert_hidden=4, seed=0, n_jobs=None)
    fam = expert_entry("linear").make("linear", target=gauss, **make)
    assert isinstance(fam, GaussianExperts) and fam.linear and fam.width == 2
    fam = expert_entry("constant").make("constant", target=cat, **make)
    assert isinstance(fam.head, CategoricalHead) and not fam.linear
    fam = expert_entry("mlp").make("mlp", target=gauss, **make)
    assert isinstance(fam, MLPExperts) and fam.width == 4 + 2
    fam = expert_entry(Ridge()).make(Ridge(), target=gauss, **make)
    assert isinstance(fam, EstimatorExperts) and fam.seed == 0
    reseeded = fam.with_seed(5)
    assert reseeded is not fam and reseeded.seed == 5 and fam.seed == 0
    coef = rng.normal(size=(3, 2, 3))
    var = rng.uniform(0.5, 1.0, size=(3, 2))
    out = expert_entry("linear").export({"coef": coef, "var": var}, xs, gauss)
    assert set(out) == {"expert_coef_", "expert_intercept_", "expert_var_"}
    np.testing.assert_allclose(out["expert_var_"], var * ys.scale_**2)
    # the exported line predicts the standardised one in the user's units
    x = X[:1]
    z = (x - xs.mean_) / xs.scale_
    std_mean = coef[:, :, 0] + coef[:, :, 1:] @ z[0]
    np.testing.assert_allclose(out["expert_coef_"] @ x[0] + out["expert_intercept_"],
                               std_mean * ys.scale_ + ys.mean_)
    out = expert_entry("logistic").export({"coef": coef}, xs, cat)
    assert out["expert_coef_"].shape == (3, 1, 2)


def test_fitted_attributes_follow_the_registry():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 2))
    y = X[:, 0] + 0.1 * rng.normal(size=120)
    model = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    assert model.expert_coef_.shape == (2, 2)
    model.set_params(expert="constant").fit(X, y)
    assert not hasattr(model, "expert_coef_") and model.expert_intercept_.shape == (2,)
    assert model.expert_var_.shape == (2,)


def test_families_have_no_kind():
    for family in [GaussianExperts(2, 1, True, 0.0), MLPExperts(2, 3, CategoricalHead(3), 0.0)]:
        assert not hasattr(family, "kind")
