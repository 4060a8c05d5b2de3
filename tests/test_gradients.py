"""Gradients of the C core (``bpfast._core.Network.loss_grad``) in float64.

Three independent references are used:

* central finite differences of the core's own objective (the main check: the
  gradient must be the derivative of the function the core reports, up to the
  documented scikit-learn quirk below);
* scikit-learn's own loss functions and forward pass for the *value* of the loss;
* scikit-learn's ``_backprop`` for the gradient, to rounding accuracy.

Objective and the squared-error quirk
-------------------------------------
For rows i with sample weights s_i (all 1 without weights), S = sum_i s_i, k
outputs, network outputs p_ij and targets y_ij, scikit-learn reports

    L(theta) = D(theta) + R(theta),   R = 0.5 * alpha * sum_l ||W_l||_F^2 / S

with the data term D

    squared_error   (1/k) * sum_j sum_i s_i * 0.5 * (p_ij - y_ij)^2 / S   (MEAN over outputs)
    poisson               sum_j sum_i s_i * (y log(y/p) - y + p)_ij / S
    log_loss (softmax)   -sum_j sum_i s_i * y_ij log p_ij / S
    binary_log_loss      -sum_j sum_i s_i * (y log p + (1-y) log(1-p))_ij / S

Its backpropagation starts from delta_out = s_i * (p_ij - y_ij) / S, which is the
exact derivative w.r.t. the output pre-activation of the data term *summed* over
outputs for every canonical link (identity/squared, exp/poisson, softmax/log,
logistic/binary-log). For squared error that summed term is k * D, not D: the
gradient is not divided by k while the loss is. bpfast reproduces this on purpose,
so the function whose gradient the core returns is

    G(theta) = k * D(theta) + R(theta) = k * (L(theta) - R(theta)) + R(theta)

for squared_error and G = L for the other losses. Only the data term is scaled;
the L2 term R is not. The finite-difference reference differentiates G built from
the core's reported L and an R computed here from the parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.neural_network._base import ACTIVATIONS as SK_ACTIVATIONS
from sklearn.neural_network._base import LOSS_FUNCTIONS as SK_LOSSES

from bpfast._core import Network
from bpfast._layout import n_params, pack, unpack

N_ROWS, N_FEATURES = 7, 3
EPS = 1e-6
RELU_MARGIN = 1e-4

HIDDEN_ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
# (output activation, loss, number of outputs)
OUTPUTS = [
    ("softmax", "log_loss", 3),
    ("logistic", "binary_log_loss", 1),
    ("logistic", "binary_log_loss", 3),
    ("identity", "squared_error", 1),
    ("identity", "squared_error", 2),
    ("exp", "poisson", 1),
    ("exp", "poisson", 2),
]
OUTPUT_IDS = [f"{o}-{loss}-k{k}" for o, loss, k in OUTPUTS]
# Without a hidden layer the hidden activation is unused: that network appears once.
NETWORKS = pytest.mark.parametrize(
    "hidden_activation,hidden",
    [("identity", ())] + [(act, h) for act in HIDDEN_ACTIVATIONS for h in [(5,), (4, 5, 4)]],
    ids=lambda v: (f"h{len(v)}" if isinstance(v, tuple) else v),
)


# --------------------------------------------------------------------------- helpers


def make_targets(rng, loss, k, n=N_ROWS):
    if loss == "log_loss":
        # one-hot rows, every class present
        labels = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
        rng.shuffle(labels)
        return np.eye(k)[labels]
    if loss == "binary_log_loss":
        Y = rng.integers(0, 2, (n, k)).astype(np.float64)
        Y[0], Y[1] = 0.0, 1.0  # both labels in every column
        return Y
    if loss == "poisson":
        Y = rng.poisson(1.5, (n, k)).astype(np.float64)
        Y[0] = 0.0  # exercise the y == 0 branch of y * log(y / p)
        return Y
    return rng.normal(size=(n, k))


def make_weights(rng, n=N_ROWS):
    sw = rng.uniform(0.2, 2.0, n)
    sw[2] = 0.0  # a zero weight is legal and must drop the row entirely
    return sw


def hidden_preactivations(params, widths, X):
    """Pre-activations Z of every hidden layer, by a plain numpy forward pass."""
    coefs, intercepts = unpack(params, widths)
    zs, a = [], X
    for W, b in zip(coefs[:-1], intercepts[:-1]):
        z = a @ W + b
        zs.append(z)
        a = np.maximum(z, 0)  # only used for relu networks
    return zs


def draw_params(rng, widths, hidden_activation, X):
    """Random parameters; for relu, redrawn until no hidden unit sits near the kink."""
    for _ in range(1000):
        params = rng.uniform(-1.0, 1.0, n_params(list(widths)))
        if hidden_activation != "relu":
            return params
        zs = hidden_preactivations(params, widths, X)
        if all(np.abs(z).min() > RELU_MARGIN for z in zs):
            return params
    raise RuntimeError("could not draw relu parameters away from the kink")


def l2_term(params, widths, alpha, sw_sum):
    coefs, _ = unpack(params, widths)
    return 0.5 * alpha * sum(float(np.dot(W.ravel(), W.ravel())) for W in coefs) / sw_sum


def make_problem(seed, hidden_activation, out, loss, k, hidden, weighted):
    rng = np.random.default_rng(seed)
    widths = (N_FEATURES, *hidden, k)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    Y = make_targets(rng, loss, k)
    sw = make_weights(rng) if weighted else None
    params = draw_params(rng, widths, hidden_activation, X)
    return widths, X, Y, sw, params


def core_loss_grad(widths, hidden_activation, out, loss, params, X, Y, sw, alpha, max_rows=None,
                   rows=None, n_threads=1):
    net = Network(widths, hidden_activation, out, loss, 8,
                  max_rows if max_rows is not None else X.shape[0], n_threads)
    grad = np.full_like(params, np.nan)
    value = net.loss_grad(params, X, Y, sw, alpha, grad, rows)
    return value, grad


def sklearn_loss_grad(widths, hidden_activation, out, loss, params, X, Y, sw, alpha):
    """scikit-learn's own _backprop at the same parameters."""
    est = SkMLPRegressor(activation=hidden_activation, alpha=alpha)
    est.loss = "log_loss" if loss in ("log_loss", "binary_log_loss") else loss
    est.out_activation_ = out
    est.n_layers_ = len(widths)
    coefs, intercepts = unpack(params.copy(), widths)
    est.coefs_, est.intercepts_ = list(coefs), list(intercepts)
    pairs = list(zip(widths[:-1], widths[1:]))
    activations = [X] + [None] * len(pairs)
    deltas = [None] * len(pairs)
    coef_grads = [np.empty(p) for p in pairs]
    intercept_grads = [np.empty(p[1]) for p in pairs]
    value, cg, ig = est._backprop(X, Y, sw, activations, deltas, coef_grads, intercept_grads)
    return value, pack(cg, ig, list(widths), np.float64)


