/*
 * bp_impl.h -- forward pass, losses, backpropagation (BP1-BP4), optimizer updates
 * and the mini-batch loop, instantiated per element type by bp_real.c.
 *
 * Notation as in DESIGN.md: layer l = 1..L has W[l] (widths[l-1] x widths[l]) and
 * b[l]; act[l] = f_l(Z[l]) for a block of rows; delta[l] = dLoss/dZ[l] times the
 * batch's total sample weight (the division by it happens once, in the gradient).
 * The arithmetic mirrors scikit-learn's MLP (_multilayer_perceptron.py, _base.py)
 * so that both give the same numbers up to rounding.
 */

#define W_OF(net, params, l) ((params) + (net)->w_off[(l)-1])
#define B_OF(net, params, l) ((params) + (net)->b_off[(l)-1])
#define ROW(rows, row0, i) ((rows) ? (rows)[i] : (row0) + (i))

/* ---- forward ----------------------------------------------------------------- */

/* Z[1] += X[rows] W[1] for CSR X; each row of Z is summed in nonzero order. */
static void SFX(sparse_forward)(const bp_net *net, const bp_matrix *X, const int64_t *rows,
                                int64_t row0, ptrdiff_t nb, const REAL *W, REAL *z)
{
    const REAL *val = (const REAL *)X->values;
    ptrdiff_t w = (ptrdiff_t)net->widths[1], i;
    int nt = bp_threads_for(net, (double)nb * (double)w * 8.0);
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
#endif
    for (i = 0; i < nb; ++i) {
        int64_t r = ROW(rows, row0, i), q;
        REAL *zr = z + i * w;
        for (q = X->indptr[r]; q < X->indptr[r + 1]; ++q) {
            const REAL v = val[q], *wr = W + X->indices[q] * w;
            ptrdiff_t j;
            for (j = 0; j < w; ++j) zr[j] += v * wr[j];
        }
    }
    (void)nt;
}

/* The epilogue of layer l's product in a forward pass: its bias and its elementwise
 * activation (softmax needs whole rows: the caller applies it after the product); the
 * first layer's product fetches [ahead, ahead + ahead_n) into cache as it goes. */
static SFX(epilogue) SFX(layer_epilogue)(const bp_net *net, const REAL *params, int l,
                                         const REAL *ahead, ptrdiff_t ahead_n)
{
    const int act = l == net->n_layers ? net->out_act : net->hidden_act;
    SFX(epilogue) ep = {0};
    ep.bias = B_OF(net, params, l);
    ep.act = act == BP_ACT_SOFTMAX ? -1 : act;
    if (l == 1 && ahead != NULL) {
        ep.ahead = (const char *)ahead;
        ep.ahead_end = (const char *)(ahead + ahead_n);
    }
    return ep;
}

/* act[l] for l = 1..L on nb rows whose inputs are x (dense, row stride ldx) or the
 * CSR rows of X (x == NULL); the output layer's into out (nb x its width) instead
 * when out is not NULL. ahead (ahead_n values, or NULL) is what the caller reads next:
 * the first layer's product fetches it into cache as it goes. */
static void SFX(forward)(bp_net *net, const REAL *params, const REAL *x, ptrdiff_t ldx,
                         const bp_matrix *X, const int64_t *rows, int64_t row0, ptrdiff_t nb,
                         REAL *out, const REAL *ahead, ptrdiff_t ahead_n)
{
    int l, L = net->n_layers;
    for (l = 1; l <= L; ++l) {
        ptrdiff_t n_in = (ptrdiff_t)net->widths[l - 1], n_out = (ptrdiff_t)net->widths[l], i;
        REAL *z = l == L && out != NULL ? out : (REAL *)net->act[l];
        const REAL *b = B_OF(net, params, l), *W = W_OF(net, params, l);
        const int act = l == L ? net->out_act : net->hidden_act;
        if (l == 1 && x == NULL) {
            for (i = 0; i < nb; ++i) memcpy(z + i * n_out, b, sizeof(REAL) * (size_t)n_out);
            SFX(sparse_forward)(net, X, rows, row0, nb, W, z);
            SFX(activate_rows)(net, act, z, nb, n_out);
        } else {
            /* Z = A W + b with the elementwise activation fused into the product */
            const SFX(epilogue) ep = SFX(layer_epilogue)(net, params, l, ahead, ahead_n);
            SFX(gemm)(net, nb, n_out, n_in, l == 1 ? x : (const REAL *)net->act[l - 1],
                      l == 1 ? ldx : n_in, 1, W, n_out, 1, 0, z, n_out, &ep);
            if (act == BP_ACT_SOFTMAX) SFX(activate_rows)(net, act, z, nb, n_out);
        }
    }
}

