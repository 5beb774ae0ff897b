"""The fitted structure, and the checks that keep warm starts consistent with it.

``fit`` stores the hyper-parameters that fix the shape and meaning of the
fitted parameters (``n_experts``, the expert, ``top_k``, ``expert_hidden``)
as a plain dict, ``estimator._structure``, with the regressor's
``expert_distribution``; prediction, warm starts,
``partial_fit``, parameter counting and export read them from there, never
from the constructor parameters, which ``set_params`` may have changed since.
"""

from dataclasses import asdict, dataclass

#: The structure's fields, in the order a change is reported.
FIELDS = ("n_experts", "expert_name", "top_k", "expert_hidden", "expert_distribution")


def expert_name(expert):
    """The expert registry name of an ``expert`` value (``"estimator"`` for instances)."""
    return expert if isinstance(expert, str) else "estimator"


@dataclass(frozen=True)
class Structure:
    """The hyper-parameters that fix the shape and meaning of the fitted parameters."""

    n_experts: int
    expert: object  # the name, or the estimator instance (template of the clones)
    expert_name: str  # the registry name: the string, or "estimator"
    top_k: object  # int or None
    expert_hidden: object  # int for "mlp" experts, else None
    expert_distribution: str = "gaussian"  # the regressor's expert likelihood

    @classmethod
    def of(cls, estimator, n_experts=None):
        """The structure ``estimator`` asks for; ``n_experts`` replaces ``"auto"``."""
        expert = estimator.expert
        name = expert_name(expert)
        hidden = estimator.expert_hidden if name == "mlp" else None
        K = estimator.n_experts if n_experts is None else int(n_experts)
        distribution = getattr(estimator, "expert_distribution", "gaussian")
        return cls(K, expert, name, estimator.top_k, hidden, distribution)

    def state(self):
        """Plain values (what an estimator stores)."""
        return asdict(self)

    @classmethod
    def from_state(cls, state):
        return cls(**state)

    @property
    def sparse(self):
        """Whether each row is routed to its top ``top_k`` experts."""
        return self.top_k is not None

    def describe(self, name):
        """``name=value`` as the user would write it."""
        if name == "expert_name":
            if self.expert_name == "estimator":
                return f"expert={type(self.expert).__name__}()"
            return f"expert={self.expert!r}"
        return f"{name}={getattr(self, name)!r}"

    def first_difference(self, other):
        """Constructor name of the first field whose fitted meaning differs, or None."""
        for name in FIELDS:
            if getattr(self, name) != getattr(other, name):
                return name
        return None


#: What a continued fit (warm ``fit``, or ``partial_fit``) says when
#: ``set_params`` changed the structure.
_CONTINUE_MESSAGES = {
    False: ("a warm start (warm_start=True) continues the fitted parameters",
            "Set warm_start=False to refit from scratch."),
    True: ("partial_fit updates the fitted parameters",
           "Call fit to refit from scratch (or clone the estimator)."),
}


def check_unchanged(estimator, incremental):
    """``ValueError`` if ``set_params`` changed the fitted structure since the last fit."""
    what, remedy = _CONTINUE_MESSAGES[incremental]
    fitted = Structure.from_state(estimator._structure)
    # n_experts="auto" continues the number of experts it chose
    now = Structure.of(estimator, fitted.n_experts if estimator.n_experts == "auto" else None)
    name = fitted.first_difference(now)
    if name is not None:
        param = "expert" if name == "expert_name" else name
        raise ValueError(
            f"{now.describe(name)}, but the model was fitted with "
            f"{fitted.describe(name)}: {what} and cannot change {param}. {remedy}"
        )


def check_warm_features(warm, n_features, previous_n_features):
    """A warm start keeps the number of features."""
    if warm and n_features != previous_n_features:
        raise ValueError(
            f"X has {n_features} features, but the warm-started model was fitted "
            f"with {previous_n_features} features; set warm_start=False to refit."
        )
