"""Student-t experts: the E-step kernel, the exact ECM steps, robustness, predictive methods."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize_scalar
from scipy.special import gammaln
from scipy.stats import kstest
from scipy.stats import t as student_t
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.utils._param_validation import InvalidParameterError

from skmoe import MixtureOfExpertsRegressor, _kernels
from skmoe._experts._heads import DF_MAX, DF_MIN, student_log_const
from skmoe._experts._student import df_step

from . import reference


def _two_regimes(n, seed, outliers=0.0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 1))
    y = np.where(X[:, 0] < 0, -2 * X[:, 0] + 1, 3 * X[:, 0]) + rng.normal(0, 0.3, n)
    bad = rng.uniform(size=n) < outliers
    y[bad] += rng.normal(0, 20, bad.sum())
    return X, y


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("m", [1, 3])
def test_estep_kernel_matches_scipy(parallel, m):
    rng = np.random.RandomState(0)
    n, K = 50, 4
    logits = rng.normal(size=(n, K))
    means = rng.normal(size=(n, K * m))
    y = rng.normal(size=(n, m)) * 3
    var = rng.uniform(0.2, 3, size=(K, m))
    df = rng.uniform(1.5, 200, size=(K, m))
    w = rng.uniform(0.5, 2, size=n)
    outs = [np.empty((n, K)), np.empty(n), np.empty((n, K)), np.empty(n)]
    kernel = _kernels.estep_student_rows_parallel if parallel else _kernels.estep_student_rows
    kernel(logits, means, y, 1 / var, df, student_log_const(var, df), w, *outs)
    for got, want in zip(outs, reference.estep_student_rows(logits, means, y, 1 / var, df, w),
                         strict=True):
        assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_df_step_maximises_its_objective():
    """The nu step is the exact maximiser of its concave part of the expected objective."""
    rng = np.random.RandomState(1)
    mean_tau = -1.0 - rng.exponential(0.3, size=(6, 2))
    mean_tau[0, 0] = -1.0 - 1e-7  # nearly normal data: the upper bound
    mean_tau[1, 0] = -5.0  # very heavy tails: the lower bound
    got = df_step(mean_tau, np.full((6, 2), 10.0))

    def q(nu, c):
        return -(0.5 * nu * np.log(0.5 * nu) - gammaln(0.5 * nu) + 0.5 * nu * c)

    for (k, j), c in np.ndenumerate(mean_tau):
        best = minimize_scalar(q, bounds=(DF_MIN, DF_MAX), args=(c,), method="bounded",
                               options={"xatol": 1e-10}).x
        assert abs(got[k, j] - best) <= 1e-5 * best
    assert got[0, 0] == DF_MAX and got[1, 0] == DF_MIN


@pytest.mark.filterwarnings("ignore:EM did not converge")
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_em_is_monotone_in_the_penalised_objective(seed, alpha):
    X, y = _two_regimes(800, seed, outliers=0.05)
    model = MixtureOfExpertsRegressor(n_experts=3, expert_distribution="student_t", alpha=alpha,
                                      gate_alpha=alpha, tol=0.0, max_iter=60,
                                      random_state=seed).fit(X, y)
    curve = np.asarray(model.objective_curve_)
    assert np.all(np.diff(curve) >= -1e-10 * np.abs(curve[1:]))
    assert np.all((model.expert_df_ >= DF_MIN) & (model.expert_df_ <= DF_MAX))


def test_log_likelihood_is_the_t_mixture_density():
    X, y = _two_regimes(500, 3, outliers=0.05)
    model = MixtureOfExpertsRegressor(n_experts=2, expert_distribution="student_t",
                                      random_state=0).fit(X, y)
    g = model.gate_proba(X)
    mu = model.predict_experts(X)
    dens = student_t.pdf(y[:, None], model.expert_df_[None], loc=mu,
                         scale=np.sqrt(model.expert_var_)[None])
    assert_allclose(model.log_likelihood(X, y), np.log((g * dens).sum(axis=1)), rtol=1e-9)


def test_student_t_experts_resist_gross_outliers():
    """5% gross outliers: t experts recover the clean coefficients, Gaussian ones do not."""
    X, y = _two_regimes(4000, 0, outliers=0.05)
    truth = np.array([[-2.0, 1.0], [3.0, 0.0]])  # slope, intercept of each regime

    def error(model):
        est = np.c_[model.expert_coef_[:, 0], model.expert_intercept_]
        est = est[np.argsort(est[:, 0])]
        return np.abs(est - truth).max()

    t_model = MixtureOfExpertsRegressor(n_experts=2, expert_distribution="student_t",
                                        random_state=0).fit(X, y)
    g_model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    assert error(t_model) <= 0.05
    assert error(g_model) > 3 * error(t_model)
    assert error(g_model) > 0.05
    lbfgs = MixtureOfExpertsRegressor(n_experts=2, expert_distribution="student_t",
                                      solver="lbfgs", random_state=0).fit(X, y)
    assert error(lbfgs) <= 0.05


def test_std_is_infinite_exactly_where_an_infinite_variance_expert_is_used():
    X, y = _two_regimes(600, 4)
    model = MixtureOfExpertsRegressor(n_experts=2, expert_distribution="student_t",
                                      random_state=0).fit(X, y)
    model._params["experts"]["df"] = np.array([[1.8], [7.0]])
    g = model.gate_proba(X)
    mean, std = model.predict(X, return_std=True)
    assert not np.isnan(std).any() and np.isfinite(mean).all()
    assert_array_equal(np.isinf(std), g[:, 0] > 0)
    model._params["experts"]["df"] = np.array([[2.5], [7.0]])
    _, std = model.predict(X, return_std=True)
    var_k = model.expert_var_ * np.array([2.5 / 0.5, 7.0 / 5.0])
    mu = model.predict_experts(X)
    m = (g * mu).sum(axis=1)
    assert_allclose(std, np.sqrt((g * (var_k + (mu - m[:, None]) ** 2)).sum(axis=1)), rtol=1e-10)


def test_sparse_std_is_infinite_only_on_rows_routed_to_it():
    X, y = _two_regimes(600, 5)
    model = MixtureOfExpertsRegressor(n_experts=3, top_k=1, expert_distribution="student_t",
                                      max_iter=20, tol=1.0, random_state=0).fit(X, y)
    model._params["experts"]["df"] = np.array([[1.6], [9.0], [9.0]])
    g = model.gate_proba(X)
    _, std = model.predict(X, return_std=True)
    assert_array_equal(np.isinf(std), g[:, 0] > 0)


def test_quantiles_cdf_and_samples_follow_the_t_mixture():
    X, y = _two_regimes(800, 6, outliers=0.05)
    model = MixtureOfExpertsRegressor(n_experts=2, expert_distribution="student_t",
                                      random_state=0).fit(X, y)
    levels = [1e-6, 0.05, 0.5, 0.95, 1 - 1e-6]
    q = model.predict_quantiles(X[:20], quantiles=levels)
    for k, p in enumerate(levels):
        assert np.all(np.abs(model.predict_cdf(X[:20], q[:, k]) - p) <= 1e-9)
    # the cdf by hand from the exported parameters
    g, mu = model.gate_proba(X[:20]), model.predict_experts(X[:20])
    F = (g * student_t.cdf(y[:20, None], model.expert_df_, loc=mu,
                           scale=np.sqrt(model.expert_var_))).sum(axis=1)
    assert_allclose(model.predict_cdf(X[:20], y[:20]), F, rtol=1e-10, atol=1e-14)
    # draws follow the predictive cdf (Kolmogorov-Smirnov on the PIT of the draws)
    draws = model.sample_y(X[:1], n_samples=4000, random_state=0)[0]
    pit = model.predict_cdf(np.repeat(X[:1], 4000, axis=0), draws)
    assert kstest(pit, "uniform").pvalue > 1e-3


def test_multi_output_has_independent_scales_per_output():
    rng = np.random.RandomState(7)
    X = rng.uniform(-2, 2, size=(600, 2))
    Y = np.c_[X[:, 0] + rng.standard_t(3, 600) * 0.2, -X[:, 1] + rng.normal(0, 0.2, 600)]
    model = MixtureOfExpertsRegressor(n_experts=2, expert_distribution="student_t",
                                      random_state=0).fit(X, Y)
    assert model.expert_df_.shape == (2, 2)
    assert model.expert_var_.shape == (2, 2)
    assert model.predict_quantiles(X[:4]).shape == (4, 2, 3)
    # heavier tails on the first output than on the second
    assert np.all(model.expert_df_[:, 0] < model.expert_df_[:, 1])


def test_bic_counts_the_degrees_of_freedom():
    X, y = _two_regimes(400, 8)
    t_model = MixtureOfExpertsRegressor(n_experts=2, expert_distribution="student_t",
                                        random_state=0).fit(X, y)
    g_model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    assert t_model._n_free_params() == g_model._n_free_params() + 2
    ll = t_model.log_likelihood(X, y).sum()
    assert_allclose(t_model.bic(X, y), -2 * ll + t_model._n_free_params() * np.log(400))


@pytest.mark.parametrize("expert", ["mlp", Ridge()])
def test_unsupported_experts_raise(expert):
    X, y = _two_regimes(100, 9)
    with pytest.raises(ValueError, match="supported for expert='linear' or 'constant'"):
        MixtureOfExpertsRegressor(n_experts=2, expert=expert,
                                  expert_distribution="student_t").fit(X, y)
    with pytest.raises(InvalidParameterError, match="expert_distribution"):
        MixtureOfExpertsRegressor(expert_distribution="cauchy").fit(X, y)


def test_warm_start_and_partial_fit_keep_the_distribution():
    X, y = _two_regimes(500, 10, outliers=0.05)
    model = MixtureOfExpertsRegressor(n_experts=2, expert_distribution="student_t",
                                      warm_start=True, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="expert_distribution='gaussian'.*cannot change"):
        model.set_params(expert_distribution="gaussian").fit(X, y)
    model.set_params(expert_distribution="student_t", warm_start=False)
    before = model.log_likelihood_
    model.partial_fit(X, y)
    assert model.expert_df_.shape == (2,)
    assert model.log_likelihood_ > before - 0.05
    again = clone(model).fit(X, y)
    assert_array_equal(again.expert_df_, clone(model).fit(X, y).expert_df_)


def test_t_experts_do_not_depend_on_threads():
    X, y = _two_regimes(3000, 11, outliers=0.05)
    one = MixtureOfExpertsRegressor(n_experts=3, expert_distribution="student_t", n_jobs=1,
                                    random_state=0).fit(X, y)
    two = MixtureOfExpertsRegressor(n_experts=3, expert_distribution="student_t", n_jobs=2,
                                    random_state=0).fit(X, y)
    assert_array_equal(one.expert_df_, two.expert_df_)
    assert_array_equal(one.expert_coef_, two.expert_coef_)


def test_crps_scorer_for_student_t_experts():
    X, y = _two_regimes(400, 12, outliers=0.05)
    model = MixtureOfExpertsRegressor(n_experts=2, expert_distribution="student_t",
                                      random_state=0).fit(X, y)
    from skmoe.metrics import neg_crps_scorer

    score = neg_crps_scorer(model, X[:30], y[:30])
    g, mu = model.gate_proba(X[:30]), model.predict_experts(X[:30])
    sd = np.sqrt(model.expert_var_)
    grid = np.linspace(-300, 300, 600_001)
    by_hand = []
    for i in range(30):
        F = (g[i] * student_t.cdf((grid[:, None] - mu[i]) / sd, model.expert_df_)).sum(axis=1)
        by_hand.append(np.trapezoid((F - (grid >= y[i])) ** 2, grid))
    # the grid misses the tails beyond 300 and the kink at y: a loose comparison
    assert_allclose(-score, np.mean(by_hand), rtol=2e-3)