/* ---- loss and output error (BP1) ------------------------------------------------ */

/* Returns sum_i sw_i * loss_i over the block (loss_i summed over outputs) and writes
 * delta[L] = (act[L] - Y) * sw: the canonical-link output error. */
static double SFX(output_error)(bp_net *net, const REAL *Y, const REAL *sw, ptrdiff_t nb)
{
    int L = net->n_layers;
    ptrdiff_t k = (ptrdiff_t)net->widths[L], i, j;
    const REAL *p = (const REAL *)net->act[L];
    REAL *d = (REAL *)net->delta[L];
    const double eps = BP_EPS;
    double total = 0;
    for (i = 0; i < nb; ++i) {
        const REAL *pr = p + i * k, *yr = Y + i * k;
        REAL *dr = d + i * k;
        double li = 0;
        for (j = 0; j < k; ++j) {
            double pj = (double)pr[j], yj = (double)yr[j];
            switch (net->loss) {
            case BP_LOSS_SQUARED:
                li += (yj - pj) * (yj - pj);
                break;
            case BP_LOSS_POISSON:
                li += (yj != 0 ? yj * log(yj / pj) : 0.0) - yj + pj;
                break;
            case BP_LOSS_LOG: {
                double pc = pj < eps ? eps : (pj > 1 - eps ? 1 - eps : pj);
                if (yj != 0) li -= yj * log(pc);
                break;
            }
            default: { /* BP_LOSS_BINARY_LOG */
                double pc = pj < eps ? eps : (pj > 1 - eps ? 1 - eps : pj);
                if (yj != 0) li -= yj * log(pc);
                if (yj != 1) li -= (1 - yj) * log(1 - pc);
                break;
            }
            }
            dr[j] = pr[j] - yr[j];
        }
        if (sw != NULL) {
            for (j = 0; j < k; ++j) dr[j] *= sw[i];
            li *= (double)sw[i];
        }
        total += li;
    }
    return total;
}

/* ---- backward (BP2-BP4) ---------------------------------------------------------- */

/* dW[1] += X[rows]^T delta[1] for CSR X: threads own disjoint column ranges of dW. */
static void SFX(sparse_weight_grad)(const bp_net *net, const bp_matrix *X, const int64_t *rows,
                                    int64_t row0, ptrdiff_t nb, const REAL *d, REAL *gW)
{
    const REAL *val = (const REAL *)X->values;
    ptrdiff_t w = (ptrdiff_t)net->widths[1], n_chunks, c;
    int nt = bp_threads_for(net, (double)nb * (double)w * 8.0);
    n_chunks = nt > 1 ? (w + 15) / 16 : 1;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
#endif
    for (c = 0; c < n_chunks; ++c) {
        ptrdiff_t j0 = nt > 1 ? c * 16 : 0, j1 = nt > 1 ? (j0 + 16 < w ? j0 + 16 : w) : w, i;
        for (i = 0; i < nb; ++i) {
            int64_t r = ROW(rows, row0, i), q;
            const REAL *dr = d + i * w;
            for (q = X->indptr[r]; q < X->indptr[r + 1]; ++q) {
                REAL v = val[q], *gr = gW + X->indices[q] * w;
                ptrdiff_t j;
                for (j = j0; j < j1; ++j) gr[j] += v * dr[j];
            }
        }
    }
    (void)nt;
}

/* g[j] (0 when first) + the sum of column j of d (rows x cols) for the CH columns from
 * j0 (fewer at the end), summed row by row. The sums of a chunk stay in registers over
 * the rows; adding each row into g in memory instead waits on the previous row's store
 * every time. */
