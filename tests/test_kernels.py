"""The C kernels: every instruction-set variant against the baseline and against
numpy, blocking edge cases, and bitwise determinism across thread counts."""

import numpy as np
import pytest
import scipy.sparse

from bpfast import _core
from bpfast._data import core_matrix
from bpfast._exceptions import NonFiniteInputError
from bpfast._layout import n_params, unpack

VARIANTS = [v for v in ("baseline", "avx2", "avx512") if _core.isa_available(v)]


def _linear_net(n_in, n_out, dtype, isa="auto", n_threads=1, max_rows=4096):
    return _core.Network(
        [n_in, n_out], "identity", "identity", "squared_error",
        np.dtype(dtype).itemsize, max_rows, n_threads, isa,
    )


@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize(
    "m, k, n",
    [(1, 1, 1), (7, 3, 5), (13, 300, 17), (200, 64, 100), (5, 513, 33), (3, 20, 1100),
     (50, 600, 270), (47, 600, 270), (11, 1100, 10), (9, 40, 2100), (130, 600, 1100),
     (9, 12, 1100)],
    # deep and wide (A packed too; a narrow last strip taking two row strips at a time, the
    # second partial); a narrow B read in place over three KC panels; several NC panels;
    # A packed once per KC panel and used against three NC panels, the last partial; a
    # shallow B read in place across three NC panels, the last one's edge strip packed
)
def test_product_matches_numpy(isa, dtype, rtol, m, k, n):
    # A 0-hidden-layer identity network predicts X W + b: the GEMM with every
    # edge case (partial tiles, several KC panels, several NC panels).
    rng = np.random.RandomState(0)
    X = rng.standard_normal((m, k)).astype(dtype)
    W = rng.standard_normal((k, n)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    net = _linear_net(k, n, dtype, isa)
    out = np.empty((m, n), dtype=dtype)
    net.predict(np.concatenate([W.ravel(), b]), X, out)
    expected = X.astype(np.float64) @ W.astype(np.float64) + b
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol * np.sqrt(k) * 4)


@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_operands_read_in_place_or_packed_give_the_same_bits(isa, dtype):
    # The same first n output columns, computed with the operands read in place (a
    # narrow product) and packed (400 outputs: a panel too big to read in place), must
    # be bitwise equal. First W of 200 x n under 64 KB, wide enough for a full strip of
    # the widest tile (64 float32 / 32 float64 columns) read from W's rows and a partial
    # one packed; then a depth of 300 with few outputs, A read in place, against 400
    # outputs, where deep and wide A is packed too.
    rng = np.random.RandomState(3)
    for k, n in [(200, 80 if dtype == np.float32 else 40), (300, 40 if dtype == np.float32 else 24)]:
        X = rng.standard_normal((300, k)).astype(dtype)
        W = rng.standard_normal((k, 400)).astype(dtype)
        b = rng.standard_normal(400).astype(dtype)
        narrow, wide = np.empty((300, n), dtype=dtype), np.empty((300, 400), dtype=dtype)
        _linear_net(k, n, dtype, isa).predict(np.concatenate([W[:, :n].ravel(), b[:n]]), X,
                                              narrow)
        _linear_net(k, 400, dtype, isa).predict(np.concatenate([W.ravel(), b]), X, wide)
        assert np.array_equal(narrow, wide[:, :n]), (k, n)


