"""The predictive distribution: CDF, quantiles, intervals, CRPS and the scorers.

Kernels against their twins in ``reference.py`` (scipy's distributions and
``brentq``), the exactness contract of the quantiles (``|F(q) - p| <= 1e-9``
or ``q`` within 4 ulp of the root), and the estimator methods on dense,
sparse and multi-output models.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.integrate import quad
from scipy.special import gammaln, ndtr, ndtri
from scipy.stats import t as student_t
from sklearn.model_selection import GridSearchCV, cross_validate

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, _kernels
from skmoe.metrics import log_likelihood_scorer, neg_crps_scorer

from . import reference

LEVELS = np.array([1e-6, 0.001, 0.05, 0.25, 0.5, 0.75, 0.95, 0.999, 1 - 1e-6])


def _tconst(df):
    nu = np.where(np.isinf(df), 1.0, df)
    return np.where(np.isinf(df), 0.0,
                    gammaln(0.5 * (nu + 1)) - gammaln(0.5 * nu) - 0.5 * np.log(nu * np.pi))


def _mixture(n, K, m, seed, df=None, std=None, dense=True, s=None):
    rng = np.random.RandomState(seed)
    s = K if dense else s
    gate = rng.dirichlet(np.ones(s) * 0.5, size=n)
    out = rng.normal(size=(n, s, m)) * 3
    std = rng.uniform(0.1, 2, size=(K, m)) if std is None else std
    df = np.full((K, m), np.inf) if df is None else df
    if dense:
        sel = np.zeros((1, 1), dtype=np.int64)
    else:
        sel = np.argsort(rng.uniform(size=(n, K)), axis=1)[:, :s].astype(np.int64)
    return gate, out, sel, dense, np.ascontiguousarray(std), np.ascontiguousarray(df)


def _quantiles(gate, out, sel, dense, std, df, levels):
    q = np.empty((gate.shape[0], out.shape[2], len(levels)))
    _kernels.mixture_quantile_rows(gate, out, sel, dense, std, df, _tconst(df), levels, q)
    return q


def _cdf(gate, out, sel, dense, std, df, y):
    F = np.empty(y.shape)
    _kernels.mixture_cdf_rows(gate, out, sel, dense, std, df, _tconst(df), y, F)
    return F


def _assert_exact(q, levels, cdf_at, root):
    """``|F(q) - p| <= 1e-9`` or ``q`` within 4 ulp of the reference root."""
    F = cdf_at(q)
    ok = (np.abs(F - levels) <= 1e-9) | (np.abs(q - root) <= 4 * np.spacing(np.abs(root)))
    assert ok.all(), (q[~ok], root[~ok], F[~ok])


# -- special functions --------------------------------------------------------------


def test_normal_quantile_to_machine_precision():
    p = np.r_[1e-300, 1e-30, 1e-6, 0.001, 0.02, 0.02425, 0.1, 0.3, 0.49, 0.5]
    got = np.array([_kernels._ndtri_lower(v) for v in p])
    assert_allclose(got, ndtri(p), rtol=4e-16, atol=1e-16)


@pytest.mark.parametrize("nu", [1.5, 2.0, 3.7, 10.0, 60.0])
def test_t_cdf_against_scipy(nu):
    tc = _tconst(np.array(nu))
    z = -np.logspace(-8, 6, 40)
    got = np.array([_kernels._t_lower(v, nu, tc) for v in z])
    want = student_t.cdf(z, nu)
    keep = want > 1e-300
    assert_allclose(got[keep], want[keep], rtol=1e-12)
    assert _kernels._t_lower(0.0, nu, tc) == 0.5


# -- kernels against their twins --------------------------------------------------------


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("m", [1, 2])
def test_cdf_kernel_matches_reference(dense, m):
    args = _mixture(30, 4, m, 0, dense=dense, s=2)
    y = np.random.RandomState(1).normal(size=(30, m)) * 4
    assert_allclose(_cdf(*args, y), reference.mixture_cdf_rows(*args, y), rtol=1e-13, atol=1e-300)
    df = np.array([[1.5], [3.0], [np.inf], [40.0]]).repeat(m, axis=1)
    args = _mixture(30, 4, m, 2, df=df, dense=dense, s=2)
    assert_allclose(_cdf(*args, y), reference.mixture_cdf_rows(*args, y), rtol=1e-11, atol=1e-300)


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("student", [False, True])
def test_quantile_kernel_matches_brentq(dense, student):
    df = np.array([[2.5], [np.inf], [7.0]]) if student else None
    args = _mixture(12, 3, 1, 3, df=df, dense=dense, s=2)
    q = _quantiles(*args, LEVELS)
    root = reference.mixture_quantile_rows(*args, LEVELS)

    def cdf_at(qq):
        return np.stack([reference.mixture_cdf_rows(*args, qq[:, :, k])
                         for k in range(len(LEVELS))], axis=2)

    _assert_exact(q, LEVELS[None, None], cdf_at, root)
    assert np.all(np.diff(q, axis=2) > 0)


def test_quantiles_with_variances_1e10_apart():
    """A sharp expert (s = 1e-5) inside a broad one (s = 1e5): a near-jump in the CDF."""
    std = np.array([[1e-5], [1e5]])
    gate = np.array([[0.5, 0.5], [0.999, 0.001], [1e-6, 1 - 1e-6], [0.3, 0.7]])
    out = np.array([[[0.0], [0.0]], [[3.0], [-2.0]], [[1.0], [1.0]], [[-7.0], [1e4]]])
    args = (gate, out, np.zeros((1, 1), np.int64), True, std, np.full((2, 1), np.inf))
    levels = np.r_[LEVELS, 0.4999, 0.5001, 0.25005]
    q = _quantiles(*args, levels)
    root = reference.mixture_quantile_rows(*args, levels)

    def cdf_at(qq):
        return np.stack([reference.mixture_cdf_rows(*args, qq[:, :, k])
                         for k in range(len(levels))], axis=2)

    _assert_exact(q, levels[None, None], cdf_at, root)


def test_quantiles_agree_with_a_fine_grid_inversion():
    args = _mixture(5, 3, 1, 7)
    grid = np.linspace(-30, 30, 600_001)
    q = _quantiles(*args, LEVELS[2:-2])
    for i in range(5):
        gi = np.repeat(args[0][i:i + 1], len(grid), axis=0)
        oi = np.repeat(args[1][i:i + 1], len(grid), axis=0)
        F = reference.mixture_cdf_rows(gi, oi, args[2], True, args[4], args[5], grid[:, None])[:, 0]
        brute = grid[np.searchsorted(F, LEVELS[2:-2])]
        assert np.all(np.abs(q[i, 0] - brute) <= grid[1] - grid[0])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), K=st.integers(1, 6),
       p=st.floats(1e-6, 1 - 1e-6))
def test_cdf_of_quantile_is_the_level(seed, K, p):
    """Law: ``F(Q(p)) = p`` for any mixture (property test over random mixtures)."""
    args = _mixture(3, K, 1, seed)
    levels = np.array([p])
    q = _quantiles(*args, levels)
    F = _cdf(*args, np.ascontiguousarray(q[:, :, 0]))
    assert np.all(np.abs(F - p) <= 1e-9)


@pytest.mark.parametrize("dense", [True, False])
def test_crps_kernel_matches_reference_and_quadrature(dense):
    args = _mixture(6, 3, 2, 4, dense=dense, s=2)
    y = np.random.RandomState(5).normal(size=(6, 2)) * 3
    got = np.empty(y.shape)
    _kernels.gaussian_mixture_crps_rows(*args[:5], y, got)
    assert_allclose(got, reference.gaussian_mixture_crps_rows(*args[:5], y), rtol=1e-12)
    gate, out, sel, dense, std, df = args
    for i in range(3):
        for o in range(2):
            def F(z, i=i, o=o):
                sd = std[np.arange(gate.shape[1]) if dense else sel[i], o]
                return float(np.dot(gate[i], ndtr((z - out[i, :, o]) / sd)))
            val = (quad(lambda z: F(z) ** 2, -80, y[i, o], limit=400, epsabs=1e-13)[0]
                   + quad(lambda z: (1 - F(z)) ** 2, y[i, o], 80, limit=400, epsabs=1e-13)[0])
            assert_allclose(got[i, o], val, rtol=1e-8)


@pytest.mark.parametrize("dense", [True, False])
def test_crps_quadrature_matches_closed_form_and_scipy(dense):
    """The quadrature kernel: Gaussian mixtures to 1e-8 of the closed form, t mixtures of quad."""
    args = _mixture(6, 3, 2, 4, dense=dense, s=2)
    y = np.random.RandomState(5).normal(size=(6, 2)) * 3
    closed, quadrature = np.empty(y.shape), np.empty(y.shape)
    _kernels.gaussian_mixture_crps_rows(*args[:5], y, closed)
    _kernels.mixture_crps_rows(*args, _tconst(args[5]), y, 1e-10, quadrature)
    assert_allclose(quadrature, closed, rtol=1e-8)
    df = np.array([[1.6, 3.0], [np.inf, 5.0], [40.0, 2.2]])
    gate, out, sel, dense, std, df = _mixture(4, 3, 2, 7, df=df, dense=dense, s=2)
    got = np.empty((4, 2))
    _kernels.mixture_crps_rows(gate, out, sel, dense, std, df, _tconst(df), y[:4], 1e-10, got)
    for i in range(4):
        for o in range(2):
            def F(z, i=i, o=o):
                return reference.mixture_cdf_rows(gate[i:i + 1], out[i:i + 1],
                                                  sel[i:i + 1] if not dense else sel, dense,
                                                  std, df, np.full((1, 2), z))[0, o]
            want = (quad(lambda z: F(z) ** 2, -np.inf, y[i, o], epsrel=1e-12, limit=500)[0]
                    + quad(lambda z: (1 - F(z)) ** 2, y[i, o], np.inf, epsrel=1e-12,
                           limit=500)[0])
            assert_allclose(got[i, o], want, rtol=1e-8)
    df[0] = 0.9
    _kernels.mixture_crps_rows(gate, out, sel, dense, std, df, _tconst(df), y[:4], 1e-10, got)
    uses_first = (np.arange(3)[None] == 0) if dense else (sel == 0)
    assert_array_equal(np.isinf(got[:, 0]), (uses_first & (gate > 0)).any(axis=1))


# -- the estimator's methods -----------------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(600, 2))
    y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + rng.normal(0, 0.3, 600)
    Y = np.c_[y, X[:, 1] ** 2 + rng.normal(0, 0.2, 600)]
    return {
        "dense": (MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y), X, y),
        "sparse": (MixtureOfExpertsRegressor(n_experts=4, top_k=2, max_iter=20, tol=1.0,
                                             random_state=0).fit(X, y), X, y),
        "multi": (MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, Y), X, Y),
    }


@pytest.mark.parametrize("kind", ["dense", "sparse", "multi"])
def test_quantiles_invert_the_cdf(fitted, kind):
    moe, X, y = fitted[kind]
    levels = [1e-6, 0.05, 0.5, 0.95, 1 - 1e-6]
    q = moe.predict_quantiles(X[:50], quantiles=levels)
    multi = y.ndim == 2
    assert q.shape == ((50, 2, 5) if multi else (50, 5))
    for k, p in enumerate(levels):
        F = moe.predict_cdf(X[:50], q[..., k])
        assert np.all(np.abs(F - p) <= 1e-9)
    assert np.all(np.diff(q, axis=-1) > 0)


@pytest.mark.parametrize("kind", ["dense", "sparse", "multi"])
def test_median_interval_and_moments_consistent(fitted, kind):
    moe, X, y = fitted[kind]
    lo_hi = moe.predict_interval(X[:40], coverage=0.8)
    q = moe.predict_quantiles(X[:40], quantiles=[0.5 * (1 - 0.8), 0.5 * (1 + 0.8)])
    assert_array_equal(lo_hi, q)
    # a quantile-based mean: the average of many equally spaced quantiles
    levels = (np.arange(4000) + 0.5) / 4000
    mean_q = moe.predict_quantiles(X[:5], quantiles=levels).mean(axis=-1)
    assert_allclose(mean_q, moe.predict(X[:5]), atol=0.02 * np.std(y))


def test_predictive_methods_do_not_depend_on_n_jobs(fitted):
    moe, X, y = fitted["dense"]
    Xb = np.tile(X, (10, 1))
    a = moe.set_params(n_jobs=1).predict_quantiles(Xb)
    b = moe.set_params(n_jobs=2).predict_quantiles(Xb)
    moe.set_params(n_jobs=None)
    assert_array_equal(a, b)


def test_predictive_methods_on_dask(fitted):
    da = pytest.importorskip("dask.array")
    moe, X, y = fitted["dense"]
    dX = da.from_array(X, chunks=(150, 2))
    assert_array_equal(moe.predict_quantiles(dX, quantiles=[0.2, 0.7]).compute(),
                       moe.predict_quantiles(X, quantiles=[0.2, 0.7]))
    assert_array_equal(moe.predict_cdf(dX, da.from_array(y, chunks=150)).compute(),
                       moe.predict_cdf(X, y))


@pytest.mark.parametrize("bad, error, match", [
    (0.0, ValueError, r"open interval \(0, 1\)"),
    (1.0, ValueError, r"open interval \(0, 1\)"),
    ([0.5, np.nan], ValueError, r"open interval \(0, 1\)"),
    ([-0.1, 0.5], ValueError, r"open interval \(0, 1\)"),
    ([[0.1, 0.5]], ValueError, "1-D"),
    ([], ValueError, "at least one level"),
    ("0.5", TypeError, "quantiles must be a float"),
])
def test_bad_quantiles_raise(fitted, bad, error, match):
    moe, X, _ = fitted["dense"]
    with pytest.raises(error, match=match):
        moe.predict_quantiles(X[:3], quantiles=bad)


@pytest.mark.parametrize("bad, error", [(0.0, ValueError), (1.0, ValueError), (np.nan, ValueError),
                                        (1.5, ValueError), ("0.9", TypeError), (None, TypeError),
                                        ([0.9], TypeError)])
def test_bad_coverage_raises(fitted, bad, error):
    moe, X, _ = fitted["dense"]
    with pytest.raises(error, match="coverage"):
        moe.predict_interval(X[:3], coverage=bad)


def test_predict_cdf_checks_its_target(fitted):
    moe, X, y = fitted["dense"]
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        moe.predict_cdf(X[:3], y[:4])
    with pytest.raises(ValueError, match="outputs"):
        moe.predict_cdf(X[:3], np.c_[y[:3], y[:3]])
    with pytest.raises(ValueError, match="NaN"):
        moe.predict_cdf(X[:3], [0.0, np.nan, 1.0])


def test_scalar_level_gives_one_column(fitted):
    moe, X, _ = fitted["dense"]
    assert moe.predict_quantiles(X[:4], quantiles=0.3).shape == (4, 1)


# -- scorers ----------------------------------------------------------------------------


def test_scorers_in_grid_search_and_cross_validate(fitted):
    _, X, y = fitted["dense"]
    search = GridSearchCV(MixtureOfExpertsRegressor(random_state=0, max_iter=30),
                          {"n_experts": [1, 2]}, cv=3,
                          scoring={"ll": log_likelihood_scorer, "crps": neg_crps_scorer},
                          refit="crps").fit(X, y)
    assert search.best_params_ == {"n_experts": 2}
    res = cross_validate(MixtureOfExpertsClassifier(n_experts=2, random_state=0, max_iter=20),
                         X, (y > 1).astype(int), cv=3, scoring=log_likelihood_scorer)
    assert np.all(res["test_score"] < 0)


def test_scorers_are_weighted_means(fitted):
    moe, X, y = fitted["multi"]
    w = np.random.RandomState(0).uniform(0, 2, len(y))
    assert_allclose(log_likelihood_scorer(moe, X, y, sample_weight=w),
                    np.average(moe.log_likelihood(X, y), weights=w))
    w_int = np.random.RandomState(1).randint(0, 3, len(y))
    rep = np.repeat(np.arange(len(y)), w_int)
    assert_allclose(neg_crps_scorer(moe, X, y, sample_weight=w_int),
                    neg_crps_scorer(moe, X[rep], y[rep]), rtol=1e-12)


def test_crps_of_a_sharp_model_is_its_mean_absolute_error():
    """Far from a Gaussian prediction, CRPS = |y - mean| - std / sqrt(pi) (up to exp(-d^2/2s^2))."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(400, 1))
    y = 2 * X[:, 0] + rng.normal(0, 1e-4, 400)
    moe = MixtureOfExpertsRegressor(n_experts=1, random_state=0).fit(X, y)
    Xt = rng.uniform(-1, 1, size=(100, 1))
    yt = 2 * Xt[:, 0] + 0.5
    mean, std = moe.predict(Xt, return_std=True)
    want = np.mean(np.abs(yt - mean) - std / np.sqrt(np.pi))
    assert_allclose(-neg_crps_scorer(moe, Xt, yt), want, rtol=1e-10)