enum { SFX(SUM_CHUNK) = 256 / (int)sizeof(REAL) };
static void SFX(column_chunk_sums)(const REAL *d, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t j0,
                                   int first, REAL *BP_RESTRICT g)
{
    enum { CH = SFX(SUM_CHUNK) };
    const ptrdiff_t nc = cols - j0 < CH ? cols - j0 : CH;
    ptrdiff_t i, j;
    REAL s[CH];
    for (j = 0; j < CH; ++j) s[j] = first || j >= nc ? (REAL)0 : g[j0 + j];
    if (nc == CH)
        for (i = 0; i < rows; ++i)
            for (j = 0; j < CH; ++j) s[j] += d[i * cols + j0 + j];
    else
        for (i = 0; i < rows; ++i)
            for (j = 0; j < nc; ++j) s[j] += d[i * cols + j0 + j];
    for (j = 0; j < nc; ++j) g[j0 + j] = s[j];
}

/* column_chunk_sums() over every chunk of columns, the chunks split over the network's
 * threads when the block is large: each column summed by one thread, in the same order
 * whatever their number */
static void SFX(column_sums)(const bp_net *net, const REAL *d, ptrdiff_t rows, ptrdiff_t cols,
                             int first, REAL *BP_RESTRICT g)
{
    enum { CH = SFX(SUM_CHUNK) };
    const ptrdiff_t chunks = (cols + CH - 1) / CH;
    int nt = bp_threads_for(net, (double)rows * (double)cols);
    ptrdiff_t c;
    if (nt > chunks) nt = (int)chunks;
    if (nt > 1) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
        for (c = 0; c < chunks; ++c) SFX(column_chunk_sums)(d, rows, cols, c * CH, first, g);
    } else {
        for (c = 0; c < chunks; ++c) SFX(column_chunk_sums)(d, rows, cols, c * CH, first, g);
    }
}

/* Accumulate the block's unscaled gradients into grad (first block: overwrite).
 * x/X/rows/row0 describe the block's inputs as for forward(). */
static void SFX(backward)(bp_net *net, const REAL *params, const REAL *x, ptrdiff_t ldx,
                          const bp_matrix *X, const int64_t *rows, int64_t row0, ptrdiff_t nb,
                          REAL *grad, int first_block)
{
    int l, L = net->n_layers;
    for (l = L; l >= 1; --l) {
        ptrdiff_t n_in = (ptrdiff_t)net->widths[l - 1], n_out = (ptrdiff_t)net->widths[l];
        const REAL *d = (const REAL *)net->delta[l];
        REAL *gW = W_OF(net, grad, l), *gb = B_OF(net, grad, l);
        /* BP3: dW[l] = A[l-1]^T delta[l] */
        if (l == 1 && x == NULL) {
            if (first_block) memset(gW, 0, sizeof(REAL) * (size_t)(n_in * n_out));
            SFX(sparse_weight_grad)(net, X, rows, row0, nb, d, gW);
        } else {
            const REAL *a = l == 1 ? x : (const REAL *)net->act[l - 1];
            ptrdiff_t lda = l == 1 ? ldx : n_in;
            SFX(gemm)(net, n_in, n_out, nb, a, 1, lda, d, n_out, 1, !first_block, gW, n_out, NULL);
        }
        /* BP4: db[l] = column sums of delta[l] */
        SFX(column_sums)(net, d, nb, n_out, first_block, gb);
        /* BP2: delta[l-1] = (delta[l] W[l]^T) * f'(Z[l-1]) */
        if (l > 1) {
            SFX(epilogue) ep = {0};
            ep.act = -1;
            ep.da = (const REAL *)net->act[l - 1];
            ep.ld_da = n_in;
            ep.da_act = net->hidden_act;
            SFX(gemm)(net, nb, n_in, n_out, d, n_out, 1, W_OF(net, params, l), 1, n_out, 0,
                      (REAL *)net->delta[l - 1], n_in, &ep);
        }
    }
}

/* ---- objective and gradient over a set of rows ------------------------------------ */

