"""Threads: ``n_jobs`` -> Numba threads, single-threaded BLAS, and fork safety.

Three pieces of process state are involved, each handled where it lives:

* Numba's thread count is per Python thread (``numba.set_num_threads``
  writes thread-local storage), so :func:`numba_threads` saves and restores
  it in the calling thread, whatever other threads do.
* A BLAS thread pool is usually process-wide (OpenBLAS built with pthreads,
  as in NumPy's wheels; MKL; BLIS): one limit for every thread. Saving and
  restoring it per call is wrong when calls overlap (the second call saves
  the first call's lowered value and the last to exit "restores" it, so
  BLAS stays at one thread), and threadpoolctl lets only the first thread
  that set an OpenBLAS limit change it again, so a limit set by one thread
  cannot be undone by another through its public API. Here the limit is
  reference counted under a lock: the first of any number of overlapping
  calls saves the setting and lowers it, the last one to leave restores it,
  whichever thread that is. OpenBLAS built with OpenMP keeps its limit per
  thread (an OpenMP variable of the calling thread) and is saved and
  restored per call.
* GNU OpenMP (libgomp, Numba's ``"omp"`` threading layer on Linux) does not
  survive ``fork()``: once Numba has started that layer, launching a
  ``parallel=True`` kernel in a forked child terminates the child
  ("fork() called from a process already using GNU OpenMP"). A fork hook
  marks such children, and :func:`threaded` then sends every kernel call to
  its serial twin there (same results, one thread).
"""

import os
import sys
import threading
from contextlib import contextmanager

import numba
from threadpoolctl import ThreadpoolController

# -- fork safety -----------------------------------------------------------------

#: True in a process forked (directly or not) from one that had started
#: Numba's threading layer on GNU OpenMP: no parallel kernel may run here.
_FORKED_FROM_GNU_OPENMP = False


def _gnu_openmp_started():
    """Whether this process has started Numba's threading layer on GNU OpenMP."""
    try:
        layer = numba.threading_layer()  # ValueError until the layer is started
    except ValueError:
        return False
    if layer != "omp":
        return False  # tbb and workqueue can be used after fork()
    try:
        from numba.np.ufunc import omppool
    except ImportError:  # pragma: no cover - the layer is omp, so it imported
        return True
    return getattr(omppool, "openmp_vendor", "GNU") == "GNU"


def _after_fork_in_child():
    global _FORKED_FROM_GNU_OPENMP, _BLAS_LOCK
    if not _FORKED_FROM_GNU_OPENMP:
        _FORKED_FROM_GNU_OPENMP = _gnu_openmp_started()
    # Only the forking thread survives: another thread may have held the lock,
    # and only this thread's own calls are still inside the BLAS limit.
    _BLAS_LOCK = threading.Lock()
    _BLAS_STATE.depth = getattr(_LOCAL, "depth", 0)
    if _BLAS_STATE.depth == 0 and _BLAS_STATE.saved:
        for setter, value in _BLAS_STATE.saved:
            setter(value)
        _BLAS_STATE.saved = []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def forked_from_gnu_openmp():
    """Whether the threaded kernels are off because of a fork (see the module doc)."""
    return _FORKED_FROM_GNU_OPENMP


#: A threaded kernel pays off from about this many cells of work (rows x
#: experts, rows x classes, rows x slots): the one threshold of every
#: ``*_parallel`` dispatch unless a call site names another.
PARALLEL_MIN_CELLS = 1 << 14
#: The mlp experts' hidden layer (rows x experts x hidden units).
PARALLEL_MIN_HIDDEN_CELLS = 1 << 18


def threaded(cells, min_cells=PARALLEL_MIN_CELLS):
    """Whether a kernel call runs its threaded (``prange``) twin.

    Every ``parallel=True`` driver in ``_kernels.py`` is called as
    ``parallel_driver if threaded(cells) else serial_driver``: the threaded
    twin only for calls with at least ``min_cells`` cells of work, when the
    calling thread has more than one Numba thread, and never in a child
    forked from a process using GNU OpenMP. Both twins give bit-identical
    results, so the choice never changes an answer.

    Parameters
    ----------
    cells : int
        The work of the call (e.g. rows x experts).
    min_cells : int, default=PARALLEL_MIN_CELLS
        Where threads start to pay for this kernel.

    Returns
    -------
    threaded : bool
    """
    big = cells >= min_cells
    return bool(big) and not _FORKED_FROM_GNU_OPENMP and numba.get_num_threads() > 1


