/*
 * bp_internal.h -- definitions shared by the core's translation units; not public.
 */
#ifndef BP_INTERNAL_H
#define BP_INTERNAL_H

#include "bp_core.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(_MSC_VER)
#define BP_RESTRICT __restrict
#else
#define BP_RESTRICT restrict
#endif

/* GEMM blocking. MR x NR is the register tile, KC the depth of a packed panel,
 * NC the columns of a packed B panel. Fixed constants (not thread-count dependent)
 * keep every sum in one order. */
#define BP_KC 256
#define BP_NC 1024
#define BP_MR 6
#define BP_NR_F32 16
#define BP_NR_F64 8
#define BP_NR_MAX 16

/* Below this many multiply-adds a product runs on one thread. */
#define BP_PAR_MIN_WORK 200000

struct bp_net {
    int n_layers;            /* L: weight layers */
    int64_t *widths;         /* (L+1) layer widths */
    int64_t *w_off;          /* (L) offset of W[l] in the parameter slab */
    int64_t *b_off;          /* (L) offset of b[l] in the parameter slab */
    int64_t n_params;        /* total slab length */
    int64_t n_coefs;         /* elements of all W (the L2 term's range) */
    int hidden_act, out_act, loss;
    int elem;                /* sizeof(REAL): 4 or 8 */
    int64_t max_rows;        /* rows per block */
    int64_t max_width;       /* widest layer, inputs included */
    int n_threads;
    /* workspace (element type REAL, carved from one allocation `mem`) */
    void *mem;
    char **act;              /* act[l], l = 1..L: (max_rows, widths[l]) */
    char **delta;            /* delta[l], l = 1..L: (max_rows, widths[l]) */
    char *x_buf;             /* (max_rows, widths[0]) gathered input rows */
    char *y_buf;             /* (max_rows, widths[L]) gathered targets */
    char *sw_buf;            /* (max_rows) gathered sample weights */
    char *grad;              /* (n_params) gradient of a batch */
    char *pack_b;            /* (BP_KC, <= BP_NC) packed B panel */
    char *pack_a;            /* (<= max(max_rows, max_width), BP_KC) packed A panel */
};

/* a * b into *out, false on overflow of ptrdiff_t-sized byte counts. */
int bp_mul_size(int64_t a, int64_t b, int64_t *out);
int bp_add_size(int64_t a, int64_t b, int64_t *out);

static inline int bp_threads_for(const bp_net *net, double work)
{
    return (net->n_threads > 1 && work >= BP_PAR_MIN_WORK) ? net->n_threads : 1;
}

#endif /* BP_INTERNAL_H */
