"""Target codecs: everything the fit does to ``y`` before the solvers see it.

A codec turns the user's ``y`` into raw target columns ``T`` (``encode``),
learns and applies their scaling (``fit_scaling``, ``scaled``), gives the
view of ``T`` the subsample hash sees (``hash_view``), the shift that takes
standardised log-likelihoods back to the user's units
(``log_likelihood_shift``) and the target columns k-means clusters on
(``cluster_features``). The in-memory and the Dask paths use the same codec.

An estimator stores a codec as plain values (:meth:`state`) and rebuilds it
with :func:`target_from_state`, so that pickles hold arrays and builtins only.

* :class:`GaussianTarget` (regressor): ``y`` of shape (n,) or (n, m),
  standardised by its weighted mean and standard deviation.
* :class:`CategoricalTarget` (classifier): labels coded by their position in
  ``classes``.
"""

import numpy as np
import scipy.sparse
from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets

from ._data import Scaler


class GaussianTarget:
    """Real-valued targets, one or several outputs.

    Parameters
    ----------
    ndim : int or None
        ``y.ndim`` at fit (1 or 2); None before the first fit.
    n_outputs : int or None
    scaler : Scaler or None
        Weighted standardisation of the target columns.
    residual_var : ndarray of shape (n_outputs,) or None
        Residual variance of a one-expert ridge fit (standardised units),
        the scale of the experts' variance prior (``_experts.variance_prior``).
    """

    #: the likelihood head of the experts this target goes with
    head = "gaussian"
    #: ``validate_data`` keyword arguments for ``y``
    validate_kwargs = {"multi_output": True, "y_numeric": True}
    #: Start search and moves (``skmoe._start``, ``skmoe._moves``): at least
    #: this many starts and trials per round; more single-feature starts
    #: with at most ``FEW_FEATURES`` features.
    MIN_STARTS = 8
    MIN_TRIALS = 6
    FEW_FEATURES = 3
    MOVES_ON_SUBSAMPLE = True

    def __init__(self, ndim=None, n_outputs=None, scaler=None, residual_var=None):
        self.ndim = ndim
        self.n_outputs = n_outputs
        self.scaler = scaler
        self.residual_var = None if residual_var is None else np.asarray(residual_var, float)

    @property
    def squeeze(self):
        """Whether ``y`` was 1-D, so that outputs drop their output axis."""
        return self.ndim == 1

    def state(self):
        scaler = None if self.scaler is None else self.scaler.state()
        residual_var = None if self.residual_var is None else self.residual_var.copy()
        return {"head": "gaussian", "ndim": self.ndim, "n_outputs": self.n_outputs,
                "scaler": scaler, "residual_var": residual_var}

    def public_attributes(self):
        """Fitted attributes the estimator shows for this codec."""
        return {}

    @classmethod
    def from_state(cls, state):
        scaler = state["scaler"]
        return cls(state["ndim"], state["n_outputs"],
                   None if scaler is None else Scaler.from_state(scaler),
                   state.get("residual_var"))

    def encode(self, y, reset, name="MixtureOfExpertsRegressor"):
        """Raw target columns ``(n, m)``; ``reset`` learns the shape."""
        if scipy.sparse.issparse(y):
            raise TypeError(
                "A sparse matrix was passed as y, but dense targets are required. "
                "Use y.toarray() to convert to a dense numpy array."
            )
        y = np.asarray(y, dtype=np.float64)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if reset:
            self.ndim, self.n_outputs = y.ndim, n_outputs
        elif n_outputs != self.n_outputs:
            raise ValueError(
                f"y has {n_outputs} outputs, but {name} was fitted with "
                f"{self.n_outputs} outputs."
            )
        return y.reshape(y.shape[0], -1)

    def encode_incremental(self, y, classes, first, estimator):
        """``partial_fit``'s encoding (``classes`` is not used by regressors)."""
        return self.encode(y, reset=first, name=type(estimator).__name__)

    def fit_scaling(self, T, w):
        self.set_scaling(Scaler(T, w))

    def set_scaling(self, scaler):
        """Use ``scaler``; ``ValueError`` if the spread of ``y`` overflows its variances."""
        with np.errstate(over="ignore"):
            spread_ok = np.all(np.isfinite(scaler.scale_**2 * 1e8))
        if not spread_ok:
            raise ValueError(
                f"y spreads over {scaler.scale_.max():.3g} (standard deviation): its "
                "variances overflow float64. Rescale y (e.g. y / 1e150)."
            )
        self.scaler = scaler

    def set_shape(self, ndim, n_outputs):
        """Learn the shape of ``y`` without seeing its values (distributed data)."""
        self.ndim, self.n_outputs = int(ndim), int(n_outputs)

    def scaled(self, T):
        """The experts' target: standardised ``(n, m)`` float64."""
        return np.ascontiguousarray(self.scaler.transform(T))

    def hash_view(self, T):
        return self.scaler.transform(T)

    def log_likelihood_shift(self):
        """Added to standardised-unit log-likelihoods to get the user's units."""
        return -float(np.sum(np.log(self.scaler.scale_)))

    def cluster_features(self, design):
        """Target columns of the k-means start: ``y`` as heavy as all features together."""
        return design.target * np.sqrt(max(design.n_columns - 1, 1))


