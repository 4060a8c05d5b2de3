/*
 * bp_act_impl.h -- activation functions and their derivatives, in place on a
 * (rows x cols) block with row stride ld; instantiated per element type by
 * bp_real.c. Derivatives are written in terms of the activation a = f(z), as
 * scikit-learn writes them.
 */

/* The exponential's shared steps, vectorised by the compiler in the loops that use
 * them (libm's exp and tanh are a call per element). Cody-Waite reduction v = n ln2 + r,
 * |r| <= ln2/2 (v finite, within the callers' ranges), then the Taylor polynomial of e^r
 * to degree 13 (float64) or 7 (float32), whose truncation error is below 0.1 ulp.
 * Returns (e^r - 1) / r as the polynomial's last step leaves it: e^r is then
 * q r + 1 and e^r - 1 is q r, without the cancellation of subtracting 1 afterwards.
 * *r is r, *n is n as a REAL and *bits its shifted representation, n in the low bits
 * (see exp_array). */
enum { SFX(EXP_DEG) = sizeof(REAL) == 4 ? 7 : 13 };
static const REAL SFX(exp_coef)[14] = {(REAL)1.0,
                                       (REAL)1.0,
                                       (REAL)(1.0 / 2),
                                       (REAL)(1.0 / 6),
                                       (REAL)(1.0 / 24),
                                       (REAL)(1.0 / 120),
                                       (REAL)(1.0 / 720),
                                       (REAL)(1.0 / 5040),
                                       (REAL)(1.0 / 40320),
                                       (REAL)(1.0 / 362880),
                                       (REAL)(1.0 / 3628800),
                                       (REAL)(1.0 / 39916800),
                                       (REAL)(1.0 / 479001600),
                                       (REAL)(1.0 / 6227020800.0)}; /* 1 / k! */
/* t = x log2(e) + 1.5 2^mant rounds x log2(e) to the integer n in t's low bits */
#define BP_EXP_SHIFTER (sizeof(REAL) == 4 ? (REAL)12582912.0 : (REAL)6755399441055744.0)
static inline REAL SFX(exp_reduced)(REAL v, REAL *r, REAL *n, BP_UREAL *bits)
{
    enum { F32 = sizeof(REAL) == 4 };
    const REAL ln2_hi = F32 ? (REAL)0.693359375 : (REAL)6.93147180369123816490e-01;
    const REAL ln2_lo = F32 ? (REAL)-2.12194440e-4 : (REAL)1.90821492927058770002e-10;
    REAL t = v * (REAL)1.44269504088896340736 + BP_EXP_SHIFTER, q;
    int d;
    memcpy(bits, &t, sizeof *bits);
    t -= BP_EXP_SHIFTER;
    *n = t;
    *r = v - t * ln2_hi;
    *r = *r - t * ln2_lo;
    q = SFX(exp_coef)[SFX(EXP_DEG)];
    for (d = SFX(EXP_DEG) - 1; d >= 1; --d) q = q * *r + SFX(exp_coef)[d];
    return q;
}

/* x[i] = exp(x[i]) for a whole array, within about 1 ulp, as libm's. 2^n is built from
 * its bits as 2^(n -+ S) * 2^(+-S), both normal numbers, so subnormal results get one
 * rounding; overflow gives inf, exp(-inf) = 0, NaN stays NaN. Integer work is unsigned:
 * no undefined behaviour whatever the input. */
static void SFX(exp_array)(REAL *x, ptrdiff_t n)
{
    enum { F32 = sizeof(REAL) == 4 };
    const int mant = F32 ? 23 : 52, bias = F32 ? 127 : 1023, s = F32 ? 32 : 64;
    /* beyond these, e^x is 0 or inf in the type; n stays within [-1077, 1025] (float64)
     * or [-151, 129] (float32), so n -+ s keeps both factors normal */
    const REAL lo = F32 ? (REAL)-104 : (REAL)-746, hi = F32 ? (REAL)89 : (REAL)710;
    const REAL up = F32 ? (REAL)4294967296.0 : (REAL)18446744073709551616.0, down = 1 / up;
    const REAL shifter = BP_EXP_SHIFTER;
    BP_UREAL shifter_bits;
    ptrdiff_t i;
    memcpy(&shifter_bits, &shifter, sizeof shifter_bits);
    for (i = 0; i < n; ++i) {
        const REAL x0 = x[i];
        REAL v = x0 != x0 ? (REAL)0 : x0, r, t, p, scale;
        BP_UREAL bits;
        int neg;
        v = v < lo ? lo : v > hi ? hi : v;
        p = SFX(exp_reduced)(v, &r, &t, &bits) * r + 1;
        neg = t < 0;
        /* the exponent field of 2^(n + s) for n < 0, of 2^(n - s) otherwise */
        bits = (bits - shifter_bits + (BP_UREAL)(neg ? bias + s : bias - s)) << mant;
        memcpy(&scale, &bits, sizeof scale);
        v = p * scale * (neg ? down : up);
        x[i] = x0 != x0 ? x0 : v;
    }
}

