"""scikit-learn estimators as experts (``expert=<estimator>``), fitted by EM.

Each expert is a ``clone`` of the user's estimator. In the M-step expert
``k`` is refitted on the standardised features (``X`` by its weighted mean
and standard deviation; regression targets likewise) with ``sample_weight =
w_i r_ik``: the weighted problem EM's M-step asks for, whatever the model.

* Rows whose weight is numerically zero (below ``ZERO_WEIGHT`` times the
  expert's largest) are dropped before the fit: they do not change the
  weighted problem, and some estimators dislike zero weights. An expert whose
  total weight vanishes keeps its previous model (as a collapsed linear
  expert does).
* Regressor: the expert's variance is the weighted mean squared
  **out-of-fold** residual (``N_FOLDS``-fold cross-fitting with the same
  weights), floored like the linear experts' variances. Flexible experts
  (deep trees, boosting) nearly interpolate their own rows; their in-sample
  residuals would make the variance collapse and the responsibilities harden
  onto memorised fits. Out-of-fold residuals measure how well the expert
  predicts rows it has not seen. (For a linear model they differ little from
  the in-sample ones.) The cost is ``N_FOLDS`` extra fits on
  ``(N_FOLDS - 1) / N_FOLDS`` of the rows per expert and iteration.
* Classifier: ``predict_proba`` aligned to all classes (an expert that saw
  only some classes gives the others probability 0), floored at
  ``PROBA_FLOOR`` and renormalised, so no ``-inf`` reaches the likelihood.
  An expert whose rows hold a single class predicts that class with
  probability ``1 - PROBA_FLOOR`` (many classifiers refuse to fit one class).

EM with arbitrary experts is not guaranteed to be monotone (the M-step is
whatever the estimator's ``fit`` does with the weights); the estimators keep
the iterate with the best penalised objective.
"""

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone

from .._passes import MStepContext, RowPasses
from .._threads import openmp_single_thread
from ._base import ExpertFamily
from ._heads import GaussianHead

#: Rows whose weight is below this fraction of the expert's largest weight
#: are left out of its fit.
ZERO_WEIGHT = 1e-10
#: Folds of the out-of-fold residuals behind the regressor's variances.
N_FOLDS = 3
#: Floor of the classifier experts' class probabilities.
PROBA_FLOOR = 1e-9


class _SingleClass:
    """Stand-in for a classifier fitted on rows of one class only."""

    def __init__(self, code, n_classes):
        self.code = code
        self.n_classes = n_classes

    def predict_proba(self, X):
        out = np.full((X.shape[0], self.n_classes), PROBA_FLOOR)
        out[:, self.code] = 1.0
        return out


def _seeded_clone(estimator, seed):
    """A clone; an unset ``random_state`` is fixed so that fits are repeatable."""
    model = clone(estimator)
    params = model.get_params(deep=False)
    if "random_state" in params and params["random_state"] is None:
        model.set_params(random_state=int(seed))
    return model


