"""Docstring blocks the regressor and the classifier share.

The estimators' class docstrings are f-strings that insert these blocks, so
a parameter, attribute or ``partial_fit`` behaviour is described once.
"""

SHARED_PARAMS_DOC = """
    n_experts : int or "auto", default="auto"
        Number of experts ``K`` (``>= 1``). ``"auto"`` chooses it by BIC
        along a path of grown models: one expert, then one more at a time,
        each model started from the previous one with its worst-explained
        expert split in two and run to convergence; the path stops after two
        models that do not lower the best BIC (or at 10 experts, or at
        ``2(d + 1)`` rows per expert), and the ``K`` of the lowest BIC is
        then fitted as an int would be. Dense models in memory only (with
        ``top_k``, or for Dask input, give an int). mlp and estimator
        experts choose ``K`` with linear (logistic) stand-ins. Fitted
        ``n_experts_`` is the ``K`` used and ``n_experts_path_`` the path.
        ``partial_fit`` cannot start an ``"auto"`` model (fit it first). The
        default since issue 16: on the regression tables of
        ``benchmarks/bench_real_data.py`` it never loses to the linear
        model, where ``n_experts=4`` did.

    top_k : int or None, default=None
        ``None`` for the dense mixture. An int ``1 <= top_k < n_experts``
        gives the sparse model (Shazeer et al. 2017): each row is routed to
        the ``top_k`` experts with the largest gate logits, the gate is the
        softmax renormalised over them, and only they are evaluated, in
        training and in prediction. Fitted by ``solver="adam"`` only. The
        training loss is the negative log-likelihood of the top-k mixture
        plus that of the top-(k+1) mixture (the extra "challenger" expert
        gives the gate a learning signal for every k, including 1), plus the
        load-balancing penalty; see the user guide for the exact formulas.

    solver : {"auto", "em", "lbfgs", "adam"}, default="auto"
        Fitting method. ``"em"`` runs expectation-maximisation; ``"lbfgs"``
        minimises the same penalised objective by full-batch L-BFGS (scipy)
        with exact gradients (expert variances in log space); ``"adam"`` by
        mini-batch Adam. All start from the same start search. ``"auto"``
        means ``"em"``, ``"lbfgs"`` for ``expert="mlp"`` (which has no EM),
        and ``"adam"`` when ``top_k`` is set (the top-k sets change as the
        gate moves, so there is neither a monotone EM nor a smooth objective
        for L-BFGS). An unsupported combination raises ``ValueError`` naming the
        supported solvers.

    noisy_gating : bool, default=True
        Sparse training only: route each training row by ``h + eps *
        softplus(W_n x)`` with ``eps ~ N(0, 1)`` drawn per row, expert and
        step from ``random_state`` and learned noise weights ``W_n``.
        Prediction never uses noise. No effect on a dense model.

    load_balancing : float, default=1e-2
        Sparse training only: weight ``w`` of the penalty ``w * (CV^2(I) +
        CV^2(L))`` added to each mini-batch's loss (Shazeer et al. 2017), with
        ``I_e = sum_i w_i softmax(H_i)_e`` (softmax of the routing logits over
        all experts), ``L_e = sum_i w_i Phi((h_ie - t_ie) / s_ie)`` the smooth
        estimate of how often expert ``e`` is in the top ``top_k`` under the
        noise (``t_ie`` the ``top_k``-th largest noisy logit of row ``i``
        other than ``e``'s, ``s_ie`` the noise scale; ``s = 1`` without
        noisy gating) and ``CV^2 = variance / mean^2`` over the experts. No
        effect on a dense model.

    expert_hidden : int, default=32
        Hidden ``tanh`` units of each ``"mlp"`` expert.

    max_iter : int, default=200
        Maximum number of EM or L-BFGS iterations, or Adam epochs, of the
        main run (the short EM runs of the start search use at most 25).

    tol : float, default=1e-5
        EM stops when the weighted mean log-likelihood changes by less than
        ``tol`` between iterations; L-BFGS when the objective (per unit
        weight) decreases by less than ``tol`` in 10 consecutive iterations;
        Adam when the epoch's loss has not improved on the best by ``tol``
        for more than 10 consecutive epochs (as ``MLPRegressor``).

    n_init : int, default=1
        Number of restarts; the one with the best log-likelihood is kept.
        Each restart already screens 8 to 24 starts of several kinds and
        tries split-and-merge moves after convergence (see Notes), so
        ``n_init=1`` is usually enough.

    init : {"kmeans", "random"}, default="kmeans"
        How starting partitions are drawn: ``"kmeans"`` mixes weighted
        k-means on the standardised ``[X, y]`` rows (every other start) with
        random hard partitions and runs along the target, the residuals of
        a linear fit and single features; ``"random"`` draws random
        (Dirichlet) responsibilities for every start. A sparse
        model with ``init="random"`` skips the start search's EM runs: one
        M-step on random responsibilities gives near-identical experts and a
        nearly flat gate (the usual deep-learning start, the one prone to
        collapse without load balancing).

    batch_size : int, default=256
        Mini-batch size of ``solver="adam"`` and ``partial_fit``.

    learning_rate : float, default=1e-2
        Step size of ``solver="adam"`` and ``partial_fit``. A fresh
        optimiser state ramps it up linearly over its first 200 steps.

    warm_start : bool, default=False
        Start from the previous fit's parameters (and its scaling of the
        data) instead of a new initialisation; ``n_init`` is then ignored.
        The parameters that fix the fitted structure (``n_experts``, the
        kind of ``expert``, ``top_k``, ``expert_hidden``) must be those of
        the previous fit: a warm start (or ``partial_fit``) after
        ``set_params`` changed one raises ``ValueError`` naming it. Others
        (``alpha``, ``solver``, ``max_iter``, ...) may change. Prediction
        always uses the fitted structure.

    random_state : int, RandomState instance or None, default=None
        Seeds the start search. An int gives bit-identical models across
        runs and across ``n_jobs``.

    verbose : int, default=0
        ``1`` prints a line per EM or L-BFGS run (and per Adam epoch), ``2``
        a line per iteration.

    n_jobs : int or None, default=None
        Threads for the compiled kernels (``None`` keeps Numba's current
        setting, ``-1`` uses all of its pool). Results do not depend on it.
"""


