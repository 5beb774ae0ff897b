"""Conformal prediction around skmoe (issue 17, part 5).

Split-conformal intervals from MAPIE (1.x API, ``SplitConformalRegressor``)
around a misspecified model, alone and in a Pipeline, and a normalised
(studentised) split-conformal regressor written out here, with
``predict(return_std=True)`` as the difficulty estimate: exact finite-sample
validity, ``E[coverage] >= 1 - alpha``, checked in the average over many
calibration draws.
"""

import warnings

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsRegressor

mapie_regression = pytest.importorskip("mapie.regression", reason="needs mapie >= 1.0")
SplitConformalRegressor = getattr(mapie_regression, "SplitConformalRegressor", None)
needs_mapie1 = pytest.mark.skipif(SplitConformalRegressor is None, reason="needs mapie >= 1.0")


def _heavy_tailed(n, seed):
    """Heteroscedastic Student-t (2.5 df) noise around a smooth curve, two features."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    scale = 0.3 + 0.5 * np.abs(X[:, 0])
    return X, np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + scale * rng.standard_t(2.5, size=n)


@pytest.fixture(scope="module")
def data():
    return _heavy_tailed(3000, 0), _heavy_tailed(1000, 1), _heavy_tailed(20_000, 2)


def _covers(y, lower, upper):
    return np.mean((y >= lower) & (y <= upper))


@needs_mapie1
def test_mapie_split_conformal_on_a_misspecified_model(data):
    """One Gaussian expert for t noise: its own 90% interval over-covers, MAPIE's is at 90%."""
    (X, y), (Xc, yc), (Xt, yt) = data
    moe = MixtureOfExpertsRegressor(n_experts=1, random_state=0)
    own = _covers(yt, *moe.fit(X, y).predict_interval(Xt, 0.9).T)
    assert own > 0.92  # the misspecification the conformal step corrects
    scr = SplitConformalRegressor(moe, confidence_level=0.9, prefit=False)
    _, pis = scr.fit(X, y).conformalize(Xc, yc).predict_interval(Xt)
    assert pis.shape == (len(yt), 2, 1)
    assert abs(_covers(yt, pis[:, 0, 0], pis[:, 1, 0]) - 0.9) <= 0.03


@needs_mapie1
def test_mapie_split_conformal_in_a_pipeline(data):
    (X, y), (Xc, yc), (Xt, yt) = data
    pipe = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(n_experts=2, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        scr = SplitConformalRegressor(pipe, confidence_level=[0.8, 0.9], prefit=False)
        pred, pis = scr.fit(X, y).conformalize(Xc, yc).predict_interval(Xt)
    assert pred.shape == (len(yt),) and pis.shape == (len(yt), 2, 2)
    for k, level in enumerate([0.8, 0.9]):
        assert abs(_covers(yt, pis[:, 0, k], pis[:, 1, k]) - level) <= 0.03
    # prefit: the fitted pipeline conformalised as it is
    prefit = SplitConformalRegressor(pipe.fit(X, y), confidence_level=0.9, prefit=True)
    _, pis = prefit.conformalize(Xc, yc).predict_interval(Xt)
    assert abs(_covers(yt, pis[:, 0, 0], pis[:, 1, 0]) - 0.9) <= 0.03


def _normalised_conformal(model, Xc, yc, alpha):
    """``qhat``: the ``ceil((n + 1)(1 - alpha))``-th smallest score ``|y - mean| / std``."""
    mean, std = model.predict(Xc, return_std=True)
    scores = np.sort(np.abs(yc - mean) / std)
    n = len(scores)
    return scores[int(np.ceil((n + 1) * (1 - alpha))) - 1]


def test_normalised_split_conformal_with_return_std(data):
    """``mean +- qhat * std`` covers at least ``1 - alpha``, on one draw and in expectation.

    Split conformal is valid conditionally on the fitted model, so the model is
    fitted once and the calibration and test rows are drawn afresh per seed; with
    ``n = 99`` calibration rows (``qhat`` the 90th smallest score) the expected
    coverage is exactly ``90 / 100``, which the mean over 200 draws must match to
    within sampling error (sd 0.2 points), i.e. no slack for a large-sample answer.
    """
    (X, y), (Xc, yc), (Xt, yt) = data
    alpha = 0.1
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    mean, std = model.predict(Xt, return_std=True)
    assert np.ptp(std) > 0.1  # a difficulty estimate that varies across rows
    qhat = _normalised_conformal(model, Xc, yc, alpha)
    assert np.mean(np.abs(yt - mean) <= qhat * std) >= 1 - alpha - 0.02

    n_cal, n_test, draws = 99, 500, 200
    coverage = []
    for seed in range(draws):
        Xd, yd = _heavy_tailed(n_cal + n_test, 100 + seed)
        qhat = _normalised_conformal(model, Xd[:n_cal], yd[:n_cal], alpha)
        mean, std = model.predict(Xd[n_cal:], return_std=True)
        coverage.append(np.mean(np.abs(yd[n_cal:] - mean) <= qhat * std))
    exact = np.ceil((n_cal + 1) * (1 - alpha)) / (n_cal + 1)  # 0.9 for n = 99
    se = np.std(coverage, ddof=1) / np.sqrt(draws)
    assert np.mean(coverage) >= exact - 3 * se, (np.mean(coverage), se)
    assert np.mean(coverage) <= exact + 3 * se, (np.mean(coverage), se)
