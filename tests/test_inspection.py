"""skmoe.inspection: the Displays draw what they say, and need matplotlib only to draw."""

import builtins
import importlib
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor  # noqa: E402
from skmoe.inspection import (  # noqa: E402
    ExpertsDisplay,
    GateDisplay,
    LogLikelihoodCurveDisplay,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(600, 2))
    y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0] - 1) + rng.normal(0, 0.2, 600)
    return X, y


@pytest.fixture(scope="module")
def regressor(data):
    X, y = data
    return MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def classifier(data):
    X, _ = data
    labels = np.where(X[:, 0] * X[:, 1] > 0, "same", "diff")
    return MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, labels)


def test_gate_one_feature(regressor, data):
    X, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        display = GateDisplay.from_estimator(regressor, X, feature=0, grid_resolution=50)
    assert len(display.lines_) == regressor.n_experts
    assert display.feature_values[0].shape == (50,)
    assert display.gate_proba.shape == (50, 2)
    assert_allclose(display.gate_proba.sum(axis=1), 1.0)
    # the curves are the gate on a grid with the other feature at its median
    grid_rows = np.c_[display.feature_values[0], np.full(50, np.median(X[:, 1]))]
    assert_allclose(display.gate_proba, regressor.gate_proba(grid_rows))
    for k, line in enumerate(display.lines_):
        assert_allclose(line.get_ydata(), display.gate_proba[:, k])
        assert line.get_label() == f"expert {k}"
    assert display.ax_.get_xlabel() == "x0"
    assert display.figure_ is display.ax_.figure
    assert display.ax_.get_legend() is not None
    assert display.surface_ is None and display.contours_ == []


def test_gate_two_features(classifier, data):
    X, _ = data
    fig, ax = plt.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        display = GateDisplay.from_estimator(classifier, X, feature=(0, 1), grid_resolution=30,
                                             ax=ax)
    assert display.ax_ is ax and display.figure_ is fig
    assert display.gate_proba.shape == (30, 30, 2)
    assert display.surface_ is not None and display.surface_ in ax.images
    assert len(display.contours_) == 2
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x0", "x1")
    # rows follow the second feature, columns the first
    g0, g1 = display.feature_values
    assert_allclose(display.gate_proba[3, 7], classifier.gate_proba([[g0[7], g1[3]]])[0])


