"""Numba options for the kernels: the cache, its fallback, and OpenMP's wait policy.

Everything about *how* ``skmoe/_kernels.py`` is compiled lives here, so that
the kernel module holds nothing but jitted functions.

* ``OMP_WAIT_POLICY=PASSIVE`` (unless the user set it), before Numba starts
  its OpenMP pool: OpenMP worker threads spin after each parallel region by
  default, and between our short kernels the main thread runs Python, so on
  a busy machine the spinning costs more than it saves (measured:
  ``benchmarks/README.md``, "Measurements behind constants in the code").
* A read-only installation: Numba raises at decoration time when
  ``cache=True`` finds no writable location, so the cache is then pointed at a
  private temporary directory, and :func:`jit` falls back to compiling in
  memory if even that fails.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402

#: The folder whose ``__pycache__`` Numba caches the kernels in.
_KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))


def _cache_dir_writable():
    """Whether numba can write its cache for this package.

    Numba raises at decoration time when ``cache=True`` finds no writable
    location (neither the package's ``__pycache__`` nor a user cache
    directory). In that case we point numba at a private temporary directory
    so that importing skmoe from a read-only installation still works.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return True
    pycache = os.path.join(_KERNEL_DIR, "__pycache__")
    try:
        os.makedirs(pycache, exist_ok=True)
    except OSError:
        pass
    return os.access(pycache, os.W_OK)


if not _cache_dir_writable():  # pragma: no cover - exercised in a subprocess test
    import tempfile

    _fallback = os.path.join(tempfile.gettempdir(), "skmoe-numba-cache")
    try:
        os.makedirs(_fallback, exist_ok=True)
        numba.config.CACHE_DIR = _fallback
    except OSError:
        pass


def jit(parallel=False):
    """``numba.njit(cache=True, nogil=True)`` that degrades to an uncached jit.

    Caching is only a start-up optimisation; if no cache location is usable
    numba raises ``RuntimeError`` at decoration, and we compile in memory.
    """

    def decorate(func):
        try:
            return numba.njit(cache=True, parallel=parallel, nogil=True)(func)
        except RuntimeError:  # pragma: no cover - no writable cache anywhere
            return numba.njit(cache=False, parallel=parallel, nogil=True)(func)

    return decorate