static void SFX(gather)(const bp_net *net, REAL *dst, const REAL *src, ptrdiff_t w,
                        const int64_t *rows, int64_t row0, ptrdiff_t nb)
{
    ptrdiff_t i, j;
    if (w >= 32) { /* a megabyte's copy takes about as long as a million multiply-adds */
        const size_t bytes = sizeof(REAL) * (size_t)w;
        if (bp_threads_for(net, (double)nb * (double)bytes) > 1) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(net->n_threads) schedule(static)
#endif
            for (i = 0; i < nb; ++i) memcpy(dst + i * w, src + ROW(rows, row0, i) * w, bytes);
        } else {
            for (i = 0; i < nb; ++i) memcpy(dst + i * w, src + ROW(rows, row0, i) * w, bytes);
        }
    } else {   /* narrow rows (targets): a plain loop beats a call per row */
        for (i = 0; i < nb; ++i) {
            const REAL *r = src + ROW(rows, row0, i) * w;
            for (j = 0; j < w; ++j) dst[i * w + j] = r[j];
        }
    }
}

static int SFX(check_matrix)(const bp_net *net, const bp_matrix *X)
{
    if (X == NULL || X->n_cols != net->widths[0] || X->n_rows < 0) return 0;
    if (X->dense == NULL && (X->indptr == NULL || X->indices == NULL || X->values == NULL))
        return 0;
    return 1;
}

bp_status SFX(bp_grad_accumulate)(bp_net *net, const REAL *params, const bp_matrix *X,
                                  const REAL *Y, const REAL *sw, const int64_t *rows,
                                  int64_t row0, int64_t n_rows, int first, REAL *grad,
                                  double *sums)
{
    int L;
    ptrdiff_t d, k, start, i;
    if (net == NULL || net->elem != (int)sizeof(REAL) || params == NULL || Y == NULL ||
        grad == NULL || sums == NULL || n_rows < 1 || !SFX(check_matrix)(net, X))
        return BP_ERR_INVALID;
    L = net->n_layers;
    d = (ptrdiff_t)net->widths[0];
    k = (ptrdiff_t)net->widths[L];
    if (first) sums[0] = sums[1] = 0;
    for (start = 0; start < n_rows; start += net->max_rows) {
        ptrdiff_t nb = n_rows - start < net->max_rows ? n_rows - start : net->max_rows;
        const int64_t *brows = rows ? rows + start : NULL;
        int64_t brow0 = row0 + start;
        const REAL *x = NULL, *ysrc, *swb = NULL;
        if (X->dense != NULL) {
            if (brows) {
                SFX(gather)(net, (REAL *)net->x_buf, (const REAL *)X->dense, d, brows, 0, nb);
                x = (const REAL *)net->x_buf;
            } else {
                x = (const REAL *)X->dense + brow0 * d;
            }
        }
        if (brows) {
            SFX(gather)(net, (REAL *)net->y_buf, Y, k, brows, 0, nb);
            ysrc = (const REAL *)net->y_buf;
        } else {
            ysrc = Y + brow0 * k;
        }
        if (sw != NULL) {
            REAL *s = (REAL *)net->sw_buf;
            for (i = 0; i < nb; ++i) s[i] = sw[ROW(brows, brow0, i)];
            for (i = 0; i < nb; ++i) sums[1] += (double)s[i];
            swb = s;
        } else {
            sums[1] += (double)nb;
        }
        SFX(forward)(net, params, x, d, X, brows, brow0, nb, NULL, NULL, 0);
        sums[0] += SFX(output_error)(net, ysrc, swb, nb);
        SFX(backward)(net, params, x, d, X, brows, brow0, nb, grad, first && start == 0);
    }
    return BP_OK;
}

/* grad[i] = (grad[i] + ra params[i]) / rs for i < n, work-shared over the current team
 * (see bp_grad_finish) */
static void SFX(scale_gradient)(REAL *BP_RESTRICT grad, const REAL *BP_RESTRICT params,
                                ptrdiff_t n, REAL ra, REAL rs)
{
    ptrdiff_t i;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (i = 0; i < n; ++i) grad[i] = (grad[i] + ra * params[i]) / rs;
}