def test_gate_at_dataframe_and_pipeline(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = pd.DataFrame(X, columns=["left", "right"])
    pipe = make_pipeline(StandardScaler(),
                         MixtureOfExpertsRegressor(n_experts=2, random_state=0)).fit(frame, y)
    search = GridSearchCV(pipe, {"mixtureofexpertsregressor__n_experts": [2]}, cv=2).fit(frame, y)
    display = GateDisplay.from_estimator(search, frame, feature="right", at={"left": 1.5},
                                         grid_resolution=20)
    assert display.ax_.get_xlabel() == "right"
    grid_rows = pd.DataFrame({"left": 1.5, "right": display.feature_values[0]})
    final = search.best_estimator_
    assert_allclose(display.gate_proba, final[-1].gate_proba(final[:-1].transform(grid_rows)))


def test_experts_display(regressor, data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        display = ExpertsDisplay.from_estimator(regressor, X, y, feature=0, grid_resolution=60,
                                                n_std=1.5)
    assert len(display.expert_lines_) == len(display.active_lines_) == 2
    grid_rows = np.c_[display.feature_values, np.full(60, np.median(X[:, 1]))]
    mean, std = regressor.predict(grid_rows, return_std=True)
    assert_allclose(display.mean_line_.get_ydata(), mean)
    assert_allclose(display.std, std)
    for k in range(2):
        assert_allclose(display.expert_lines_[k].get_ydata(),
                        regressor.predict_experts(grid_rows)[:, k])
        active = display.active_lines_[k].get_ydata()
        in_charge = regressor.gate_proba(grid_rows)[:, k] >= 0.5
        assert np.isnan(active[~in_charge]).all() and np.isfinite(active[in_charge]).all()
    # the band spans mean +/- n_std * std
    vertices = display.band_.get_paths()[0].vertices
    assert_allclose(vertices[:, 1].max(), (mean + 1.5 * std).max())
    assert_allclose(vertices[:, 1].min(), (mean - 1.5 * std).min())
    assert display.scatter_ is not None and len(display.scatter_.get_offsets()) == len(X)
    assert display.ax_.get_ylabel() == "y"


def test_experts_display_without_data_and_multi_output(data):
    X, y = data
    Y = np.c_[y, -y]
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, Y)
    display = ExpertsDisplay.from_estimator(model, X, feature=1, output=1, highlight=None,
                                            grid_resolution=25)
    assert display.scatter_ is None
    assert all(np.isnan(line.get_ydata()).all() for line in display.active_lines_)
    assert display.ax_.get_ylabel() == "y[1]"
    with pytest.raises(ValueError, match="output="):
        ExpertsDisplay.from_estimator(model, X)


def test_experts_display_rejects_classifier(classifier, data):
    with pytest.raises(TypeError, match="GateDisplay"):
        ExpertsDisplay.from_estimator(classifier, data[0])


@pytest.mark.parametrize("solver", ["em", "adam"])
def test_log_likelihood_curve(data, solver):
    X, y = data
    model = MixtureOfExpertsRegressor(n_experts=2, solver=solver, max_iter=15, tol=0.0,
                                      random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached on purpose
        model.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        display = LogLikelihoodCurveDisplay.from_estimator(model, objective=True, name=solver)
    assert_allclose(display.line_.get_ydata(), model.log_likelihood_curve_)
    assert_allclose(display.objective_line_.get_ydata(), model.objective_curve_)
    steps = display.line_.get_xdata()
    if solver == "em":  # the start, then one value per iteration
        assert steps[0] == 0 and steps[-1] == model.n_iter_
        assert display.ax_.get_xlabel() == "EM iteration"
    else:  # one value per epoch
        assert steps[0] == 1 and steps[-1] == model.n_iter_
        assert display.ax_.get_xlabel() == "Adam epoch"
    # a second curve on the same axes
    again = LogLikelihoodCurveDisplay.from_estimator(model, ax=display.ax_, name="again")
    assert again.ax_ is display.ax_ and len(display.ax_.lines) == 3
    assert again.objective_line_ is None


def test_plot_again_on_new_axes(regressor, data):
    X, _ = data
    display = GateDisplay.from_estimator(regressor, X, legend=False)
    assert display.ax_.get_legend() is None
    fig, ax = plt.subplots()
    display.plot(ax=ax, colors=["red", "blue"])
    assert display.ax_ is ax
    assert [line.get_color() for line in display.lines_] == ["red", "blue"]


def test_errors(regressor, data):
    X, _ = data
    with pytest.raises(ValueError, match="column name"):
        GateDisplay.from_estimator(regressor, X, feature="age")
    with pytest.raises(ValueError, match="out of range"):
        GateDisplay.from_estimator(regressor, X, feature=5)
    with pytest.raises(ValueError, match="must differ"):
        GateDisplay.from_estimator(regressor, X, feature=(1, 1))
    with pytest.raises(ValueError, match="percentiles"):
        GateDisplay.from_estimator(regressor, X, percentiles=(0.9, 0.1))
    with pytest.raises(TypeError, match="MixtureOfExpertsRegressor"):
        GateDisplay.from_estimator(StandardScaler().fit(X), X)
    with pytest.raises(ValueError, match="colors"):
        GateDisplay.from_estimator(regressor, X, colors=["red"])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        GateDisplay.from_estimator(MixtureOfExpertsRegressor(), X)


def test_clear_error_without_matplotlib(monkeypatch, regressor, data):
    """Without matplotlib the module imports, and drawing names the plot extra."""
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    import skmoe

    # the re-import below rebinds skmoe.inspection: have it restored afterwards
    monkeypatch.setattr(skmoe, "inspection", sys.modules["skmoe.inspection"])
    monkeypatch.delitem(sys.modules, "skmoe.inspection")
    inspection = importlib.import_module("skmoe.inspection")  # imports without matplotlib

    X, y = data
    calls = [
        lambda: inspection.GateDisplay.from_estimator(regressor, X),
        lambda: inspection.ExpertsDisplay.from_estimator(regressor, X),
        lambda: inspection.LogLikelihoodCurveDisplay.from_estimator(regressor),
        lambda: inspection.LogLikelihoodCurveDisplay(np.arange(3), np.zeros(3)).plot(),
        lambda: inspection.PredictiveDensityDisplay.from_estimator(regressor, X),
        lambda: inspection.PredictiveCalibrationDisplay.from_estimator(regressor, X, y),
        lambda: inspection.PredictiveCalibrationDisplay.from_predictions([0.5]),
    ]
    for call in calls:
        with pytest.raises(ImportError, match=r'pip install "skmoe\[plot\]"'):
            call()


def test_docstring_examples():
    """The Examples sections of the Displays' docstrings run and print what they show."""
    import doctest

    result = doctest.testmod(sys.modules["skmoe.inspection"],
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 15 and result.failed == 0
