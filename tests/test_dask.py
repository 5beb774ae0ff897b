"""Fitting on Dask: exact distributed EM, Incremental, parallel search (``skmoe[dask]``).

One loopback ``LocalCluster`` (2 worker processes, 1 thread each) serves the
module; it is closed at the end. The data have more than 20,000 rows, so
the in-memory fit takes the same path as the distributed one (starts
searched on a hashed subsample, EM on all rows).
"""

import copy
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

dask = pytest.importorskip("dask", reason='Dask support is optional: pip install "skmoe[dask]"')
da = pytest.importorskip("dask.array", reason='pip install "skmoe[dask]"')
distributed = pytest.importorskip("distributed", reason='pip install "skmoe[dask]"')

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor  # noqa: E402

N_ROWS = 24_000
BLOCK = 6_000
RTOL = 1e-8


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def _data(n_outputs=1, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(N_ROWS, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -1.0]
    regime = X[:, 0] > 0
    y = np.where(regime, 2.0 * X[:, 1], -30.0 * X[:, 2]) + 0.3 * rng.normal(size=N_ROWS)
    if n_outputs > 1:
        y = np.column_stack([y, np.where(regime, X[:, 2], X[:, 0]) + rng.normal(size=N_ROWS)])
    labels = (y if y.ndim == 1 else y[:, 0]) > 10.0
    y_class = labels.astype(int) + 2 * (np.abs(X[:, 2] + 1.0) > 0.15)
    w = rng.uniform(0.0, 3.0, size=N_ROWS)
    w[rng.rand(N_ROWS) < 0.01] = 0.0  # zero weights are absent rows
    return X, y, y_class, w


def _blocks(*arrays):
    return [da.from_array(a, chunks=(BLOCK,) + a.shape[1:]) for a in arrays]


def _fitted_params(est):
    names = ["gate_coef_", "gate_intercept_", "expert_coef_", "expert_intercept_", "expert_var_"]
    return {n: getattr(est, n) for n in names if hasattr(est, n)}


def _assert_close(actual, expected, what):
    scale = max(float(np.max(np.abs(expected))), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def _assert_same_fit(dist, mem):
    assert dist.n_iter_ == mem.n_iter_
    _assert_close(dist.log_likelihood_curve_, mem.log_likelihood_curve_, "curve")
    _assert_close(dist.log_likelihood_, mem.log_likelihood_, "log_likelihood_")
    _assert_close(dist.expert_load_, mem.expert_load_, "expert_load_")
    for name, value in _fitted_params(mem).items():
        _assert_close(getattr(dist, name), value, name)


def _pair(make, X, y, w, dX, dy, dw, max_iter):
    """In-memory and distributed EM from the same initial parameters (warm start)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = make(max_iter=1).fit(X, y, sample_weight=w)
        mem = copy.deepcopy(start).set_params(warm_start=True, max_iter=max_iter)
        dist = copy.deepcopy(start).set_params(warm_start=True, max_iter=max_iter)
        mem.fit(X, y, sample_weight=w)
        dist.fit(dX, dy, sample_weight=dw)
    return mem, dist


@pytest.fixture(scope="module")
def regressor_pair(client):
    X, y, _, w = _data()
    dX, dy, dw = _blocks(X, y, w)

    def make(**kw):
        return MixtureOfExpertsRegressor(n_experts=3, random_state=0, **kw)

    return (X, y, w, dX, dy, dw), _pair(make, X, y, w, dX, dy, dw, max_iter=8)


@pytest.fixture(scope="module")
def classifier_pair(client):
    X, _, y, w = _data()
    dX, dy, dw = _blocks(X, y, w)

    def make(**kw):
        return MixtureOfExpertsClassifier(n_experts=2, random_state=0, **kw)

    return (X, y, w, dX, dy, dw), _pair(make, X, y, w, dX, dy, dw, max_iter=4)


def test_distributed_em_equals_in_memory_em_regressor(regressor_pair):
    _, (mem, dist) = regressor_pair
    assert mem.n_iter_ >= 3  # EM really moved: the comparison is not of two starts
    assert mem.log_likelihood_curve_[-1] > mem.log_likelihood_curve_[0]
    _assert_same_fit(dist, mem)


def test_distributed_em_equals_in_memory_em_classifier(classifier_pair):
    _, (mem, dist) = classifier_pair
    assert mem.n_iter_ == 4
    assert mem.log_likelihood_curve_[-1] > mem.log_likelihood_curve_[0]
    _assert_same_fit(dist, mem)
    np.testing.assert_array_equal(dist.classes_, mem.classes_)


def test_distributed_fit_from_scratch_multi_output(client):
    """Cold fits: scaling by Dask reductions and the start search on the same samples."""
    X, y, _, w = _data(n_outputs=2)
    dX, dy, dw = _blocks(X, y, w)
    params = dict(n_experts=2, random_state=0, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mem = MixtureOfExpertsRegressor(**params).fit(X, y, sample_weight=w)
        dist = MixtureOfExpertsRegressor(**params).fit(dX, dy, sample_weight=dw)
    assert dist.expert_coef_.shape == (2, 2, 3)
    _assert_close(dist._x_scaler().mean_, mem._x_scaler().mean_, "X mean")
    _assert_close(dist._target().scaler.scale_, mem._target().scaler.scale_, "y scale")
    _assert_same_fit(dist, mem)


def test_predictions_on_dask_arrays_regressor(regressor_pair):
    (X, y, _, dX, dy, _), (mem, dist) = regressor_pair
    mean = dist.predict(dX)
    assert isinstance(mean, da.Array) and mean.shape == (N_ROWS,)
    np.testing.assert_allclose(mean.compute(), dist.predict(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mean.compute(), mem.predict(X), rtol=1e-7, atol=1e-7)
    mean, std = dist.predict(dX, return_std=True)
    ref_mean, ref_std = dist.predict(X, return_std=True)
    np.testing.assert_allclose(std.compute(), ref_std, rtol=1e-12)
    np.testing.assert_allclose(mean.compute(), ref_mean, rtol=1e-12, atol=1e-12)
    # options given by position reach the blocks too
    _, std_positional = dist.predict(dX, True)
    np.testing.assert_allclose(std_positional.compute(), ref_std, rtol=1e-12)
    for method in ("gate_proba", "predict_experts"):
        out = getattr(dist, method)(dX)
        assert isinstance(out, da.Array)
        np.testing.assert_allclose(out.compute(), getattr(dist, method)(X), rtol=1e-12)
    ll = dist.log_likelihood(dX, dy)
    assert isinstance(ll, da.Array)
    np.testing.assert_allclose(ll.compute(), dist.log_likelihood(X, y), rtol=1e-12)


def test_predictions_on_dask_arrays_classifier(classifier_pair):
    (X, y, _, dX, dy, _), (_, dist) = classifier_pair
    labels = dist.predict(dX)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), dist.predict(X))
    for method in ("predict_proba", "predict_log_proba", "predict_experts", "gate_proba"):
        out = getattr(dist, method)(dX)
        assert isinstance(out, da.Array) and out.shape == getattr(dist, method)(X[:5]).shape[
            :0] + (N_ROWS,) + out.shape[1:]
        np.testing.assert_allclose(out.compute(), getattr(dist, method)(X), rtol=1e-12)
    np.testing.assert_allclose(dist.log_likelihood(dX, dy).compute(),
                               dist.log_likelihood(X, y), rtol=1e-12)


def test_prediction_rejects_wrong_feature_count(regressor_pair):
    (X, *_), (_, dist) = regressor_pair
    with pytest.raises(ValueError, match="3 features as input"):
        dist.predict(da.from_array(X[:, :2], chunks=1000))


def test_numpy_weights_with_dask_data_and_local_scheduler():
    """Any scheduler (here the synchronous one), NumPy weights with Dask X and y."""
    X, y, _, w = _data(seed=1)
    X, y, w = X[:21_000], y[:21_000], w[:21_000]
    dX, dy = _blocks(X, y)
    params = dict(n_experts=2, random_state=0, max_iter=3)
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        mem = MixtureOfExpertsRegressor(**params).fit(X, y, sample_weight=w)
        dist = MixtureOfExpertsRegressor(**params).fit(dX, dy, sample_weight=w)
    _assert_same_fit(dist, mem)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(solver="lbfgs"), "solver='em'"),
        (dict(solver="adam"), "partial_fit"),
        (dict(top_k=1), "top_k=None"),
        (dict(expert="mlp"), "expert='linear' or 'constant'"),
    ],
)
def test_unsupported_configurations_name_what_is_supported(params, match):
    X, y, _, _ = _data()
    dX, dy = _blocks(X[:1000], y[:1000])
    with pytest.raises(ValueError, match=match):
        MixtureOfExpertsRegressor(n_experts=2, **params).fit(dX, dy)


def test_invalid_values_raise_the_in_memory_errors():
    X, y, y_class, w = _data()
    X, y, y_class, w = X[:2000], y[:2000], y_class[:2000], w[:2000]
    est = MixtureOfExpertsRegressor(n_experts=2)
    with dask.config.set(scheduler="sync"):
        bad = X.copy()
        bad[1500, 1] = np.nan
        with pytest.raises(ValueError, match="Input X contains NaN"):
            est.fit(*_blocks(bad, y))
        bad_y = y.copy()
        bad_y[10] = np.inf
        with pytest.raises(ValueError, match="Input y contains infinity"):
            est.fit(*_blocks(X, bad_y))
        neg = w.copy()
        neg[1999] = -1.0
        with pytest.raises(ValueError, match="Negative values in data passed to"):
            est.fit(*_blocks(X, y, neg))
        with pytest.raises(ValueError, match="at least one non-zero"):
            est.fit(*_blocks(X, y, np.zeros(2000)))
        with pytest.raises(ValueError, match="requires y to be passed"):
            est.fit(_blocks(X)[0], None)
        with pytest.raises(ValueError, match="inconsistent numbers of samples"):
            est.fit(*_blocks(X, y[:1500]))
        with pytest.raises(ValueError, match="only one class"):
            MixtureOfExpertsClassifier(n_experts=2).fit(*_blocks(X, np.zeros(2000, int)))
        with pytest.raises(ValueError, match="Unknown label type"):
            MixtureOfExpertsClassifier(n_experts=2).fit(*_blocks(X, y))


def test_dask_array_without_dask_names_the_extra(monkeypatch):
    X, y, _, _ = _data()
    dX, dy = _blocks(X[:1000], y[:1000])
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r'pip install "skmoe\[dask\]"'):
        MixtureOfExpertsRegressor(n_experts=2).fit(dX, dy)


def test_import_and_fit_without_dask():
    code = (
        "import sys\n"
        "for name in ('dask', 'dask.array', 'distributed', 'dask_ml'):\n"
        "    sys.modules[name] = None\n"
        "import numpy as np\n"
        "import skmoe\n"
        "X = np.random.RandomState(0).normal(size=(200, 2))\n"
        "skmoe.MixtureOfExpertsRegressor(2, max_iter=5, random_state=0).fit(X, X[:, 0])\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_incremental_partial_fit(client):
    wrappers = pytest.importorskip("dask_ml.wrappers", reason='pip install "skmoe[dask]"')
    X, y, y_class, _ = _data()
    dX, dy, dyc = _blocks(X, y, y_class)
    inc = wrappers.Incremental(MixtureOfExpertsRegressor(n_experts=3, random_state=0),
                               random_state=0)
    inc.fit(dX, dy)
    assert inc.estimator_.n_iter_ == N_ROWS // BLOCK  # one partial_fit per block
    # the scoring caveat of the user guide: Incremental.score of a regressor goes
    # through dask_ml.metrics.r2_score; skmoe's own score takes Dask arrays
    r2 = inc.estimator_.score(dX, dy)
    assert r2 > 0.5
    assert r2 == pytest.approx(inc.estimator_.score(X, y), rel=1e-12)
    clf = wrappers.Incremental(MixtureOfExpertsClassifier(n_experts=2, random_state=0),
                               scoring="accuracy", random_state=0)
    clf.fit(dX, dyc, classes=[0, 1, 2, 3])
    np.testing.assert_array_equal(clf.estimator_.classes_, [0, 1, 2, 3])
    assert clf.score(dX, dyc) > 0.5
    pred = clf.predict(dX)
    assert isinstance(pred, da.Array)
    np.testing.assert_array_equal(pred.compute(), clf.estimator_.predict(X))


def test_partial_fit_loop_over_memmap(tmp_path):
    X, y, _, _ = _data()
    path = tmp_path / "X.dat"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    del mm
    mm = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    on_disk = MixtureOfExpertsRegressor(n_experts=3, random_state=0)
    in_memory = MixtureOfExpertsRegressor(n_experts=3, random_state=0)
    for start in range(0, N_ROWS, BLOCK):
        rows = slice(start, start + BLOCK)
        on_disk.partial_fit(mm[rows], y[rows])
        in_memory.partial_fit(X[rows], y[rows])
    assert on_disk.n_iter_ == N_ROWS // BLOCK
    np.testing.assert_array_equal(on_disk.gate_coef_, in_memory.gate_coef_)
    np.testing.assert_array_equal(on_disk.predict(X[:100]), in_memory.predict(X[:100]))
    assert on_disk.score(X, y) > 0.5


def test_grid_search_under_joblib_dask_backend(client):
    import joblib
    from sklearn.model_selection import GridSearchCV

    from skmoe._threads import _resolve_n_threads

    # inside a worker's task skmoe's kernels use one thread (no oversubscription)
    assert client.submit(_resolve_n_threads, None, pure=False).result() == 1
    assert client.submit(_resolve_n_threads, 2, pure=False).result() == 2
    X, y, _, _ = _data()
    X, y = X[:3000], y[:3000]
    grid = {"n_experts": [1, 2], "alpha": [1e-4, 1.0]}

    def search():
        est = MixtureOfExpertsRegressor(random_state=0, n_init=2, max_iter=20)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return GridSearchCV(est, grid, cv=2, n_jobs=-1).fit(X, y)

    with joblib.parallel_backend("dask"):
        on_dask = search()
    local = search()
    assert on_dask.best_params_ == local.best_params_ and on_dask.best_params_["n_experts"] == 2
    np.testing.assert_allclose(on_dask.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"], rtol=1e-12)


def test_docstring_examples():
    import doctest

    import skmoe._dask

    result = doctest.testmod(skmoe._dask, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0


def test_dask_dataframe_input_keeps_feature_names():
    dd = pytest.importorskip("dask.dataframe", reason='pip install "skmoe[dask]"')
    pd = pytest.importorskip("pandas")
    X, y, _, _ = _data(seed=2)
    X, y = X[:21_000], y[:21_000]
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    params = dict(n_experts=2, random_state=0, max_iter=3)
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        mem = MixtureOfExpertsRegressor(**params).fit(frame, y)
        dist = MixtureOfExpertsRegressor(**params).fit(
            dd.from_pandas(frame, npartitions=3), dd.from_pandas(pd.Series(y), npartitions=3)
        )
        pred = dist.predict(dd.from_pandas(frame.iloc[:500], npartitions=2)).compute()
    np.testing.assert_array_equal(dist.feature_names_in_, ["a", "b", "c"])
    _assert_same_fit(dist, mem)
    np.testing.assert_allclose(pred, dist.predict(frame.iloc[:500]), rtol=1e-12)


@pytest.mark.parametrize("Est, target", [(MixtureOfExpertsRegressor, 1),
                                         (MixtureOfExpertsClassifier, 2)])
def test_constant_experts_match_in_memory(Est, target):
    X, y, y_class, w = _data(seed=3)
    X, w = X[:21_000], w[:21_000]
    y = (y if target == 1 else y_class)[:21_000]
    dX, dy, dw = _blocks(X, y, w)
    params = dict(n_experts=2, expert="constant", random_state=0, max_iter=4)
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        mem = Est(**params).fit(X, y, sample_weight=w)
        dist = Est(**params).fit(dX, dy, sample_weight=dw)
    assert mem.n_iter_ >= 2
    _assert_same_fit(dist, mem)


def test_warm_dask_fit_with_changed_structure_raises_and_keeps_the_model():
    """As the in-memory fit: a warm start after set_params changed n_experts names it."""
    X, y, _, _ = _data(seed=2)
    dX, dy = _blocks(X, y)
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MixtureOfExpertsRegressor(n_experts=2, random_state=0, max_iter=3).fit(dX, dy)
        before = model.predict(X[:100])
        model.set_params(warm_start=True, n_experts=3)
        with pytest.raises(ValueError, match="n_experts=3, but the model was fitted with"):
            model.fit(dX, dy)
        np.testing.assert_array_equal(model.predict(X[:100]), before)
        # warm fits with the fitted structure continue from it
        model.set_params(n_experts=2, max_iter=1)
        model.fit(dX, dy)
        assert model.gate_proba(X[:5]).shape == (5, 2)


def test_student_t_experts_match_in_memory():
    """The t family's extra statistics (per-output moments, latent-scale sums) are additive."""
    X, y, _, w = _data(seed=4)
    X, y, w = X[:21_000], y[:21_000], w[:21_000]
    dX, dy, dw = _blocks(X, y, w)
    params = dict(n_experts=2, expert_distribution="student_t", random_state=0, max_iter=4)
    with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        mem = MixtureOfExpertsRegressor(**params).fit(X, y, sample_weight=w)
        dist = MixtureOfExpertsRegressor(**params).fit(dX, dy, sample_weight=dw)
    assert mem.n_iter_ >= 2
    _assert_same_fit(dist, mem)
    np.testing.assert_allclose(dist.expert_df_, mem.expert_df_, rtol=1e-8)