bp_status SFX(bp_grad_finish)(bp_net *net, const REAL *params, double alpha, REAL *grad,
                              const double *sums, double *loss)
{
    /* gradient: (sum + alpha W) / sw_sum for weights, sum / sw_sum for biases */
    const double sw_sum = sums[1];
    const REAL ra = (REAL)alpha, rs = (REAL)sw_sum;
    ptrdiff_t i, nc, np_;
    int nt;
    double data_loss = sums[0], sq = 0;
    /* the L2 sum in 8 interleaved partial sums: vectorisable, fixed order */
    double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (net == NULL || net->elem != (int)sizeof(REAL) || params == NULL || grad == NULL ||
        loss == NULL)
        return BP_ERR_INVALID;
    nc = (ptrdiff_t)net->n_coefs;
    np_ = (ptrdiff_t)net->n_params;
    if (alpha != 0) { /* the L2 sum, on this thread whatever the thread count */
        for (i = 0; i + 8 <= nc; i += 8) {
            int q;
            for (q = 0; q < 8; ++q) part[q] += (double)params[i + q] * (double)params[i + q];
        }
        for (; i < nc; ++i) part[0] += (double)params[i] * (double)params[i];
        sq = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    }
    /* the scaling: one loop for any thread count, so every weight gets the same
     * instructions; on one thread outside any parallel region, without a team */
    nt = bp_threads_for(net, (double)np_);
#ifdef _OPENMP
    if (bp_own_team(nt)) {
#pragma omp parallel num_threads(nt)
        SFX(scale_gradient)(grad, params, nc, ra, rs);
    } else
#endif
        SFX(scale_gradient)(grad, params, nc, ra, rs);
    (void)nt;
    for (i = nc; i < np_; ++i) grad[i] /= rs;
    if (net->loss == BP_LOSS_SQUARED)
        data_loss = 0.5 * data_loss / (double)net->widths[net->n_layers];
    *loss = data_loss / sw_sum + (alpha != 0 ? 0.5 * alpha * sq / sw_sum : 0.0);
    return BP_OK;
}

bp_status SFX(bp_loss_grad)(bp_net *net, const REAL *params, const bp_matrix *X,
                            const REAL *Y, const REAL *sw, const int64_t *rows,
                            int64_t row0, int64_t n_rows, double alpha,
                            REAL *grad, double *loss)
{
    double sums[2];
    bp_status st = SFX(bp_grad_accumulate)(net, params, X, Y, sw, rows, row0, n_rows, 1, grad,
                                           sums);
    if (st != BP_OK) return st;
    return SFX(bp_grad_finish)(net, params, alpha, grad, sums, loss);
}

/* ---- optimizer updates over the flat parameter slab ------------------------------- */

/* The optimizer's step over every parameter, for SGD or for Adam at bias-corrected step
 * size lr_t; its loops are work-shared over the current team (see update) */
static void SFX(update_shares)(ptrdiff_t n, REAL *params, const REAL *grad, const bp_optim *opt,
                               double lr_t, REAL *state)
{
    ptrdiff_t i;
    if (opt->solver == BP_SOLVER_SGD) {
        const REAL mom = (REAL)opt->momentum, lr = (REAL)opt->learning_rate;
        const int nesterov = opt->nesterov;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (i = 0; i < n; ++i) {
            REAL v = mom * state[i] - lr * grad[i];
            state[i] = v;
            params[i] += nesterov ? mom * v - lr * grad[i] : v;
        }
    } else {
        REAL *m = state, *v = state + n;
        const REAL b1 = (REAL)opt->beta_1, b2 = (REAL)opt->beta_2;
        const REAL c1 = (REAL)(1 - opt->beta_1), c2 = (REAL)(1 - opt->beta_2);
        const REAL eps = (REAL)opt->epsilon;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (i = 0; i < n; ++i) {
            m[i] = b1 * m[i] + c1 * grad[i];
            v[i] = b2 * v[i] + c2 * (grad[i] * grad[i]);
            /* scikit-learn's step in float64 (its rate is a numpy float64), added to the
             * weight in float64 and rounded once, as numpy's in-place add of a float64
             * step to a float32 weight does (rounding the step first differs in 1 of a
             * few hundred adds) */
            params[i] = (REAL)((double)params[i] +
                               -lr_t * (double)m[i] / (double)(BP_SQRT(v[i]) + eps));
        }
    }
}