@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("n", [10, 40, 100])
def test_weight_gradient_matches_numpy(isa, dtype, rtol, n):
    # The weight gradient A^T D reads A (the layer's input) down its columns. With 1100
    # inputs and a batch of 600 rows (two depth panels, the second partial), A's panel is
    # too big to read in place: it is packed many strips per pass, the last group of strips
    # and the last strip partial; where D is a single strip of the variant's tile (at most
    # 64 float32 or 32 float64 columns on AVX-512, 16 or 8 on AVX2, 8 or 4 on the baseline)
    # A is read in place instead. A linear network with squared error has the gradient
    # X^T (X W + b - Y) / rows; its first n columns are the same bits in a network of
    # n + 200 outputs, where A is always packed.
    rng = np.random.RandomState(5)
    rows, k, wide = 600, 1100, n + 200
    X = rng.standard_normal((rows, k)).astype(dtype)
    Y = rng.standard_normal((rows, wide)).astype(dtype)
    W = (rng.standard_normal((k, wide)) * 0.05).astype(dtype)
    b = rng.standard_normal(wide).astype(dtype)
    grads = {}
    for width in (n, wide):
        params = np.concatenate([W[:, :width].ravel(), b[:width]])
        grad = np.empty_like(params)
        _linear_net(k, width, dtype, isa, max_rows=rows).loss_grad(
            params, X, np.ascontiguousarray(Y[:, :width]), None, 0.0, grad)
        (gW,), (gb,) = unpack(grad, [k, width])
        grads[width] = gW[:, :n], gb[:n]
    X64 = X.astype(np.float64)
    delta = (X64 @ W[:, :n].astype(np.float64) + b[:n] - Y[:, :n]) / rows
    gW, gb = grads[n]
    np.testing.assert_allclose(gW, X64.T @ delta, rtol=rtol, atol=rtol * np.abs(X64.T @ delta).max())
    np.testing.assert_allclose(gb, delta.sum(axis=0), rtol=rtol, atol=rtol * np.abs(delta).sum(0).max())
    assert np.array_equal(grads[wide][0], gW) and np.array_equal(grads[wide][1], gb)


@pytest.mark.skipif(not {"avx2", "avx512"} <= set(VARIANTS), reason="needs AVX2 and AVX-512")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 3, 4, 8, 100, 104])
def test_fma_variants_give_the_same_bits_on_narrow_strips(dtype, n):
    # Both FMA variants sum every element in the same order, so their products agree
    # bitwise whatever their tiles. On AVX-512 a strip at most half a vector wide (a
    # remainder of 4 float64 columns of 100, a single output) runs in half-width vectors,
    # 12 rows at a time: 47 rows take four such calls, the last of 11 rows, over two
    # depth panels, the second accumulating.
    rng = np.random.RandomState(7)
    m, k = 47, 700
    X = rng.standard_normal((m, k)).astype(dtype)
    params = rng.standard_normal(k * n + n).astype(dtype)
    outs = {}
    for isa in ("avx2", "avx512"):
        outs[isa] = np.empty((m, n), dtype=dtype)
        _linear_net(k, n, dtype, isa).predict(params, X, outs[isa])
    assert np.array_equal(outs["avx2"], outs["avx512"])


def _deep_problem(dtype, n=300, widths=(40, 120, 90, 5)):
    rng = np.random.RandomState(1)
    X = rng.standard_normal((n, widths[0])).astype(dtype)
    Y = np.eye(widths[-1], dtype=dtype)[rng.randint(widths[-1], size=n)]
    params = (rng.standard_normal(n_params(list(widths))) * 0.1).astype(dtype)
    sw = rng.uniform(0.5, 2.0, n).astype(dtype)
    return list(widths), X, Y, params, sw


def _loss_grad(widths, X, Y, params, sw, isa="auto", n_threads=1, max_rows=4096):
    net = _core.Network(widths, "tanh", "softmax", "log_loss", X.itemsize, max_rows, n_threads, isa)
    grad = np.empty_like(params)
    loss = net.loss_grad(params, X, Y, sw, 1e-3, grad)
    return loss, grad


@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_variants_agree_with_baseline(isa, dtype, rtol):
    problem = _deep_problem(dtype)
    loss0, grad0 = _loss_grad(*problem, isa="baseline")
    loss1, grad1 = _loss_grad(*problem, isa=isa)
    assert loss1 == pytest.approx(loss0, rel=rtol)
    np.testing.assert_allclose(grad1, grad0, rtol=rtol, atol=rtol * np.abs(grad0).max())


