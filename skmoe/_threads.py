"""Map ``n_jobs`` to Numba's thread count for the duration of a call."""

import sys
from contextlib import contextmanager

import numba
from threadpoolctl import ThreadpoolController

_CONTROLLER = None


def _controller():
    """The process's ``ThreadpoolController``, built once on first use.

    ``threadpool_limits`` inspects every loaded shared library on each call
    (about 2.5 ms here, more than a small ``predict``); the controller is
    built once, when NumPy's BLAS (and scikit-learn's OpenMP) are loaded.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def _blas_single_thread():
    """``threadpool_limits(1, "blas")`` without rescanning the loaded libraries."""
    return _controller().limit(limits=1, user_api="blas")


def openmp_single_thread():
    """One OpenMP thread for parallel regions started by the calling thread.

    Used around the fits of estimator experts (``expert=<estimator>``):
    scikit-learn's OpenMP code (``HistGradientBoosting*``, ...) loads its
    ``libgomp`` before skmoe can ask for passive waiting, so its threads
    spin, and a mixture makes many small fits. On the shared 2-core machine
    one thread per expert fit halved a 4-expert boosting mixture's fit time
    (``benchmarks/README.md``); the experts themselves run in parallel with
    ``n_jobs``. ``omp_set_num_threads`` acts on the calling thread only, so
    this is safe in joblib's worker threads and is undone on exit.
    """
    return _controller().limit(limits=1, user_api="openmp")


def _in_dask_task():
    """Whether this thread runs a task of a ``distributed`` worker.

    There the worker's threads (and its fellow workers) already use the
    cores, e.g. under ``joblib.parallel_backend("dask")``; ``n_jobs=None``
    then means one Numba thread, not Numba's default of all cores.
    ``distributed`` is only looked up if already imported.
    """
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


def _resolve_n_threads(n_jobs):
    """Number of Numba threads for ``n_jobs``, clamped to the launched pool.

    ``None`` keeps the current setting (one thread inside a Dask worker's
    task), negative values count back from the
    pool size as in joblib (``-1`` = all). The pool can be smaller than the
    machine (``NUMBA_NUM_THREADS``, or a joblib worker that limits threads);
    we clamp rather than raise, so the same estimator runs everywhere.
    """
    pool = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        if _in_dask_task():
            return 1
        return numba.get_num_threads()
    if n_jobs < 0:
        n_jobs = pool + 1 + n_jobs
    return int(min(max(n_jobs, 1), pool))


@contextmanager
def numba_threads(n_jobs):
    """Run the body with ``n_jobs`` Numba threads and single-threaded BLAS.

    Our matrix products are tall and skinny (rows x (n_features + 1) times a
    few columns) and interleave with threaded Numba kernels. Letting OpenBLAS
    start its own threads as well makes both thread pools spin against each
    other: on 2 cores a 20,000-row fit took 10.3 s instead of 2.8 s
    (``benchmarks/README.md``). So BLAS runs on one thread inside skmoe's
    compute and the Numba kernels do the threading. Both settings are
    restored on exit.
    """
    previous = numba.get_num_threads()
    wanted = _resolve_n_threads(n_jobs)
    with _blas_single_thread():
        if wanted == previous:
            yield wanted
            return
        numba.set_num_threads(wanted)
        try:
            yield wanted
        finally:
            numba.set_num_threads(previous)