static void SFX(update)(const bp_net *net, REAL *params, const REAL *grad, bp_optim *opt,
                        REAL *state)
{
    const ptrdiff_t n = (ptrdiff_t)net->n_params;
    /* about 16 multiply-add equivalents per parameter (Adam's square root and
     * division): a 200k-parameter net's update is worth two threads */
    const int nt = bp_threads_for(net, (double)n * 16.0);
    double lr_t = 0;
    if (opt->solver != BP_SOLVER_SGD) {
        opt->t += 1;
        lr_t = opt->learning_rate * sqrt(1 - pow(opt->beta_2, (double)opt->t)) /
               (1 - pow(opt->beta_1, (double)opt->t));
    }
    /* one loop for any thread count, so every parameter gets the same instructions; on
     * one thread outside any parallel region, without a team */
#ifdef _OPENMP
    if (bp_own_team(nt)) {
#pragma omp parallel num_threads(nt)
        SFX(update_shares)(n, params, grad, opt, lr_t, state);
        return;
    }
#endif
    SFX(update_shares)(n, params, grad, opt, lr_t, state);
    (void)nt;
}

bp_status SFX(bp_train_batches)(bp_net *net, REAL *params, bp_optim *opt, REAL *opt_state,
                                const bp_matrix *X, const REAL *Y, const REAL *sw,
                                const int64_t *order, int64_t n, int64_t batch_size,
                                int64_t batch_begin, int64_t batch_end,
                                double *accumulated_loss)
{
    int64_t bi;
    if (net == NULL || opt == NULL || opt_state == NULL || accumulated_loss == NULL ||
        batch_size < 1 || batch_size > net->max_rows || n < 1 || X == NULL || X->n_rows < n ||
        batch_begin < 0 || batch_end < batch_begin ||
        (opt->solver != BP_SOLVER_SGD && opt->solver != BP_SOLVER_ADAM))
        return BP_ERR_INVALID;
    for (bi = batch_begin; bi < batch_end; ++bi) {
        int64_t start = bi * batch_size;
        int64_t nb = n - start < batch_size ? n - start : batch_size;
        double batch_loss;
        bp_status st;
        if (nb <= 0) break;
        st = SFX(bp_loss_grad)(net, params, X, Y, sw, order ? order + start : NULL, start, nb,
                               opt->alpha, (REAL *)net->grad, &batch_loss);
        if (st != BP_OK) return st;
        *accumulated_loss += batch_loss * (double)nb;
        SFX(update)(net, params, (const REAL *)net->grad, opt, opt_state);
    }
    return BP_OK;
}

/* ---- prediction ----------------------------------------------------------------- */

/* Rows per prediction block: as many as keep a block's activations within
 * BP_PREDICT_BYTES (in L2 while the next layer reads them), a multiple of `unit` (BP_MC,
 * or BP_PREDICT_ROWS: whole strips of B in forward_transposed), at least that and at most
 * max_rows. */
static ptrdiff_t SFX(predict_block_rows)(const bp_net *net, ptrdiff_t unit)
{
    double per_row = 0;
    ptrdiff_t r;
    int l;
    for (l = 1; l <= net->n_layers; ++l) per_row += (double)net->widths[l] * sizeof(REAL);
    r = (ptrdiff_t)(BP_PREDICT_BYTES / per_row) / unit * unit;
    if (r < unit) r = unit;
    return r < net->max_rows ? r : (ptrdiff_t)net->max_rows;
}

/* forward() of a dense block for prediction, computed transposed: layer l's activations
 * are kept as Z^T (widths[l] x nb, row stride nb) = W^T A^T, the bias added by rows, so
 * that the block's rows run along the vectors. A narrow layer (an output of 10, say)
 * then fills the tiles' lanes where forward() computes 16 of them for 10 columns, and a
 * width that is no multiple of MR ends in a short strip of rows (BP_SHORT_MR) instead of
 * a narrow strip of columns. The input is packed transposed once per block; the output is
 * written back to out (nb x its width) through output_transposed(). Each element is the
 * same sum in the same order as in forward(), so the results are bitwise the same.
 * Only for networks that predict_transposed() accepts: W (A here) is then always read in
 * place, and a packed panel of the input (B) holds at most min(width, KC) x NC values,
 * within the net's packing buffer, which is sized for min(width, NC) + NR columns of KC
 * (NC == KC).
 * The input is checked for NaN and infinity as it is packed (or, read in place, before
 * the first product): returns 0 (out left alone) when it holds one. */