@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bitwise_identical_for_any_thread_count(isa, dtype):
    # Big enough that the products run in parallel (bp_threads_for_product: all of the
    # 700-row net's and the 2000-row net's 256-wide ones; that net's 2000 x 64 x 256 first
    # layer does 50 multiply-adds per value, just over the rule's 48); the
    # second has layers wider than a B panel (NC) and deep enough to pack A, so threads
    # share packed panels of both operands across several KC and NC panels. The third's
    # output layer is thin (2048 x 1024 x 10, 9.6 per value) but over the 16 M
    # multiply-adds from which any product is shared.
    for n, widths in [(2000, (64, 256, 256, 10)), (700, (600, 700, 10)), (2048, (16, 1024, 10))]:
        problem = _deep_problem(dtype, n=n, widths=widths)
        loss1, grad1 = _loss_grad(*problem, isa=isa, n_threads=1, max_rows=n)
        for threads in (2, 3, 8):
            loss, grad = _loss_grad(*problem, isa=isa, n_threads=threads, max_rows=n)
            assert loss == loss1
            assert np.array_equal(grad, grad1), f"{threads} threads differ from 1 ({widths})"


@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bias_gradients_sum_rows_in_order_whatever_the_blocks(isa, dtype):
    # The bias gradient is each delta column summed row by row (a fixed-length loop for
    # whole chunks of columns, a shorter one for the rest), carried from one row block to the next:
    # the same additions in the same order for any block size, so bitwise the same.
    widths = [40, 150, 70, 10]  # hidden widths of whole chunks plus a remainder
    problem = _deep_problem(dtype, n=1000, widths=widths)
    _, grad = _loss_grad(*problem, isa=isa, max_rows=1000)
    for max_rows in (97, 250):
        _, blocked = _loss_grad(*problem, isa=isa, max_rows=max_rows)
        for whole, parts in zip(unpack(grad, widths)[1], unpack(blocked, widths)[1]):
            assert np.array_equal(whole, parts), max_rows
        np.testing.assert_allclose(blocked, grad, rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("widths", [(64, 256, 256, 10), (16, 64, 32, 10)])
def test_predictions_bitwise_identical_for_any_thread_count_and_block(isa, dtype, sparse,
                                                                      widths):
    # Prediction splits the rows into blocks that each thread forwards through every
    # layer alone: the result must not depend on the thread count, on the block size
    # (max_rows, and the L2-sized block of the narrower net: 240-600 rows) or on where
    # a row falls in its block.
    widths, X, _, params, _ = _deep_problem(dtype, n=2500, widths=widths)
    if sparse:
        X[np.abs(X) < 1.0] = 0
        X = scipy.sparse.csr_matrix(X)
    data = core_matrix(X, dtype)

    def predict(n_threads, max_rows):
        net = _core.Network(widths, "relu", "softmax", "log_loss", np.dtype(dtype).itemsize,
                            max_rows, n_threads, isa)
        out = np.empty((2500, 10), dtype=dtype)
        net.predict(params, data, out)
        return out

    expected = predict(1, 4096)
    for n_threads, max_rows in [(2, 4096), (3, 4096), (8, 4096), (2, 997), (3, 250), (3, 120),
                                (1, 7), (3, 7)]:
        assert np.array_equal(predict(n_threads, max_rows), expected), (n_threads, max_rows)


@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "hidden_act, out_act",
    [("relu", "softmax"), ("tanh", "logistic"), ("logistic", "identity"), ("identity", "softmax")],
)
@pytest.mark.parametrize("widths", [(13, 37, 29, 5), (13, 40, 10), (13, 37, 3), (600, 8, 3)])
def test_transposed_prediction_gives_the_row_major_bits(isa, dtype, hidden_act, out_act, widths):
    # A small network's dense blocks are forwarded transposed (the block's rows along
    # the vectors, the bias added by rows, softmax down the columns); blocks of at most
    # four rows take the row-major small product. Both must give the same bits for every
    # activation; for blocks whose last strip of rows (4-64 wide, by variant and dtype)
    # is whole, partial, or one or two rows; for a 37-wide layer (a partial strip of
    # weights), 40 and 10 (a last strip of four of six rows, computed as four), a 5-wide
    # output, a 3-wide one (the small product, by rows), and 600
    # inputs (two panels of depth) with blocks of up to 1100 rows (several panels of B).
    rng = np.random.RandomState(11)
    widths = list(widths)
    params = (rng.standard_normal(n_params(widths)) * 0.7 / np.sqrt(widths[0] / 13)).astype(dtype)
    X = rng.standard_normal((1100, widths[0])).astype(dtype)

    def predict(X, max_rows):
        net = _core.Network(widths, hidden_act, out_act, "squared_error",
                            np.dtype(dtype).itemsize, max_rows, 1, isa)
        out = np.empty((X.shape[0], widths[-1]), dtype=dtype)
        net.predict(params, X, out)
        return out

    row_major = predict(X, 4)
    for n in (1100, 300, 257, 128, 70, 66, 65, 40, 33, 9, 5):
        assert np.array_equal(predict(X[:n], 4096), row_major[:n]), n