def sklearn_loss_value(widths, hidden_activation, out, loss, params, X, Y, sw, alpha):
    """The objective from scikit-learn's ACTIVATIONS and LOSS_FUNCTIONS tables."""
    coefs, intercepts = unpack(params, widths)
    a = X.copy()
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        a = a @ W + b
        SK_ACTIVATIONS[out if i == len(coefs) - 1 else hidden_activation](a)
    sw_sum = X.shape[0] if sw is None else sw.sum()
    return SK_LOSSES[loss](Y, a, sw) + l2_term(params, widths, alpha, sw_sum)


ALL_CASES = pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
ALPHAS = pytest.mark.parametrize("alpha", [0.0, 0.7], ids=["alpha0", "alpha0.7"])


# ----------------------------------------------------------------------------- tests


@ALL_CASES
@ALPHAS
@pytest.mark.parametrize("out,loss,k", OUTPUTS, ids=OUTPUT_IDS)
@NETWORKS
def test_gradient_matches_finite_differences(hidden_activation, hidden, out, loss, k, alpha,
                                             weighted):
    widths, X, Y, sw, params = make_problem(
        1234, hidden_activation, out, loss, k, hidden, weighted)
    sw_sum = N_ROWS if sw is None else sw.sum()
    data_scale = k if loss == "squared_error" else 1  # see the module docstring

    def objective(theta):
        value, _ = core_loss_grad(widths, hidden_activation, out, loss, theta, X, Y, sw, alpha)
        reg = l2_term(theta, widths, alpha, sw_sum)
        return data_scale * (value - reg) + reg

    _, grad = core_loss_grad(widths, hidden_activation, out, loss, params, X, Y, sw, alpha)
    assert np.isfinite(grad).all()

    fd = np.empty_like(params)
    for i in range(params.size):
        plus, minus = params.copy(), params.copy()
        plus[i] += EPS
        minus[i] -= EPS
        fd[i] = (objective(plus) - objective(minus)) / (2 * EPS)

    # the test must be able to fail: the gradient is far from trivially zero
    assert np.abs(fd).max() > 1e-3
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