#: Attributes after ``n_features_in_``/``feature_names_in_`` common to both
#: estimators; each class adds its own before (``classes_``) and after
#: (expert parameters).
SHARED_ATTRIBUTES_DOC = """
    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    n_iter_ : int
        ``len(log_likelihood_curve_) - 1`` for EM and L-BFGS: the steps of
        the kept run on the data it was fitted to; Adam epochs
        (``partial_fit``: passes so far).

    converged_ : bool
        Whether that run met ``tol`` within ``max_iter``.

    log_likelihood_curve_ : ndarray of shape (n_iter_ + 1,) or (n_iter_,)
        Weighted mean training log-likelihood along the kept run's
        trajectory on the data it was fitted to: with EM on up to 20,000
        rows, the winning start's search iterations, one value per accepted
        split-and-merge move and the final EM run (each stage capped by
        ``max_iter``); otherwise the solver's run, before the first and after
        each iteration (subsample stages and rejected trial moves are not
        part of it); for Adam one value per epoch
        (the running mean over its mini-batches, as ``MLPRegressor``'s
        ``loss_curve_``), and one per ``partial_fit`` pass.

    objective_curve_ : ndarray of shape (n_iter_ + 1,) or (n_iter_,)
        The penalised objective per unit weight along the same run; EM and
        L-BFGS never decrease it.

    accepted_moves_ : ndarray of int
        Positions in the curves of the states reached by accepted
        split-and-merge moves (empty when none helped, or on more than
        20,000 rows, where the moves run on a subsample).

    expert_load_ : ndarray of shape (n_experts,)
        Share of the training weight each expert received (weighted mean of
        the responsibilities); sums to one.

    n_experts_ : int
        The number of experts ``K`` of the fitted model (``n_experts``
        itself when it is an int); fitted arrays have ``n_experts_`` entries.

    n_experts_path_ : dict of ndarray
        Only with ``n_experts="auto"``: the models of the path, as arrays
        ``"n_experts"``, ``"bic"`` (on the training data, the user's units)
        and ``"log_likelihood"`` (weighted mean per sample), in the order
        tried.

    gate_coef_ : ndarray of shape (n_experts, n_features)
        Gate weights ``W_g`` in the units of ``X``.

    gate_intercept_ : ndarray of shape (n_experts,)
        Gate intercepts ``b_g``.
"""

#: The body of both ``partial_fit`` docstrings before the Parameters section.
PARTIAL_FIT_DOC = """Update the model with one pass of mini-batch Adam over ``(X, y)``.

        Whatever ``solver`` fitted the model (or none: the first call
        initialises it from this batch as ``fit`` would, and fixes the
        scaling of the data), the rows are shuffled and visited once in
        mini-batches of ``batch_size``, one Adam step each. The optimiser
        state is kept across calls; a fresh state ramps its learning rate up
        over its first 200 steps, so that updating a converged model does not
        throw it off its optimum. Use it for data that arrive in pieces or do
        not fit in memory (call it repeatedly over the pieces, for several
        passes).
"""

#: The Returns section of both ``partial_fit`` docstrings.
PARTIAL_FIT_RETURNS_DOC = """
        Returns
        -------
        self : object
            ``log_likelihood_`` is the mean log-likelihood over this pass
            (each batch before its step); ``n_iter_`` counts passes.
"""
