/*
 * bp_net.c -- network shape, parameter-slab offsets and the workspace allocation.
 * Everything here is element-type independent; the numerics are in bp_impl.h.
 */
#include "bp_internal.h"

#include <stdlib.h>
#include <string.h>

#define BP_MAX_BYTES ((int64_t)(PTRDIFF_MAX / 2))

int bp_mul_size(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0) return 0;
    if (a != 0 && b > BP_MAX_BYTES / a) return 0;
    *out = a * b;
    return 1;
}

int bp_add_size(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0 || a > BP_MAX_BYTES - b) return 0;
    *out = a + b;
    return 1;
}

int bp_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int bp_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int bp_openmp_version(void)
{
#ifdef _OPENMP
    return _OPENMP;
#else
    return 0;
#endif
}

int64_t bp_net_n_params(const bp_net *net) { return net->n_params; }

int bp_net_isa(const bp_net *net) { return net->isa; }

void bp_net_free(bp_net *net)
{
    if (net == NULL) return;
    free(net->widths);
    free(net->w_off);
    free(net->b_off);
    free(net->act);
    free(net->delta);
    free(net->mem);
    free(net);
}

static int bp_valid_act(int a, int hidden)
{
    if (a == BP_ACT_IDENTITY || a == BP_ACT_LOGISTIC || a == BP_ACT_TANH) return 1;
    if (a == BP_ACT_RELU) return hidden;
    return !hidden && (a == BP_ACT_SOFTMAX || a == BP_ACT_EXP);
}