@ALL_CASES
@ALPHAS
@pytest.mark.parametrize("out,loss,k", OUTPUTS, ids=OUTPUT_IDS)
@NETWORKS
def test_loss_and_gradient_match_sklearn(hidden_activation, hidden, out, loss, k, alpha,
                                         weighted):
    widths, X, Y, sw, params = make_problem(
        99, hidden_activation, out, loss, k, hidden, weighted)
    value, grad = core_loss_grad(widths, hidden_activation, out, loss, params, X, Y, sw, alpha)

    table_value = sklearn_loss_value(widths, hidden_activation, out, loss, params, X, Y, sw,
                                     alpha)
    sk_value, sk_grad = sklearn_loss_grad(widths, hidden_activation, out, loss, params, X, Y,
                                          sw, alpha)
    assert table_value == pytest.approx(sk_value, rel=1e-13)
    assert value == pytest.approx(sk_value, rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(grad, sk_grad, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_squared_error_quirk_gradient_is_k_times_reported_data_loss(alpha):
    """Direct statement of the quirk for k = 2: FD of the *reported* data loss is half
    the returned data gradient, while the L2 part is not scaled."""
    k = 2
    widths, X, Y, sw, params = make_problem(7, "tanh", "identity", "squared_error", k, (5,),
                                            True)
    sw_sum = sw.sum()
    _, grad = core_loss_grad(widths, "tanh", "identity", "squared_error", params, X, Y, sw,
                             alpha)
    coefs_grad_l2 = np.zeros_like(params)
    n_coefs = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    coefs_grad_l2[:n_coefs] = alpha * params[:n_coefs] / sw_sum

    def reported(theta):
        return core_loss_grad(widths, "tanh", "identity", "squared_error", theta, X, Y, sw,
                              alpha)[0]

    fd = np.array([
        (reported(params + EPS * e) - reported(params - EPS * e)) / (2 * EPS)
        for e in np.eye(params.size)
    ])
    np.testing.assert_allclose(grad - coefs_grad_l2, k * (fd - coefs_grad_l2), rtol=1e-6,
                               atol=1e-8)


BLOCK_CASES = [
    ("relu", "softmax", "log_loss", 3, (5,)),
    ("tanh", "logistic", "binary_log_loss", 3, (4, 5, 4)),
    ("logistic", "identity", "squared_error", 2, (5, 4)),
    ("identity", "exp", "poisson", 1, (5,)),
    ("tanh", "identity", "squared_error", 1, ()),
]
BLOCK_IDS = [f"{c[0]}-{c[2]}-k{c[3]}-h{len(c[4])}" for c in BLOCK_CASES]


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("max_rows", [1, 2, 3, 6])
@pytest.mark.parametrize("case", BLOCK_CASES, ids=BLOCK_IDS)
def test_blocks_accumulate_to_the_single_block_result(case, max_rows, weighted, n_threads):
    act, out, loss, k, hidden = case
    widths, X, Y, sw, params = make_problem(5, act, out, loss, k, hidden, weighted)
    alpha = 0.3
    ref_value, ref_grad = core_loss_grad(widths, act, out, loss, params, X, Y, sw, alpha)
    value, grad = core_loss_grad(widths, act, out, loss, params, X, Y, sw, alpha,
                                 max_rows=max_rows, n_threads=n_threads)
    assert value == pytest.approx(ref_value, rel=1e-13)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("max_rows", [2, 8])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", BLOCK_CASES, ids=BLOCK_IDS)
def test_rows_argument_equals_subset(case, weighted, max_rows):
    act, out, loss, k, hidden = case
    widths, X, Y, sw, params = make_problem(11, act, out, loss, k, hidden, weighted)
    rows = np.array([5, 0, 3, 3, 6, 1], dtype=np.int64)  # unsorted, with a repeat
    alpha = 0.3
    ref_value, ref_grad = core_loss_grad(
        widths, act, out, loss, params, np.ascontiguousarray(X[rows]),
        np.ascontiguousarray(Y[rows]), None if sw is None else sw[rows].copy(), alpha)
    value, grad = core_loss_grad(widths, act, out, loss, params, X, Y, sw, alpha,
                                 max_rows=max_rows, rows=rows)
    assert value == pytest.approx(ref_value, rel=1e-13)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-15)
    # and it is not simply the full-data result
    full_value, _ = core_loss_grad(widths, act, out, loss, params, X, Y, sw, alpha)
    assert value != pytest.approx(full_value, rel=1e-6)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", BLOCK_CASES, ids=BLOCK_IDS)
def test_csr_input_matches_dense(case, weighted):
    act, out, loss, k, hidden = case
    widths, X, Y, sw, params = make_problem(3, act, out, loss, k, hidden, weighted)
    X[np.abs(X) < 0.6] = 0.0  # make it genuinely sparse, with an all-zero entry pattern
    X[4] = 0.0
    csr = sp.csr_matrix(X)
    X_core = (csr.indptr.astype(np.int64), csr.indices.astype(np.int64), csr.data,
              X.shape[0])
    rows = np.array([4, 1, 2, 6], dtype=np.int64)
    for r in (None, rows):
        ref = core_loss_grad(widths, act, out, loss, params, X, Y, sw, 0.3, max_rows=3,
                             rows=r)
        got = core_loss_grad(widths, act, out, loss, params, X_core, Y, sw, 0.3, max_rows=3,
                             rows=r)
        assert got[0] == pytest.approx(ref[0], rel=1e-13)
        np.testing.assert_allclose(got[1], ref[1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", BLOCK_CASES, ids=BLOCK_IDS)
def test_float32_core_close_to_float64(case, weighted):
    act, out, loss, k, hidden = case
    widths, X, Y, sw, params = make_problem(13, act, out, loss, k, hidden, weighted)
    ref_value, ref_grad = core_loss_grad(widths, act, out, loss, params, X, Y, sw, 0.3,
                                         max_rows=3)
    f32 = lambda a: None if a is None else a.astype(np.float32)  # noqa: E731
    net = Network(widths, act, out, loss, 4, 3, 1)
    grad = np.full(params.size, np.nan, dtype=np.float32)
    value = net.loss_grad(f32(params), f32(X), f32(Y), f32(sw), 0.3, grad)
    assert value == pytest.approx(ref_value, rel=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-5)