/* x[i] = tanh(x[i]) for a whole array, in a vector loop where libm's is a call per
 * element. With e = exp(-2|x|) = 2^n e^r and m = e - 1 = 2^n (e^r - 1) + (2^n - 1) (e^r - 1
 * straight from the polynomial, 2^n - 1 exact), tanh |x| = -m / (2 + m) near 0, where m
 * keeps its precision, and 1 - 2e / (1 + e) from |x| = 0.55 on, where 2e / (1 + e) < 1/2
 * and the subtraction loses nothing: one division either way, and results within 3 ulp
 * of libm's, most of them equal (tests/test_kernels.py). x's sign bit is put back, so
 * tanh(-0) = -0. Beyond |x| = 32 (float64; 16 in float32) tanh rounds to +-1, so -2|x|
 * is clamped there and 2^n stays normal. NaN stays NaN. */
static void SFX(tanh_array)(REAL *x, ptrdiff_t n)
{
    enum { F32 = sizeof(REAL) == 4 };
    const int mant = F32 ? 23 : 52, bias = F32 ? 127 : 1023;
    const REAL lo = F32 ? (REAL)-32 : (REAL)-64;
    const REAL shifter = BP_EXP_SHIFTER;
    const BP_UREAL sign = (BP_UREAL)1 << (8 * sizeof(REAL) - 1);
    BP_UREAL shifter_bits;
    ptrdiff_t i;
    memcpy(&shifter_bits, &shifter, sizeof shifter_bits);
    for (i = 0; i < n; ++i) {
        const REAL x0 = x[i];
        REAL v = x0 != x0 ? (REAL)0 : x0 < 0 ? 2 * x0 : -2 * x0, r, t, q, scale, z, y;
        BP_UREAL bits, xbits;
        int near0;
        v = v < lo ? lo : v;
        near0 = v > (REAL)-1.1;
        q = SFX(exp_reduced)(v, &r, &t, &bits) * r;
        bits = (bits - shifter_bits + (BP_UREAL)bias) << mant; /* 2^n, n <= 0 */
        memcpy(&scale, &bits, sizeof scale);
        if (near0) { /* m / (2 + m), negated below */
            const REAL m = scale * q + (scale - 1);
            z = m / (2 + m);
        } else {
            const REAL e = scale * (q + 1);
            z = 2 * e / (1 + e);
        }
        y = near0 ? -z : 1 - z;
        memcpy(&bits, &y, sizeof bits);
        memcpy(&xbits, &x0, sizeof xbits);
        bits = (bits & ~sign) | (xbits & sign); /* y >= 0 but for -0 */
        memcpy(&y, &bits, sizeof y);
        x[i] = x0 != x0 ? x0 : y;
    }
}
#undef BP_EXP_SHIFTER

/* the logistic function of a row, as scipy's expit computes it: from e = exp(-|z|),
 * 1 / (1 + e) for z >= 0 and e / (1 + e) below, so tiny outputs keep their precision */
static void SFX(logistic_row)(REAL *r, ptrdiff_t cols)
{
    enum { CHUNK = 256 };
    REAL e[CHUNK];
    ptrdiff_t j0, j;
    for (j0 = 0; j0 < cols; j0 += CHUNK) {
        const ptrdiff_t nc = cols - j0 < CHUNK ? cols - j0 : CHUNK;
        for (j = 0; j < nc; ++j) e[j] = r[j0 + j] < 0 ? r[j0 + j] : -r[j0 + j];
        SFX(exp_array)(e, nc);
        for (j = 0; j < nc; ++j)
            r[j0 + j] = (r[j0 + j] >= 0 ? (REAL)1 : e[j]) / ((REAL)1 + e[j]);
    }
}

/* max(x, 0), NaN kept as numpy.maximum keeps it */
static inline REAL SFX(relu)(REAL x) { return x > 0 || x != x ? x : (REAL)0; }

/* softmax of each row: exp(z - max(row)) over the whole block when it is contiguous
 * (one long vector loop), then each row divided by its sum (output_transposed takes the
 * same steps down columns: keep the two in step, they give the same bits) */
static void SFX(softmax_rows)(REAL *z, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld)
{
    ptrdiff_t i, j;
    for (i = 0; i < rows; ++i) {
        REAL *r = z + i * ld, mx = r[0];
        for (j = 1; j < cols; ++j) mx = r[j] > mx ? r[j] : mx;
        for (j = 0; j < cols; ++j) r[j] -= mx;
    }
    if (ld == cols)
        SFX(exp_array)(z, rows * cols);
    else
        for (i = 0; i < rows; ++i) SFX(exp_array)(z + i * ld, cols);
    for (i = 0; i < rows; ++i) {
        REAL *r = z + i * ld, sum = 0;
        for (j = 0; j < cols; ++j) sum += r[j];
        for (j = 0; j < cols; ++j) r[j] /= sum;
    }
}