def test_crps_scorer_rejects_a_classifier():
    X = np.random.RandomState(0).normal(size=(40, 2))
    clf = MixtureOfExpertsClassifier(n_experts=1, random_state=0).fit(X, X[:, 0] > 0)
    with pytest.raises(TypeError, match="MixtureOfExpertsRegressor"):
        neg_crps_scorer(clf, X, X[:, 0] > 0)


# -- calibration --------------------------------------------------------------------------


def _bimodal_table(n, seed):
    """A 4-expert mixture of experts in one feature, heteroscedastic and bimodal.

    The gate is a softmax linear in ``x``: expert 0 for ``x < -0.3`` (noise sd
    0.2), expert 1 in the middle (sd 0.5), and for ``x > 0.25`` experts 2 and 3
    with equal weight: ``y`` is on one of two lines 5 to 8 apart (sd 0.3 and
    0.6). Returns ``X, y`` and the mask of the bimodal region ``x > 0.4``
    (30% of the rows, where each of the two lines has weight >= 0.495).
    """
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, n)
    logits = np.c_[-12 * x - 3.6, np.zeros(n), 12 * x - 3.6, 12 * x - 3.6]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    z = (p.cumsum(axis=1) > rng.uniform(size=(n, 1))).argmax(axis=1)
    mean = np.choose(z, [1 + x, 0.5 + 2 * x, 3 + x, -2 - x])
    sd = np.array([0.2, 0.5, 0.3, 0.6])[z]
    return x[:, None], mean + sd * rng.normal(size=n), x > 0.4