bp_status bp_net_create(bp_net **out, int n_layers, const int64_t *widths,
                        int hidden_act, int out_act, int loss, int elem_size,
                        int64_t max_rows, int n_threads, int isa)
{
    bp_net *net;
    int64_t need[8], total = 0, off = 0, t;
    int l, i;
    char *base;

    if (out == NULL) return BP_ERR_INVALID;
    *out = NULL;
    if (n_layers < 1 || widths == NULL || max_rows < 1 || n_threads < 1) return BP_ERR_INVALID;
    if (elem_size != 4 && elem_size != 8) return BP_ERR_INVALID;
    /* Results do not depend on the thread count, so more than a few threads per
     * processor only costs; and a runtime asked for thousands may fail to create them. */
#ifdef _OPENMP
    if (n_threads > 4 * omp_get_num_procs()) n_threads = 4 * omp_get_num_procs();
    if (n_threads < 1) n_threads = 1;
#else
    n_threads = 1;
#endif
    if (isa == BP_ISA_AUTO) isa = bp_best_isa();
    if (!bp_isa_available(isa)) return BP_ERR_INVALID;
    if (!bp_valid_act(hidden_act, 1) || !bp_valid_act(out_act, 0)) return BP_ERR_INVALID;
    if (loss < BP_LOSS_SQUARED || loss > BP_LOSS_POISSON) return BP_ERR_INVALID;
    for (l = 0; l <= n_layers; ++l)
        if (widths[l] < 1) return BP_ERR_INVALID;

    net = (bp_net *)calloc(1, sizeof(bp_net));
    if (net == NULL) return BP_ERR_NOMEM;
    net->n_layers = n_layers;
    net->hidden_act = hidden_act;
    net->out_act = out_act;
    net->loss = loss;
    net->elem = elem_size;
    net->max_rows = max_rows;
    net->n_threads = n_threads;
    net->isa = isa;
    net->widths = (int64_t *)malloc(sizeof(int64_t) * (size_t)(n_layers + 1));
    net->w_off = (int64_t *)malloc(sizeof(int64_t) * (size_t)n_layers);
    net->b_off = (int64_t *)malloc(sizeof(int64_t) * (size_t)n_layers);
    net->act = (char **)calloc((size_t)(n_layers + 1), sizeof(char *));
    net->delta = (char **)calloc((size_t)(n_layers + 1), sizeof(char *));
    if (!net->widths || !net->w_off || !net->b_off || !net->act || !net->delta) {
        bp_net_free(net);
        return BP_ERR_NOMEM;
    }
    memcpy(net->widths, widths, sizeof(int64_t) * (size_t)(n_layers + 1));

    /* slab offsets: all W first, then all b (scikit-learn's _pack order) */
    net->max_width = widths[0];
    for (l = 0; l < n_layers; ++l) {
        net->w_off[l] = off;
        if (!bp_mul_size(widths[l], widths[l + 1], &t) || !bp_add_size(off, t, &off)) goto overflow;
        if (widths[l + 1] > net->max_width) net->max_width = widths[l + 1];
    }
    net->n_coefs = off;
    for (l = 0; l < n_layers; ++l) {
        net->b_off[l] = off;
        if (!bp_add_size(off, widths[l + 1], &off)) goto overflow;
    }
    net->n_params = off;

    /* workspace sizes in bytes: act+delta per layer, x, y, sw, grad, packs */
    {
        int64_t per_row = 0, e = elem_size;
        for (l = 1; l <= n_layers; ++l)
            if (!bp_add_size(per_row, widths[l], &per_row)) goto overflow;
        if (max_rows > BP_MAX_BYTES / 2 || !bp_mul_size(per_row, 2 * max_rows, &need[0]))
            goto overflow;                                                 /* act + delta */
        if (!bp_mul_size(widths[0], max_rows, &need[1])) goto overflow;     /* x_buf */
        if (!bp_mul_size(widths[n_layers], max_rows, &need[2])) goto overflow; /* y_buf */
        need[3] = max_rows;                                                /* sw_buf */
        need[4] = net->n_params;                                           /* grad */
        {   /* packed panels: A up to max(rows, width) tall, B up to min(NC, width) wide */
            const int64_t m = max_rows > net->max_width ? max_rows : net->max_width;
            if (!bp_mul_size(bp_pack_b_cols(net->max_width), BP_KC, &need[5])) goto overflow;
            if (!bp_mul_size(bp_pack_a_rows(m), BP_KC, &need[6])) goto overflow;
        }
        for (i = 0; i < 7; ++i) {
            if (!bp_mul_size(need[i], e, &t)) goto overflow;
            /* per-layer carving rounds each act/delta buffer: allow for it */
            if (!bp_add_size(total, bp_round64(t) + (i == 0 ? 128 * (int64_t)(n_layers + 1) : 0), &total))
                goto overflow;
        }
    }
    /* + 63: room to start the pieces at a 64-byte boundary */
    if (!bp_add_size(total, 63, &total) || (uint64_t)total > (uint64_t)SIZE_MAX) goto overflow;
    net->mem = malloc((size_t)total);
    if (net->mem == NULL) {
        bp_net_free(net);
        return BP_ERR_NOMEM;
    }
    /* carve from the first 64-byte boundary, each piece rounded to 64 bytes: every
     * buffer starts on a cache line, so no vector load of a packed panel or store to
     * a tile row that starts one straddles two lines (malloc gives 16 bytes, and
     * split loads in the micro-kernel cost a fit of wide layers about a quarter of
     * its speed) */
    base = (char *)(((uintptr_t)net->mem + 63) & ~(uintptr_t)63);
    for (l = 1; l <= n_layers; ++l) {
        net->act[l] = base;
        base += bp_round64(widths[l] * max_rows * elem_size);
        net->delta[l] = base;
        base += bp_round64(widths[l] * max_rows * elem_size);
    }
    net->x_buf = base;  base += bp_round64(need[1] * elem_size);
    net->y_buf = base;  base += bp_round64(need[2] * elem_size);
    net->sw_buf = base; base += bp_round64(need[3] * elem_size);
    net->grad = base;   base += bp_round64(need[4] * elem_size);
    net->pack_b = base; base += bp_round64(need[5] * elem_size);
    net->pack_a = base;
    *out = net;
    return BP_OK;

overflow:
    bp_net_free(net);
    return BP_ERR_OVERFLOW;
}
