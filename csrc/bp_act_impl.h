/*
 * bp_act_impl.h -- activation functions and their derivatives, in place on a
 * (rows x cols) block with row stride ld; instantiated per element type by
 * bp_real.c. Derivatives are written in terms of the activation a = f(z), as
 * scikit-learn writes them.
 */

static void SFX(activate)(int act, REAL *z, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t ld)
{
    ptrdiff_t i, j;
    for (i = 0; i < rows; ++i) {
        REAL *r = z + i * ld;
        switch (act) {
        case BP_ACT_LOGISTIC:
            for (j = 0; j < cols; ++j) r[j] = (REAL)1 / ((REAL)1 + BP_EXP(-r[j]));
            break;
        case BP_ACT_TANH:
            for (j = 0; j < cols; ++j) r[j] = BP_TANH(r[j]);
            break;
        case BP_ACT_RELU: /* max(z, 0), NaN kept as numpy.maximum keeps it */
            for (j = 0; j < cols; ++j) r[j] = (r[j] > 0 || r[j] != r[j]) ? r[j] : (REAL)0;
            break;
        case BP_ACT_EXP:
            for (j = 0; j < cols; ++j) r[j] = BP_EXP(r[j]);
            break;
        case BP_ACT_SOFTMAX: {
            REAL mx = r[0], sum = 0;
            for (j = 1; j < cols; ++j) mx = r[j] > mx ? r[j] : mx;
            for (j = 0; j < cols; ++j) { r[j] = BP_EXP(r[j] - mx); sum += r[j]; }
            for (j = 0; j < cols; ++j) r[j] /= sum;
            break;
        }
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
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
#endif
    for (i0 = 0; i0 < rows; i0 += ROWS)
        SFX(activate)(act, z + i0 * cols, rows - i0 < ROWS ? rows - i0 : ROWS, cols, cols);
    (void)nt;
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