def test_intervals_are_calibrated_where_the_gaussian_interval_is_not():
    """Issue 17: the model's central intervals cover their nominal level.

    Fitted with the generating ``K`` on 5e4 rows, scored on 1e5 held-out rows:
    within 1 point overall and 1.5 points in the bimodal region; there, the
    Gaussian interval ``mean +- z std`` misses by more than 3 points (at 50% it
    covers the empty middle between the two lines).
    """
    X, y, _ = _bimodal_table(50_000, 0)
    Xt, yt, region = _bimodal_table(100_000, 1)
    assert region.mean() >= 0.2
    moe = MixtureOfExpertsRegressor(n_experts=4, random_state=0).fit(X, y)
    mean, std = moe.predict(Xt, return_std=True)
    gaussian_miss = []
    for coverage in (0.5, 0.8, 0.9, 0.95):
        lower, upper = moe.predict_interval(Xt, coverage=coverage).T
        inside = (yt >= lower) & (yt <= upper)
        assert abs(inside.mean() - coverage) <= 0.01, (coverage, inside.mean())
        assert abs(inside[region].mean() - coverage) <= 0.015, (coverage, inside[region].mean())
        z = ndtri(0.5 + 0.5 * coverage)
        gaussian = np.abs(yt - mean) <= z * std
        gaussian_miss.append(abs(gaussian[region].mean() - coverage))
    assert max(gaussian_miss) > 0.03, gaussian_miss