static int SFX(forward_transposed)(bp_net *net, const REAL *params, const REAL *x,
                                   ptrdiff_t nb, REAL *out, const REAL *ahead,
                                   ptrdiff_t ahead_n)
{
    const int L = net->n_layers;
    int l, nonfinite = 0;
    for (l = 1; l <= L; ++l) {
        const ptrdiff_t n_in = (ptrdiff_t)net->widths[l - 1], n_out = (ptrdiff_t)net->widths[l];
        SFX(epilogue) ep = SFX(layer_epilogue)(net, params, l, ahead, ahead_n);
        ep.bias_by_row = 1;
        ep.b_in_place = 1;
        /* A = W read down its columns; B = X read down its columns (packed), or the
         * previous layer's Z^T read along its rows */
        if (l == 1) {
            ep.b_nonfinite = &nonfinite;
            SFX(gemm)(net, n_out, nb, n_in, W_OF(net, params, l), 1, n_out, x, 1, n_in, 0,
                      (REAL *)net->act[l], nb, &ep);
            if (nonfinite) return 0;
        } else
            SFX(gemm)(net, n_out, nb, n_in, W_OF(net, params, l), 1, n_out,
                      (const REAL *)net->act[l - 1], nb, 1, 0, (REAL *)net->act[l], nb, &ep);
    }
    SFX(output_transposed)(net->out_act, (REAL *)net->act[L], (ptrdiff_t)net->widths[L], nb,
                           out);
    return 1;
}

/* Whether prediction computes dense blocks transposed (forward_transposed): when every
 * layer's weights are read in place there (gemm's rule for an A read down its columns),
 * as in the small networks whose narrow layers it speeds up. A wide layer's W would be
 * packed again for every block, or read in place a page per depth step; forward() reads
 * it as B, where its widths fill whole strips anyway (a 512-1024-10 network: 0.74x). */
static int SFX(predict_transposed)(const bp_net *net)
{
    int l;
    for (l = 1; l <= net->n_layers; ++l)
        if (!SFX(panel_in_place)((ptrdiff_t)net->widths[l - 1], (ptrdiff_t)net->widths[l]))
            return 0;
    return 1;
}

/* forward() on rows [start, start + nb) of X, the output activations written to out
 * (forward_transposed() when transposed, unless the block is a handful of rows: the
 * row-major path then takes its small product). Returns 0 (and leaves out alone) when a dense
 * block holds NaN or infinity: checked by forward_transposed() as it packs the block, or
 * here, where the block is read into cache for its first product anyway. The dense rows
 * from next on (the block this thread forwards next) are fetched from memory during the
 * first product, instead of in a stall when that block is packed (10000 rows of the digits
 * model on one thread: about 1.05x). */
static int SFX(predict_block)(bp_net *net, const REAL *params, const bp_matrix *X,
                              ptrdiff_t start, ptrdiff_t nb, ptrdiff_t next, int transposed,
                              REAL *out)
{
    const ptrdiff_t d = (ptrdiff_t)net->widths[0], k = (ptrdiff_t)net->widths[net->n_layers];
    const REAL *x = X->dense ? (const REAL *)X->dense + start * d : NULL;
    const ptrdiff_t next_n = X->n_rows - next < nb ? X->n_rows - next : nb;
    const REAL *ahead = x != NULL && next_n > 0 ? x + (next - start) * d : NULL;
    if (transposed && nb > BP_SMALL_M)
        return SFX(forward_transposed)(net, params, x, nb, out + start * k, ahead, next_n * d);
    if (x != NULL && !SFX(all_finite)(x, nb * d)) return 0;
    SFX(forward)(net, params, x, d, X, NULL, start, nb, out + start * k, ahead, next_n * d);
    return 1;
}