@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("widths", [(16, 64, 32, 10), (13, 64, 10), (1, 8, 3), (16, 3, 5), (600, 8, 3)])
def test_prediction_reports_nan_or_infinity_in_any_block(isa, dtype, widths):
    # Prediction checks each dense block as it reads it: a NaN or infinity anywhere
    # (first row, a middle block, the last element) is reported whatever the thread
    # count and block size, and the largest finite values are not. Blocks forwarded
    # transposed are checked as the first product packs them: by whole square blocks and
    # by elements (16 inputs; 13, past the last whole block in interior rows), for a
    # first layer of at most four units (3) and over two panels of depth (600); a
    # single input is read in place, unpacked, and checked so.
    widths, X, _, params, _ = _deep_problem(dtype, n=2500, widths=widths)
    d, k = widths[0], widths[-1]

    def predict(X, n_threads, max_rows):
        net = _core.Network(widths, "relu", "softmax", "log_loss", np.dtype(dtype).itemsize,
                            max_rows, n_threads, isa)
        net.predict(params, core_matrix(X, dtype), np.empty((X.shape[0], k), dtype=dtype))

    huge = X.copy()
    huge[::7, 3 % d] = np.finfo(dtype).max
    huge[1::7, 5 % d] = -np.finfo(dtype).max
    huge[2::7, 1 % d] = np.finfo(dtype).smallest_subnormal
    for n_threads, max_rows in [(1, 4096), (3, 4096), (1, 120), (3, 7)]:
        predict(huge, n_threads, max_rows)
        for value in (np.nan, np.inf, -np.inf):
            for row, col in [(0, 0), (1234, 7 % d), (1300, d - 1), (2499, d - 1)]:
                bad = X.copy()
                bad[row, col] = value
                with pytest.raises(NonFiniteInputError, match="NaN or infinity"):
                    predict(bad, n_threads, max_rows)


