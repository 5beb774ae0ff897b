"""PredictiveDensityDisplay and PredictiveCalibrationDisplay draw the predictive distribution."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.integrate import trapezoid

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor  # noqa: E402
from skmoe.inspection import (  # noqa: E402
    PredictiveCalibrationDisplay,
    PredictiveDensityDisplay,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _make(n, rng):
    X = rng.uniform(-3, 3, size=(n, 2))
    noise = np.where(X[:, 0] < 0, 0.2, 0.8)
    y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0] - 1) + noise * rng.standard_normal(n)
    return X, y


@pytest.fixture(scope="module")
def data():
    return _make(600, np.random.RandomState(0))


@pytest.fixture(scope="module")
def test_data():
    return _make(800, np.random.RandomState(1))


@pytest.fixture(scope="module")
def regressor(data):
    return MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(*data)


@pytest.fixture(scope="module")
def sparse(data):
    X, y = data
    return MixtureOfExpertsRegressor(n_experts=3, top_k=1, solver="adam", max_iter=30,
                                     random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def multi(data):
    X, y = data
    Y = np.c_[y, -0.5 * y + np.random.RandomState(2).normal(0, 0.3, len(y))]
    return MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, Y), Y


def _grid_rows(display, X):
    return np.c_[display.feature_values, np.full(len(display.feature_values),
                                                 np.median(X[:, 1]))]


# -- PredictiveDensityDisplay ---------------------------------------------------------


def test_density_draws_the_model(regressor, data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        display = PredictiveDensityDisplay.from_estimator(regressor, X, y, grid_resolution=40,
                                                          y_resolution=60)
    rows = _grid_rows(display, X)
    assert display.density.shape == (60, 40)
    # the heat map is exp(log_likelihood) at each (y, x) grid point
    j, i = 17, 23
    expected = np.exp(regressor.log_likelihood(rows[[i]], [display.y_values[j]]))[0]
    assert_allclose(display.density[j, i], expected, rtol=1e-10)
    assert_allclose(np.asarray(display.mesh_.get_array()).reshape(60, 40), display.density)
    assert_allclose(display.mean_line_.get_ydata(), regressor.predict(rows))
    assert [c for c in display.coverage] == [0.5, 0.9]
    for c, (low, high) in zip(display.coverage, display.interval_lines_, strict=True):
        interval = regressor.predict_interval(rows, coverage=c)
        assert_allclose(low.get_ydata(), interval[:, 0])
        assert_allclose(high.get_ydata(), interval[:, 1])
        assert low.get_label() == f"{c:.0%} interval"
    # the default y grid spans the 0.5% and 99.5% quantiles over the grid, padded
    q = regressor.predict_quantiles(rows, quantiles=(0.005, 0.995))
    assert display.y_values[0] < q[:, 0].min() and display.y_values[-1] > q[:, 1].max()
    assert_allclose(display.scatter_.get_offsets(), np.c_[X[:, 0], y])
    assert display.colorbar_ is not None
    assert display.ax_.get_xlabel() == "x0" and display.ax_.get_ylabel() == "y"
    assert display.figure_ is display.ax_.figure
    assert display.ax_.get_legend() is not None


def test_density_integrates_to_one(regressor, data):
    X, _ = data
    y_grid = np.linspace(-25, 25, 4001)
    display = PredictiveDensityDisplay.from_estimator(regressor, X, grid_resolution=7,
                                                      y_grid=y_grid, colorbar=False)
    assert_allclose(trapezoid(display.density, y_grid, axis=0), 1.0, atol=1e-6)
    assert display.scatter_ is None and display.colorbar_ is None


def test_density_options_and_ax_reuse(regressor, data):
    X, _ = data
    fig, ax = plt.subplots()
    display = PredictiveDensityDisplay.from_estimator(
        regressor, X, feature=1, at={0: 1.0}, grid_resolution=20, y_resolution=30,
        coverage=0.8, show_mean=False, ax=ax, legend=False, name="moe",
    )
    assert display.ax_ is ax and display.figure_ is fig
    assert display.mean_line_ is None and len(display.interval_lines_) == 1
    assert ax.get_legend() is None and ax.get_xlabel() == "x1"
    rows = np.c_[np.full(20, 1.0), display.feature_values]
    assert_allclose(display.interval_lines_[0][1].get_ydata(),
                    regressor.predict_interval(rows, coverage=0.8)[:, 1])
    # plot draws again, on other axes
    _, ax2 = plt.subplots()
    assert display.plot(ax=ax2, colorbar=False).ax_ is ax2
    display = PredictiveDensityDisplay.from_estimator(regressor, X, grid_resolution=5,
                                                      y_resolution=5, coverage=())
    assert display.interval_lines_ == []


def test_density_pipeline_and_dataframe(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = pd.DataFrame(X, columns=["a", "b"])
    pipe = make_pipeline(StandardScaler(),
                         MixtureOfExpertsRegressor(n_experts=2, random_state=0)).fit(frame, y)
    display = PredictiveDensityDisplay.from_estimator(pipe, frame, feature="b",
                                                      grid_resolution=10, y_resolution=12)
    rows = pd.DataFrame({"a": np.full(10, np.median(X[:, 0])), "b": display.feature_values})
    Z = pipe[:-1].transform(rows)
    assert_allclose(display.density[:, 3],
                    np.exp(pipe[-1].log_likelihood(np.repeat(Z[[3]], 12, axis=0),
                                                   display.y_values)))
    assert display.ax_.get_xlabel() == "b"


def test_density_sparse(sparse, data):
    X, y = data
    display = PredictiveDensityDisplay.from_estimator(sparse, X, y, grid_resolution=9,
                                                      y_grid=np.linspace(-20, 20, 2001))
    rows = _grid_rows(display, X)
    expected = np.exp(sparse.log_likelihood(np.repeat(rows, 2001, axis=0),
                                            np.tile(display.y_values, 9)))
    assert_allclose(display.density, expected.reshape(9, 2001).T, rtol=1e-10)
    assert_allclose(trapezoid(display.density, display.y_values, axis=0), 1.0, atol=1e-4)


def test_density_multi_output(multi, data):
    model, Y = multi
    X, _ = data
    with pytest.raises(ValueError, match="2 outputs; choose one with output="):
        PredictiveDensityDisplay.from_estimator(model, X)
    y_grid = np.linspace(-12, 12, 2401)
    display = PredictiveDensityDisplay.from_estimator(model, X, Y, output=1, grid_resolution=6,
                                                      y_grid=y_grid)
    rows = _grid_rows(display, X)
    # the marginal density of output 1 is the derivative of its predictive CDF
    h = 1e-5
    other = np.zeros((len(y_grid), 1))
    j = np.arange(0, 2401, 50)
    for i in (0, 4):
        R = np.repeat(rows[[i]], len(j), axis=0)
        up = model.predict_cdf(R, np.c_[other[j], y_grid[j] + h])[:, 1]
        down = model.predict_cdf(R, np.c_[other[j], y_grid[j] - h])[:, 1]
        assert_allclose(display.density[j, i], (up - down) / (2 * h), rtol=1e-5, atol=1e-8)
    assert_allclose(trapezoid(display.density, y_grid, axis=0), 1.0, atol=1e-6)
    assert_allclose(display.mean_line_.get_ydata(), model.predict(rows)[:, 1])
    assert_allclose(display.scatter_.get_offsets()[:, 1], Y[:, 1])
    assert display.ax_.get_ylabel() == "y[1]"


def test_density_errors(regressor, data):
    X, y = data
    labels = (X[:, 0] > 0).astype(int)
    classifier = MixtureOfExpertsClassifier(n_experts=2, random_state=0, max_iter=5)
    with pytest.raises(NotFittedError):
        PredictiveDensityDisplay.from_estimator(MixtureOfExpertsRegressor(n_experts=2), X)
    with pytest.raises(TypeError, match="regressor's predictive distribution"):
        PredictiveDensityDisplay.from_estimator(classifier.fit(X, labels), X)
    with pytest.raises(ValueError, match="y_grid"):
        PredictiveDensityDisplay.from_estimator(regressor, X, y_grid=[1.0, 0.0])
    with pytest.raises(ValueError, match="one output"):
        PredictiveDensityDisplay.from_estimator(regressor, X, output=1)
    with pytest.raises(ValueError, match="coverage"):
        PredictiveDensityDisplay.from_estimator(regressor, X, coverage=1.5)


# -- PredictiveCalibrationDisplay -----------------------------------------------------


def test_calibration_draws_the_model(regressor, test_data):
    X, y = test_data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        display = PredictiveCalibrationDisplay.from_estimator(regressor, X, y)
    pit = regressor.predict_cdf(X, y)
    assert_allclose(display.pit, pit)
    assert np.all((display.pit >= 0) & (display.pit <= 1))
    assert_allclose(display.coverages, np.linspace(0.05, 0.95, 19))
    # the empirical coverage is the share of targets inside predict_interval
    for c, e in zip(display.coverages, display.empirical, strict=True):
        interval = regressor.predict_interval(X, coverage=c)
        assert e == np.mean((interval[:, 0] <= y) & (y <= interval[:, 1]))
    assert np.max(np.abs(display.empirical - display.coverages)) < 0.06
    # a density histogram of the PIT, and the uniform density
    counts, _ = np.histogram(pit, bins=10, range=(0, 1))
    heights = [bar.get_height() for bar in display.bars_]
    assert_allclose(heights, counts / len(pit) * 10)
    assert_array_equal(display.uniform_line_.get_ydata(), [1, 1])
    assert_allclose(display.coverage_line_.get_xdata(), display.coverages)
    assert_allclose(display.coverage_line_.get_ydata(), display.empirical)
    assert_array_equal(display.diagonal_line_.get_ydata(), [0, 1])
    assert len(display.axes_) == 2 and display.figure_ is display.axes_[0].figure
    assert display.coverage_line_.get_label() == "MixtureOfExpertsRegressor"
    # the same curve from the PIT values alone
    again = PredictiveCalibrationDisplay.from_predictions(pit, coverages=display.coverages)
    assert_allclose(again.empirical, display.empirical)


def test_calibration_ax_reuse_and_options(regressor, test_data):
    X, y = test_data
    fig, axes = plt.subplots(1, 2)
    first = PredictiveCalibrationDisplay.from_estimator(regressor, X, y, ax=axes, name="a",
                                                        n_bins=5, coverages=[0.5, 0.9])
    second = PredictiveCalibrationDisplay.from_estimator(regressor, X, 2 * y, ax=first.axes_,
                                                         name="b")
    assert first.figure_ is fig and second.figure_ is fig
    assert list(second.axes_) == list(axes)
    assert len(first.bars_) == 5 and len(first.coverage_line_.get_xdata()) == 2
    labels = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert "a" in labels and "b" in labels
    with pytest.raises(ValueError, match="pair of axes"):
        PredictiveCalibrationDisplay.from_estimator(regressor, X, y, ax=axes[0])
    with pytest.raises(ValueError, match="coverages"):
        PredictiveCalibrationDisplay.from_estimator(regressor, X, y, coverages=[0.0, 0.5])
    with pytest.raises(ValueError, match="pit"):
        PredictiveCalibrationDisplay.from_predictions([0.2, 1.5])


def test_calibration_sparse_and_multi_output(sparse, multi, test_data):
    X, y = test_data
    display = PredictiveCalibrationDisplay.from_estimator(sparse, X, y, coverages=[0.5, 0.9])
    assert_allclose(display.pit, sparse.predict_cdf(X, y))
    interval = sparse.predict_interval(X, coverage=0.9)
    assert display.empirical[1] == np.mean((interval[:, 0] <= y) & (y <= interval[:, 1]))
    model, _ = multi
    Y = np.c_[y, -0.5 * y]
    with pytest.raises(ValueError, match="choose one with output="):
        PredictiveCalibrationDisplay.from_estimator(model, X, Y)
    display = PredictiveCalibrationDisplay.from_estimator(model, X, Y, output=1,
                                                          coverages=[0.9])
    assert_allclose(display.pit, model.predict_cdf(X, Y)[:, 1])
    interval = model.predict_interval(X, coverage=0.9)[:, 1]
    assert display.empirical[0] == np.mean((interval[:, 0] <= Y[:, 1])
                                           & (Y[:, 1] <= interval[:, 1]))


def test_calibration_errors(data):
    X, y = data
    labels = (X[:, 0] > 0).astype(int)
    classifier = MixtureOfExpertsClassifier(n_experts=2, random_state=0, max_iter=5)
    with pytest.raises(NotFittedError):
        PredictiveCalibrationDisplay.from_estimator(MixtureOfExpertsRegressor(), X, y)
    with pytest.raises(TypeError, match="regressor's predictive distribution"):
        PredictiveCalibrationDisplay.from_estimator(classifier.fit(X, labels), X, labels)
