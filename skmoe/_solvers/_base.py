"""The solver contract and registry.

A solver is a class with one method, :meth:`Solver.run`: from starting
parameters, optimise the penalised objective of a :class:`FitTask` and
return a :class:`~skmoe._result.FitResult`. Each solver says what it
supports (dense or sparse routing, which experts, distributed data,
``partial_fit``) as class attributes; the estimator picks one by name from
:data:`SOLVERS`, and every message that names the supported solvers is
built from the same table, so it always names what a user can choose.

Adding a solver: a module in this package with a :class:`Solver` subclass,
and one line in :data:`SOLVERS` (``skmoe/_solvers/__init__.py``).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class SolverSettings:
    """The estimator's hyper-parameters that the solvers read (plain values)."""

    max_iter: int
    tol: float
    gate_alpha: float
    verbose: int = 0
    batch_size: int = 256
    learning_rate: float = 1e-2
    alpha: float = 0.0

    @classmethod
    def of(cls, estimator):
        return cls(
            max_iter=int(estimator.max_iter), tol=float(estimator.tol),
            gate_alpha=float(estimator.gate_alpha), alpha=float(estimator.alpha),
            verbose=int(estimator.verbose),
            batch_size=int(estimator.batch_size), learning_rate=float(estimator.learning_rate),
        )


@dataclass
class FitTask:
    """What one solver run works on.

    ``design``: a ``skmoe._passes.Design`` or a ``skmoe._dask.DaskDesign``;
    ``gate_step``: the gate's M-step (``skmoe._gate.GateMStep``, EM only);
    ``objective``: the training objective of the gradient solvers (None:
    the dense ``MixtureObjective``; the sparse model passes its own);
    ``report_shift``: added to log-likelihoods in progress lines (the
    user's units); ``gate_steps``: gate M-steps per EM iteration;
    ``keep_best``: keep EM's best iterate (experts whose M-step may lower
    the objective).
    """

    design: object
    family: object
    gate_step: object = None
    objective: object = None
    report_shift: float = 0.0
    gate_steps: int = 1
    keep_best: bool = False
    label: str = None


class Solver:
    """Base class: capabilities as class attributes, :meth:`run` does the work."""

    #: registry name (the ``solver`` option)
    name = None
    #: ``"dense"`` and/or ``"sparse"`` (``top_k`` set)
    routing = ()
    #: names of the expert entries it can fit (``skmoe._experts`` registry)
    experts = ()
    #: experts it can fit on distributed (Dask) data
    distributed_experts = ()
    #: whether ``partial_fit`` can continue with it
    incremental = False

    def __init__(self, settings):
        self.settings = settings

    @classmethod
    def supports(cls, routing, expert, distributed=False):
        experts = cls.distributed_experts if distributed else cls.experts
        return routing in cls.routing and expert in experts

    def run(self, task, params, rng):  # pragma: no cover - abstract
        """Optimise from ``params``; a ``FitResult``."""
        raise NotImplementedError


def routing_of(top_k):
    return "dense" if top_k is None else "sparse"


def default_solver(routing, expert):
    """``solver="auto"``: ``"adam"`` when sparse, ``"lbfgs"`` for mlp experts, else ``"em"``."""
    if routing == "sparse":
        return "adam"
    return "lbfgs" if expert == "mlp" else "em"


def describe(expert, top_k):
    """``expert='mlp' (dense)`` / ``an estimator expert with top_k=2``, for messages."""
    what = f"expert={expert!r}" if isinstance(expert, str) else "an estimator expert"
    return what + (f" with top_k={top_k}" if top_k is not None else " (dense)")


def supported(solvers, routing, expert, distributed=False):
    """Names of the registered solvers that support the combination, in registry order."""
    return tuple(name for name, cls in solvers.items()
                 if cls.supports(routing, expert, distributed))


def resolve(solvers, solver, expert, expert_name, top_k):
    """The solver class ``fit`` uses; ``ValueError`` naming the alternatives.

    ``expert`` is the constructor value (for messages), ``expert_name`` its
    registry entry name (``"estimator"`` for an estimator instance).
    """
    routing = routing_of(top_k)
    names = supported(solvers, routing, expert_name)
    name = default_solver(routing, expert_name) if solver == "auto" else solver
    if name in names:
        return solvers[name]
    what = describe(expert, top_k)
    if names:
        choices = " or ".join(repr(s) for s in names)
        raise ValueError(f"solver={solver!r} is not supported for {what}; use solver={choices}.")
    raise ValueError(
        f"{what} is not available in this version of skmoe (no solver supports it yet); "
        "use the dense model (top_k=None) with expert='linear' or 'constant' "
        "(regressor), 'logistic' or 'constant' (classifier), and solver='em'."
    )


def check_incremental(solvers, expert, expert_name, top_k):
    """``partial_fit`` continues with an incremental solver (Adam); the one supporting this."""
    routing = routing_of(top_k)
    for cls in solvers.values():
        if cls.incremental and cls.supports(routing, expert_name):
            return cls
    raise ValueError(
        f"partial_fit (mini-batch Adam) is not available for {describe(expert, top_k)} in "
        "this version of skmoe; use fit."
    )


def check_distributed(solvers, solver_cls, expert, expert_name, top_k, solver, task_experts):
    """``ValueError`` unless ``solver_cls`` fits this combination on Dask data.

    ``task_experts``: the expert names of the estimator's task, in the order
    the message lists them.
    """
    routing = routing_of(top_k)
    if solver_cls.supports(routing, expert_name, distributed=True):
        return
    options = [e for e in task_experts
               if any(cls.supports("dense", e, True) for cls in solvers.values())]
    names = sorted({name for name, cls in solvers.items()
                    for e in options if cls.supports("dense", e, True)})
    what = f"expert={expert!r}" if isinstance(expert, str) else "an estimator expert"
    what += f", top_k={top_k!r}, solver={solver!r}"
    hint = ""
    if solver_cls.incremental or top_k is not None:
        hint = (" Mini-batch Adam needs no distributed fit: call partial_fit on chunks "
                "(e.g. under dask_ml.wrappers.Incremental).")
    raise ValueError(
        f"Fitting on Dask arrays supports solver={' or '.join(map(repr, names))} (or 'auto') "
        f"with the dense model (top_k=None) and expert={' or '.join(map(repr, options))}; "
        f"got {what}.{hint} Otherwise pass NumPy arrays."
    )