@pytest.mark.skipif(not _core.openmp_enabled(), reason="a serial build shares no product")
@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("rows", [256, 448])
def test_prediction_reports_nan_found_inside_a_shared_product(isa, rows):
    # A 128-128-10 float32 model predicts these rows as one block whose first product is
    # shared by two threads, each packing (and checking) some strips of the block: a NaN
    # in any strip is reported, whichever thread packed it.
    dtype = np.float32
    widths, X, _, params, _ = _deep_problem(dtype, n=rows, widths=(128, 128, 10))
    net = _core.Network(widths, "relu", "softmax", "log_loss", 4, 4096, 2, isa)
    out = np.empty((rows, 10), dtype=dtype)
    net.predict(params, core_matrix(X, dtype), out)
    for row, col in [(0, 0), (rows // 2, 77), (rows - 1, 127)]:
        bad = X.copy()
        bad[row, col] = np.nan
        with pytest.raises(NonFiniteInputError, match="NaN or infinity"):
            net.predict(params, core_matrix(bad, dtype), out)


@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_in_the_products_epilogue_keeps_nan_like_numpy(isa, dtype):
    # ReLU is applied to whole tiles in the micro-kernel's registers: max(z, 0) must
    # keep a NaN pre-activation NaN (as numpy's maximum does) and zero the negatives,
    # in full tiles and in partial ones (100 hidden units: full strips and a narrow one).
    rng = np.random.RandomState(5)
    widths = [20, 100, 3]
    params = (rng.standard_normal(n_params(widths)) * 0.5).astype(dtype)
    (W1, W2), (b1, b2) = unpack(params, widths)  # views into params
    X = (np.abs(rng.standard_normal((50, 20))) + 0.1).astype(dtype)
    net = _core.Network(widths, "relu", "identity", "squared_error", np.dtype(dtype).itemsize,
                        4096, 1, isa)
    out = np.empty((50, 3), dtype=dtype)
    for unit in (0, 37, 98):  # in the first strip, a middle one, the narrow last one
        W1[4, unit] = np.nan  # that hidden unit is NaN for every row
        net.predict(params, X, out)
        assert np.isnan(out).all(), unit
        W1[4, unit] = 0.5
    W1[4, [0, 37, 98]] = -1e4  # now those units are negative, so 0 after ReLU
    net.predict(params, X, out)
    hidden = np.maximum(X.astype(np.float64) @ W1 + b1, 0)
    assert (hidden[:, [0, 37, 98]] == 0).all()
    np.testing.assert_allclose(out, hidden @ W2 + b2, rtol=1e-4, atol=1e-4)


def test_unknown_variant_is_rejected():
    with pytest.raises(ValueError, match="unknown kernel variant"):
        _linear_net(2, 2, np.float64, isa="sse9")


def test_forced_variant_from_environment(monkeypatch):
    from bpfast._config import kernel_variant

    monkeypatch.setenv("BPFAST_ISA", "baseline")
    assert kernel_variant() == "baseline"
    monkeypatch.setenv("BPFAST_ISA", "no-such-isa")
    with pytest.raises(ValueError, match="BPFAST_ISA"):
        kernel_variant()
    monkeypatch.delenv("BPFAST_ISA")
    assert kernel_variant() == _core.best_isa()


@pytest.mark.skipif(len(VARIANTS) < 2, reason="one kernel variant on this CPU")
def test_prediction_follows_the_environment_between_calls(monkeypatch):
    # The variant is looked up on every call (through the C runtime's environment,
    # which os.environ updates), so a change between two calls takes effect.
    from bpfast import MLPClassifier

    X = np.random.default_rng(0).standard_normal((40, 5))
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5).fit(X, np.arange(40) % 3)
    for isa in VARIANTS + ["auto"] + VARIANTS[::-1]:
        monkeypatch.setenv("BPFAST_ISA", isa)
        model._predict_nets.clear()
        model.predict_proba(X[:1])
        expected = _core.best_isa() if isa == "auto" else isa
        assert {key[-1] for key in model._predict_nets} == {expected}


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_fit_bitwise_identical_for_n_threads(solver):
    # The promise at the estimator level: same random_state, any n_threads,
    # bitwise the same weights. The 600 x 256 x 128 products of the second layer run in
    # parallel (the first layer's 600 x 64 x 256, 47 multiply-adds per value, do not).
    from bpfast import MLPClassifier

    rng = np.random.RandomState(0)
    X = rng.standard_normal((1200, 64))
    y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 1)
    fits = {
        t: MLPClassifier((256, 128), solver=solver, max_iter=3, batch_size=600,
                         random_state=0, n_threads=t).fit(X, y)
        for t in (1, 2, 3, 8)
    }
    for t in (2, 3, 8):
        for a, b in zip(fits[1].coefs_ + fits[1].intercepts_, fits[t].coefs_ + fits[t].intercepts_):
            assert np.array_equal(a, b), f"n_threads={t} differs from n_threads=1"