#ifdef _OPENMP
/* Lays out in mem (from its first 64-byte boundary) a one-thread copy w of net for
 * blocks of at most `rows` rows: its activations' pointers and buffers, then its
 * packing buffers. Returns the bytes mem must hold; with w == NULL only counts. */
static int64_t SFX(worker_net)(const bp_net *net, ptrdiff_t rows, char *mem, bp_net *w)
{
    const int64_t elem = (int64_t)sizeof(REAL);
    char *base = w != NULL ? (char *)(((uintptr_t)mem + 63) & ~(uintptr_t)63) : NULL;
    int64_t off = bp_round64((int64_t)sizeof(char *) * (net->n_layers + 1));
    int l;
    if (w != NULL) {
        *w = *net;
        w->n_threads = 1;
        w->max_rows = rows;
        w->act = (char **)base;
        w->act[0] = NULL;
    }
    for (l = 1; l <= net->n_layers; ++l) {
        if (w != NULL) w->act[l] = base + off;
        off += bp_round64(rows * net->widths[l] * elem);
    }
    if (w != NULL) w->pack_b = base + off;
    off += bp_round64(bp_pack_b_cols(net->max_width) * BP_KC * elem);
    if (w != NULL) w->pack_a = base + off;
    return off + bp_pack_a_rows(rows) * BP_KC * elem + 63; /* + 63: mem's alignment */
}
#endif

bp_status SFX(bp_predict)(bp_net *net, const REAL *params, const bp_matrix *X, REAL *out)
{
    ptrdiff_t rows, n_blocks, blk, l;
    double flops = 0;
    int nt, transposed, nonfinite = 0;
    char *mem = NULL;
#ifdef _OPENMP
    int64_t bytes = 0;
#endif
    if (net == NULL || net->elem != (int)sizeof(REAL) || params == NULL || out == NULL ||
        !SFX(check_matrix)(net, X))
        return BP_ERR_INVALID;
    transposed = X->dense != NULL && SFX(predict_transposed)(net);
    rows = SFX(predict_block_rows)(net, transposed ? BP_PREDICT_ROWS : BP_MC);
    n_blocks = (X->n_rows + rows - 1) / rows;
    for (l = 0; l < net->n_layers; ++l) flops += (double)net->widths[l] * net->widths[l + 1];
    nt = bp_threads_for(net, flops * (double)X->n_rows);
    if (nt > n_blocks) nt = (int)n_blocks;
#ifdef _OPENMP
    if (nt > 1) { /* a workspace per thread; without one, the blocks run in turn */
        bytes = SFX(worker_net)(net, rows, NULL, NULL);
        if ((uint64_t)bytes * (uint64_t)nt <= (uint64_t)SIZE_MAX / 2)
            mem = (char *)malloc((size_t)bytes * (size_t)nt);
    }
#endif
    if (mem == NULL) { /* blocks in turn, each product threaded as its size allows */
        for (blk = 0; blk < n_blocks; ++blk) {
            const ptrdiff_t start = blk * rows;
            if (!SFX(predict_block)(net, params, X, start,
                                    X->n_rows - start < rows ? X->n_rows - start : rows,
                                    start + rows, transposed, out))
                return BP_ERR_NONFINITE;
        }
        return BP_OK;
    }
#ifdef _OPENMP
    /* every thread forwards whole blocks through all layers in its own workspace */
#pragma omp parallel num_threads(nt)
    {
        bp_net w;
        SFX(worker_net)(net, rows, mem + bytes * omp_get_thread_num(), &w);
#pragma omp for schedule(static, 1)
        for (blk = 0; blk < n_blocks; ++blk) {
            const ptrdiff_t start = blk * rows;
            if (!SFX(predict_block)(&w, params, X, start,
                                    X->n_rows - start < rows ? X->n_rows - start : rows,
                                    start + rows * nt, transposed, out)) {
#pragma omp atomic
                nonfinite |= 1;
            }
        }
    }
#endif
    free(mem);
    return nonfinite ? BP_ERR_NONFINITE : BP_OK;
}

#undef W_OF
#undef B_OF
#undef ROW