class CategoricalTarget:
    """Class labels, coded by their position in ``classes``.

    Parameters
    ----------
    classes : ndarray or None
    """

    head = "categorical"
    validate_kwargs = {}
    #: k-means weight of the one-hot labels: partitions then follow regions
    #: of ``X`` more than the classes (``benchmarks/README.md``,
    #: "Measurements behind constants")
    CLUSTER_WEIGHT = 0.3
    #: Start search and moves (``skmoe._start``, ``skmoe._moves``): at least
    #: this many starts and trials; single-feature starts with at most
    #: ``FEW_FEATURES`` features (always: the classes rarely separate along
    #: the label columns).
    MIN_STARTS = 8
    MIN_TRIALS = 2
    FEW_FEATURES = 10**9
    #: Moves on the subsample of large data: off (at n = 1e5, K = 4, C = 3
    #: they added 1-11 s to a 6-8 s fit and closed 0.005 nats at one seed of
    #: five: ``benchmarks/README.md``, "The best optimum (issue 15)").
    MOVES_ON_SUBSAMPLE = False

    def __init__(self, classes=None):
        self.classes = classes

    @property
    def n_classes(self):
        return len(self.classes)

    def state(self):
        return {"head": "categorical", "classes": self.classes}

    def public_attributes(self):
        return {"classes_": self.classes}

    @classmethod
    def from_state(cls, state):
        return cls(state["classes"])

    def encode(self, y, reset, name=None):
        """Class codes as a float ``(n, 1)`` column; ``reset`` learns ``classes``."""
        check_classification_targets(y)
        if reset:
            classes, codes = np.unique(y, return_inverse=True)
            self.set_classes(classes)
        else:
            codes = np.searchsorted(self.classes, y)
            codes = np.minimum(codes, len(self.classes) - 1)
            unseen = self.classes[codes] != y
            if np.any(unseen):
                raise ValueError(
                    f"y contains previously unseen labels: {np.unique(np.asarray(y)[unseen])!r}"
                )
        return codes.astype(np.float64).reshape(-1, 1)

    def encode_incremental(self, y, classes, first, estimator):
        """``partial_fit``: the classes come from ``classes`` on the first call (as SGD)."""
        if _check_partial_fit_first_call(estimator, classes):
            if len(estimator.classes_) < 2:
                raise ValueError(
                    f"classes={np.asarray(classes).tolist()!r} must hold at least 2 classes."
                )
        self.classes = estimator.classes_
        check_classification_targets(y)
        return self.encode(y, reset=False)

    def fit_scaling(self, T, w):
        pass

    def set_scaling(self, scaler):
        pass

    def set_classes(self, classes):
        """Learn the classes (distributed data: the union of the blocks' labels)."""
        if classes.shape[0] < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the "
                f"data contains only one class: {np.asarray(classes[0]).tolist()!r}"
            )
        self.classes = classes

    def scaled(self, T):
        """The experts' target: int64 class codes ``(n,)``."""
        return np.ascontiguousarray(T[:, 0], dtype=np.int64)

    def hash_view(self, T):
        return T

    def log_likelihood_shift(self):
        return 0.0

    def cluster_features(self, design):
        """The one-hot labels, lightly weighted."""
        return design.onehot(self.n_classes) * self.CLUSTER_WEIGHT


_CODECS = {"gaussian": GaussianTarget, "categorical": CategoricalTarget}


def target_from_state(state):
    """The codec stored by ``codec.state()``."""
    return _CODECS[state["head"]].from_state(state)