# -- BLAS ------------------------------------------------------------------------------


_CONTROLLER = None


def _controller():
    """The process's ``ThreadpoolController``, built once on first use.

    ``threadpool_limits`` inspects every loaded shared library on each call
    (more than a small ``predict`` costs: ``benchmarks/README.md``,
    "Measurements behind constants in the code"); the controller is built
    once, when NumPy's BLAS (and scikit-learn's OpenMP) are loaded.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def openmp_single_thread():
    """One OpenMP thread for parallel regions started by the calling thread.

    Used around the fits of estimator experts (``expert=<estimator>``):
    scikit-learn's OpenMP code (``HistGradientBoosting*``, ...) loads its
    ``libgomp`` before skmoe can ask for passive waiting, so its threads
    spin, and a mixture makes many small fits. On the shared 2-core machine
    one thread per expert fit is several times faster for a boosting
    mixture (``benchmarks/README.md``, "Measurements behind constants in the
    code"); the experts themselves run in parallel with
    ``n_jobs``. ``omp_set_num_threads`` acts on the calling thread only, so
    this is safe in joblib's worker threads and is undone on exit.
    """
    return _controller().limit(limits=1, user_api="openmp")


class _BlasState:
    """Process-wide BLAS limit shared by overlapping calls (under ``_BLAS_LOCK``)."""

    libraries = None  # (per_thread, shared) BLAS library controllers, found on first use
    depth = 0  # calls currently inside the limit, in all threads
    saved = []  # (setter, original thread count) of the process-wide pools


_BLAS_STATE = _BlasState()
_BLAS_LOCK = threading.Lock()
_LOCAL = threading.local()  # .depth: this thread's calls inside the limit


def _blas_libraries():
    """``(per_thread, shared)`` controllers of the loaded BLAS, by how they keep limits."""
    if _BLAS_STATE.libraries is not None:
        return _BLAS_STATE.libraries
    per_thread, shared = [], []
    for lib in _controller().lib_controllers:
        if lib.user_api != "blas":
            continue
        if lib.internal_api == "openblas" and getattr(lib, "threading_layer", "") == "openmp":
            per_thread.append(lib)
        else:
            shared.append(lib)
    _BLAS_STATE.libraries = (per_thread, shared)
    return _BLAS_STATE.libraries


def _process_wide_setter(lib):
    """Set a process-wide limit from any thread.

    threadpoolctl (>= 3.6) lets only the thread that first set an OpenBLAS
    limit change it (others are silently ignored); the limit itself is
    process-wide, so the library's own setter is right from any thread.
    """
    return getattr(lib, "_real_set_num_threads", lib.set_num_threads)


@contextmanager
def single_threaded_blas():
    """BLAS on one thread for the body, correct under overlapping calls."""
    with _BLAS_LOCK:
        per_thread, shared = _blas_libraries()
        if _BLAS_STATE.depth == 0:
            saved = []
            for lib in shared:
                current = lib.get_num_threads()
                if current is not None and current != 1:
                    setter = _process_wide_setter(lib)
                    saved.append((setter, current))
                    setter(1)
            _BLAS_STATE.saved = saved
        _BLAS_STATE.depth += 1
        _LOCAL.depth = getattr(_LOCAL, "depth", 0) + 1
    local = []
    try:
        for lib in per_thread:
            current = lib.get_num_threads()
            if current is not None and current != 1:
                local.append((lib, current))
                lib.set_num_threads(1)
        yield
    finally:
        for lib, value in reversed(local):
            lib.set_num_threads(value)
        with _BLAS_LOCK:
            _LOCAL.depth -= 1
            _BLAS_STATE.depth -= 1
            if _BLAS_STATE.depth == 0:
                for setter, value in reversed(_BLAS_STATE.saved):
                    setter(value)
                _BLAS_STATE.saved = []


# -- n_jobs ----------------------------------------------------------------------------


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
    other (several times slower on 2 cores: ``benchmarks/README.md``,
    "Measurements behind constants in the code"). So BLAS runs on one thread
    inside skmoe's compute and the Numba kernels do the threading. Both settings are
    restored on exit (see the module docstring for concurrent calls).
    """
    previous = numba.get_num_threads()
    wanted = _resolve_n_threads(n_jobs)
    with single_threaded_blas():
        if wanted == previous:
            yield wanted
            return
        numba.set_num_threads(wanted)
        try:
            yield wanted
        finally:
            numba.set_num_threads(previous)