@pytest.mark.parametrize("alpha", [0.0, 1e-3])
def test_fit_bitwise_identical_past_the_step_thresholds(alpha):
    # A network big enough that the step's elementwise work runs on several threads
    # too: the gather of a shuffled batch (2.7 MB), the bias gradients' column sums
    # (2100 x 1100) and the gradient's scaling (over a million weights, a count that is
    # not a multiple of 8), whose L2 sum for the loss stays on one thread. One thread
    # runs all three serially, so the weights and the loss curve must match it bit for bit.
    from bpfast import MLPClassifier

    rng = np.random.RandomState(1)
    X = rng.standard_normal((2100, 160))
    y = (X[:, :4].sum(axis=1) > 0).astype(int)
    fits = {
        t: MLPClassifier((1100, 801), solver="sgd", alpha=alpha, max_iter=2, batch_size=2100,
                         random_state=0, n_threads=t).fit(X, y)
        for t in (1, 2, 3)
    }
    assert sum(c.size for c in fits[1].coefs_) > 10**6
    assert sum(c.size for c in fits[1].coefs_) % 8 != 0
    for t in (2, 3):
        assert fits[t].loss_curve_ == fits[1].loss_curve_
        for a, b in zip(fits[1].coefs_ + fits[1].intercepts_, fits[t].coefs_ + fits[t].intercepts_):
            assert np.array_equal(a, b), f"n_threads={t} differs from n_threads=1"


@pytest.mark.parametrize("isa", VARIANTS)
def test_loss_grad_bitwise_identical_past_the_step_thresholds(isa):
    # The same at the core, on every kernel variant, where the estimator's batches do not
    # reach: rows gathered in a shuffled order in blocks of 1000 (1.3 MB each), so the
    # bias gradients' column sums also add a second block to the first; the L2 sum over
    # 1.06 million weights ends in a remainder of 7.
    rng = np.random.default_rng(3)
    widths = [160, 1100, 801, 3]
    X = rng.standard_normal((2000, 160))
    Y = np.eye(3)[rng.integers(0, 3, 2000)]
    rows = rng.permutation(2000).astype(np.int64)
    params = rng.standard_normal(n_params(widths)) * 0.05
    n_coefs = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    assert n_coefs > 10**6 and n_coefs % 8 == 7
    results = {}
    for t in (1, 2, 3):
        net = _core.Network(widths, "relu", "softmax", "log_loss", 8, 1000, t, isa)
        grad = np.empty_like(params)
        results[t] = (net.loss_grad(params, X, Y, None, 1e-3, grad, rows), grad)
    for t in (2, 3):
        assert results[t][0] == results[1][0], f"n_threads={t}: loss differs"
        assert np.array_equal(results[t][1], results[1][1]), f"n_threads={t}: gradient differs"


EXP_RANGE = {  # beyond these, e^x is 0 or inf in the type; subnormal results included
    np.float64: (-746.0, 710.0, [0.0, -0.0, 709.78, 709.79, -708.4, -745.13, -745.14]),
    np.float32: (-104.0, 89.0, [0.0, -0.0, 88.72, 88.73, -87.4, -103.97, -103.98]),
}