class EstimatorExperts(ExpertFamily):
    """``n_experts`` clones of a scikit-learn estimator under a likelihood head.

    Parameters
    ----------
    estimator : estimator instance
    n_experts : int
    head : GaussianHead or CategoricalHead
        Gaussian: the clones predict the means (regressor); categorical: their
        ``predict_proba`` gives the class probabilities (classifier).
    seed : int
        Seeds the clones' unset ``random_state`` and the folds
        (:meth:`with_seed` gives the family of another restart).
    n_jobs : int or None
        Experts fitted in parallel threads (joblib); results do not depend on it.
    oof_variance : bool, default=True
        Out-of-fold (True) or in-sample (False) residuals for the variances.
    """

    iterative = False
    #: the M-step needs the data and the responsibilities (``MStepContext``)
    needs_data = True
    linear = True

    def __init__(self, estimator, n_experts, head, seed=0, n_jobs=None, oof_variance=True):
        self.estimator = estimator
        self.n_experts = n_experts
        self.head = head
        self.seed = int(seed)
        self.n_jobs = n_jobs
        self.oof_variance = oof_variance
        self._gaussian = isinstance(head, GaussianHead)

    def with_seed(self, seed):
        """The same experts with clones and folds seeded by ``seed``."""
        return EstimatorExperts(self.estimator, self.n_experts, self.head, seed, self.n_jobs,
                                self.oof_variance)

    def n_free_params(self, n_features):
        """The head's parameters only: an arbitrary estimator's own complexity is not counted."""
        return self.n_experts * self.head.n_free_params()

    # -- predictions -----------------------------------------------------------

    def _predict_one(self, model, X):
        n_out = self.head.n_out
        if self._gaussian:
            return np.asarray(model.predict(X), dtype=float).reshape(X.shape[0], n_out)
        proba = np.asarray(model.predict_proba(X), dtype=float)
        classes = getattr(model, "classes_", None)
        if classes is not None and len(classes) != n_out:
            full = np.zeros((X.shape[0], n_out))
            full[:, np.asarray(classes, dtype=int)] = proba
            proba = full
        proba = np.maximum(proba, PROBA_FLOOR)
        return proba / proba.sum(axis=1, keepdims=True)

    def _outputs(self, params, X1):
        X = X1[:, 1:]
        parts = [self._predict_one(model, X) for model in params["models"]]
        return np.ascontiguousarray(np.stack(parts, axis=1))  # (n, K, o)

    def means(self, params, X1):
        """Expert means ``(n, K * m)`` in standardised units."""
        out = self._outputs(params, X1)
        return out.reshape(out.shape[0], -1)

    def log_proba(self, params, X1):
        """Expert log class probabilities ``(n, K, C)``."""
        return np.log(self._outputs(params, X1))

    def estep_chunk(
        self, params, X1c, target_c, weight_c, logits, resp, log_norm, gate_resid, gate_q
    ):
        """Fused E-step from the clones' means or log-probabilities (no gradient: None)."""
        if self._gaussian:
            out = self.means(params, X1c)
        else:
            out = np.ascontiguousarray(self.log_proba(params, X1c).reshape(X1c.shape[0], -1))
        self.head.estep(params, out, target_c, logits, weight_c, resp, log_norm, gate_resid,
                        gate_q)

    # -- M-step ----------------------------------------------------------------

    def new_stats(self, n_columns):
        return {"n": np.zeros(self.n_experts), "q": 0}

    def accumulate(self, stats, params, X1c, target_c, soft_weight):
        stats["n"] += soft_weight.sum(axis=0)

    def _target(self, target):
        if self._gaussian:
            return target[:, 0] if self.head.n_out == 1 else target
        return target

    def _fit_one(self, k, X, target, v, previous):
        with openmp_single_thread():
            return self._fit_one_unlimited(k, X, target, v, previous)

    def _fit_one_unlimited(self, k, X, target, v, previous):
        keep = v > ZERO_WEIGHT * v.max() if v.size and v.max() > 0 else np.zeros(v.shape, bool)
        if not keep.any():
            return previous
        Xk, tk, vk = X[keep], target[keep], v[keep]
        seed = self.seed + 7919 * k
        if not self._gaussian:
            present = np.unique(tk)
            if present.shape[0] == 1:
                return {"model": _SingleClass(int(present[0]), self.head.n_out), "var": None}
        model = _seeded_clone(self.estimator, seed).fit(Xk, self._target(tk), sample_weight=vk)
        result = {"model": model, "var": None}
        if self._gaussian:
            pred = self._predict_one(model, Xk)
            if self.oof_variance and Xk.shape[0] >= 2 * N_FOLDS:
                pred = self._out_of_fold(Xk, tk, vk, seed, pred)
            resid = tk - pred
            result["var"] = self.head.posterior_var(vk @ (resid * resid), vk.sum())
        return result

    def _out_of_fold(self, X, target, v, seed, fallback):
        """Out-of-fold predictions with weighted ``N_FOLDS``-fold cross-fitting."""
        folds = np.random.RandomState(seed).permutation(X.shape[0]) % N_FOLDS
        pred = fallback.copy()
        for f in range(N_FOLDS):
            test = folds == f
            train = ~test
            model = _seeded_clone(self.estimator, seed + f + 1)
            model.fit(X[train], self._target(target[train]), sample_weight=v[train])
            pred[test] = self._predict_one(model, X[test])
        return pred

    def mstep(self, stats, params, collapsed, context=None):
        """Refit every non-collapsed expert to its responsibility-weighted data."""
        if context is None:
            raise RuntimeError("estimator experts need the data in their M-step")
        design = context.design
        X = design.X1[:, 1:]
        target = design.target
        previous = [None] * self.n_experts
        if params is not None:
            previous = [
                {"model": params["models"][k],
                 "var": params["var"][k] if self._gaussian else None}
                for k in range(self.n_experts)
            ]
        todo = [k for k in range(self.n_experts) if not (collapsed[k] and params is not None)]
        fitted = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(self._fit_one)(k, X, target, design.weight * context.resp[:, k], previous[k])
            for k in todo
        )
        results = list(previous)
        for k, res in zip(todo, fitted, strict=True):
            results[k] = res
        if any(r is None for r in results):
            # an expert without any weight at the first M-step: fit it on all rows
            for k, r in enumerate(results):
                if r is None:
                    results[k] = self._fit_one(k, X, target, design.weight.copy(), None)
        models = np.empty(self.n_experts, dtype=object)
        for k, r in enumerate(results):
            models[k] = r["model"]
        out = {"models": models}
        if self._gaussian:
            out["var"] = np.array([r["var"] for r in results])
        return out

    def init_params(self, design, resp, rng=None, ridge=None):
        """Clones fitted to the starting responsibilities ``resp`` (one M-step on ``design``)."""
        context = MStepContext(RowPasses(design, self.n_experts, resp), self, None, design)
        return self.mstep(None, None, np.zeros(self.n_experts, dtype=bool), context)

    def penalty(self, params):
        """The variance prior of the Gaussian head (the estimators' own penalties are theirs)."""
        return self.head.penalty(params) if self._gaussian else 0.0

