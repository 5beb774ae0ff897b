"""Fitting and prediction on Dask collections (the optional extra ``skmoe[dask]``).

* :mod:`._collections`: recognising Dask collections without importing Dask,
  importing it (``ImportError`` naming the extra), aligning a fit's inputs;
* :mod:`._design`: the training data as persisted blocks
  (``DaskTrainingData``), the design the solvers run on (``DaskDesign``) and
  its map-reduce passes (``DaskPasses``): the same contract as
  ``skmoe._inputs.MemoryTrainingData``, ``skmoe._passes.Design`` and
  ``RowPasses``, so the engine and EM are written once;
* :mod:`._predict`: the ``dask_rows`` decorator of the prediction methods.

This package never imports the estimator modules.

Examples
--------
Any Dask scheduler works; here the synchronous one (under a
``distributed.Client`` the blocks are processed on its workers).

>>> import dask
>>> import dask.array as da
>>> import numpy as np
>>> from skmoe import MixtureOfExpertsRegressor
>>> rng = np.random.RandomState(0)
>>> X = rng.uniform(-3, 3, size=(30_000, 1))
>>> y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + rng.normal(0, 0.1, 30_000)
>>> dX, dy = da.from_array(X, chunks=(10_000, 1)), da.from_array(y, chunks=10_000)
>>> with dask.config.set(scheduler="sync"):
...     moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(dX, dy)
...     mean = moe.predict(dX)
...     first = mean[:3].compute()
>>> np.round(np.sort(moe.expert_coef_.ravel()), 1)
array([-2.,  3.])
>>> type(mean).__name__, mean.shape, mean.chunks
('Array', (30000,), ((10000, 10000, 10000),))
>>> bool(np.allclose(first, moe.predict(X[:3])))
True
"""

from ._collections import EXTRA, import_dask, is_dask_collection, is_dask_input
from ._design import TASK_CHUNK_VALUES, DaskDesign, DaskPasses, DaskTrainingData
from ._predict import dask_rows, map_rows

__all__ = ["EXTRA", "TASK_CHUNK_VALUES", "DaskDesign", "DaskPasses", "DaskTrainingData",
           "dask_rows", "import_dask", "is_dask_collection", "is_dask_input", "map_rows"]