def _ulps(actual, expected):
    """Distance in units of the last place of `expected` (inf == inf, 0 == 0)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    same = (actual == expected)
    spacing = np.spacing(np.abs(expected).astype(expected.dtype))
    with np.errstate(invalid="ignore"):
        dist = np.abs(actual.astype(np.float64) - expected.astype(np.float64)) / spacing
    return np.where(same, 0.0, dist)


@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exponentials_are_within_an_ulp_or_two_over_the_whole_range(isa, dtype):
    # The output activations that take an exponential (exp, logistic, softmax) use the
    # core's vectorised exp; on a one-layer identity product (Z = X exactly) they are
    # compared with numpy's over every exponent, subnormal results and overflow included.
    lo, hi, edges = EXP_RANGE[dtype]
    w = 64  # rows of 64 outputs: the vector loops run at full width
    x = np.concatenate([np.linspace(lo, hi, 30011), edges])
    x = np.concatenate([x, np.zeros(-x.size % w)]).astype(dtype).reshape(-1, w)
    eye = np.concatenate([np.eye(w).ravel(), np.zeros(w)]).astype(dtype)  # W = I, b = 0
    out = np.empty_like(x)
    _core.Network([w, w], "identity", "exp", "poisson", x.itemsize, 4096, 1, isa).predict(
        eye, x, out)
    with np.errstate(over="ignore"):
        expected = np.exp(x.astype(np.float64)).astype(dtype)
        assert _ulps(out, expected).max() <= 2
        # expit from e = exp(-|x|), so tiny outputs are not flushed to 0 (scipy's are
        # below -709.78; the core keeps their subnormal values)
        e = np.exp(-np.abs(x.astype(np.float64)))
        expit = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(dtype)
    _core.Network([w, w], "identity", "logistic", "log_loss", x.itemsize, 4096, 1, isa).predict(
        eye, x, out)
    assert _ulps(out, expit).max() <= 3
    x = x.ravel()
    # softmax over rows of 7 spread-out logits (so some probabilities are subnormal)
    k = 7
    Z = np.concatenate([x[: x.size // k * k].reshape(-1, k)[:, ::-1] / 8, x[:4 * k].reshape(-1, k)])
    Z = Z.astype(dtype)
    P = np.empty_like(Z)
    eye = np.concatenate([np.eye(k).ravel(), np.zeros(k)]).astype(dtype)
    _core.Network([k, k], "identity", "softmax", "log_loss", x.itemsize, 4096, 1, isa).predict(
        eye, Z, P)
    # the same steps in the same type, with numpy's exp: only the exponentials differ
    E = np.exp((Z - Z.max(axis=1, keepdims=True)).astype(np.float64)).astype(dtype)
    S = np.zeros(len(Z), dtype=dtype)
    for j in range(k):
        S += E[:, j]
    assert _ulps(P, E / S[:, None]).max() <= 4


@pytest.mark.parametrize("isa", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tanh_is_within_three_ulps_of_numpys(isa, dtype):
    # Hidden tanh units use the core's vectorised tanh: through two identity layers
    # (out = tanh(X) I exactly) it is compared with numpy's over both of its formulas
    # (|x| below and above 0.55), tiny and subnormal inputs, and the clamp at 16 and 32.
    w = 64
    tiny = np.finfo(dtype).tiny
    x = np.concatenate([
        np.linspace(-40, 40, 40001),
        np.geomspace(tiny / 4, 40, 8000),
        -np.geomspace(tiny / 4, 40, 8000),
        [0.0, 0.5499, 0.5501, 0.55, 9.0, 15.99, 16.01, 19.1, 31.99, 32.01, 1e30, -1e30],
    ])
    x = np.concatenate([x, np.zeros(-x.size % w)]).astype(dtype).reshape(-1, w)
    eye = np.eye(w, dtype=dtype).ravel()
    params = np.concatenate([eye, eye, np.zeros(2 * w, dtype=dtype)])  # W1, W2, b1, b2
    out = np.empty_like(x)
    _core.Network([w, w, w], "tanh", "identity", "squared_error", x.itemsize, 4096, 1,
                  isa).predict(params, x, out)
    assert _ulps(out, np.tanh(x)).max() <= 3
    assert np.array_equal(np.sign(out), np.sign(x))