/* out (nb x k) from a transposed output layer zt (k x nb, contiguous) whose activation
 * is applied already, except softmax: that is taken down each column here, with the
 * operations softmax_rows applies along a row (the same bits), vectorised across the
 * block's rows; the division is fused with the write back. */
static void SFX(output_transposed)(int act, REAL *zt, ptrdiff_t k, ptrdiff_t nb, REAL *out)
{
    enum { CHUNK = 256 };
    REAL acc[CHUNK];
    ptrdiff_t j0, i, j;
    if (act == BP_ACT_SOFTMAX) {
        for (j0 = 0; j0 < nb; j0 += CHUNK) { /* z - max over the column */
            const ptrdiff_t nc = nb - j0 < CHUNK ? nb - j0 : CHUNK;
            REAL *z = zt + j0;
            for (j = 0; j < nc; ++j) acc[j] = z[j];
            for (i = 1; i < k; ++i)
                for (j = 0; j < nc; ++j) acc[j] = z[i * nb + j] > acc[j] ? z[i * nb + j] : acc[j];
            for (i = 0; i < k; ++i)
                for (j = 0; j < nc; ++j) z[i * nb + j] -= acc[j];
        }
        SFX(exp_array)(zt, k * nb);
    }
    for (j0 = 0; j0 < nb; j0 += CHUNK) {
        const ptrdiff_t nc = nb - j0 < CHUNK ? nb - j0 : CHUNK;
        const REAL *z = zt + j0;
        REAL *o = out + j0 * k;
        if (act == BP_ACT_SOFTMAX) {
            for (j = 0; j < nc; ++j) acc[j] = 0;
            for (i = 0; i < k; ++i)
                for (j = 0; j < nc; ++j) acc[j] += z[i * nb + j];
            for (i = 0; i < k; ++i)
                for (j = 0; j < nc; ++j) o[j * k + i] = z[i * nb + j] / acc[j];
        } else {
            for (i = 0; i < k; ++i)
                for (j = 0; j < nc; ++j) o[j * k + i] = z[i * nb + j];
        }
    }
}

static void SFX(activate)(int act, REAL *z, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld)
{
    ptrdiff_t i, j;
    if (act == BP_ACT_SOFTMAX) {
        SFX(softmax_rows)(z, rows, cols, ld);
        return;
    }
    if (ld == cols) { /* elementwise: a contiguous block is one long row */
        cols *= rows;
        rows = 1;
    }
    for (i = 0; i < rows; ++i) {
        REAL *r = z + i * ld;
        switch (act) {
        case BP_ACT_LOGISTIC:
            SFX(logistic_row)(r, cols);
            break;
        case BP_ACT_TANH:
            SFX(tanh_array)(r, cols);
            break;
        case BP_ACT_RELU:
            for (j = 0; j < cols; ++j) r[j] = SFX(relu)(r[j]);
            break;
        case BP_ACT_EXP:
            SFX(exp_array)(r, cols);
            break;
        default: /* identity */
            return;
        }
    }
}

/* activate() on a contiguous (rows x cols) block, its rows split over the network's
 * threads when the exponentials are worth it; each row is computed as on one thread */
static void SFX(activate_rows)(const bp_net *net, int act, REAL *z, ptrdiff_t rows,
                               ptrdiff_t cols)
{
    enum { ROWS = 64 };
    ptrdiff_t i0;
    int nt = act == BP_ACT_RELU || act == BP_ACT_IDENTITY
                 ? 1
                 : bp_threads_for(net, (double)rows * (double)cols * 32.0);
    if (nt > 1) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
        for (i0 = 0; i0 < rows; i0 += ROWS)
            SFX(activate)(act, z + i0 * cols, rows - i0 < ROWS ? rows - i0 : ROWS, cols, cols);
    } else { /* no parallel region: a team of one costs more than a small block's work */
        for (i0 = 0; i0 < rows; i0 += ROWS)
            SFX(activate)(act, z + i0 * cols, rows - i0 < ROWS ? rows - i0 : ROWS, cols, cols);
    }
}

/* d *= f'(z) for the activation a = f(z) */
static void SFX(activation_derivative)(int act, const REAL *a, ptrdiff_t lda, REAL *d,
                                       ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ldd)
{
    ptrdiff_t i, j;
    for (i = 0; i < rows; ++i) {
        const REAL *ar = a + i * lda;
        REAL *dr = d + i * ldd;
        switch (act) {
        case BP_ACT_LOGISTIC:
            for (j = 0; j < cols; ++j) { dr[j] *= ar[j]; dr[j] *= (REAL)1 - ar[j]; }
            break;
        case BP_ACT_TANH:
            for (j = 0; j < cols; ++j) dr[j] *= (REAL)1 - ar[j] * ar[j];
            break;
        case BP_ACT_RELU:
            for (j = 0; j < cols; ++j) dr[j] = ar[j] == 0 ? (REAL)0 : dr[j];
            break;
        default:
            return;
        }
    }
}
