/*
 * bp_core.h -- the public C API of bpfast's backpropagation core.
 *
 * Contract: plain C11, no Python headers, no global mutable state, no abort/exit.
 * Every function that can fail returns a bp_status; outputs go through pointers.
 * float32 and float64 entry points are generated from one source (bp_impl.h) and
 * differ only in their suffix (_f32 / _f64) and element type.
 *
 * Layout of the parameter slab (identical to scikit-learn's `_pack` order, so the
 * L-BFGS vector *is* the slab):
 *   W[1] (n0 x n1, row-major), W[2], ..., W[L], b[1] (n1), ..., b[L]
 * where widths = (n0, n1, ..., nL), n0 = n_features and nL = n_outputs.
 */
#ifndef BP_CORE_H
#define BP_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    BP_OK = 0,
    BP_ERR_NOMEM = 1,     /* an allocation failed */
    BP_ERR_INVALID = 2,   /* an argument is out of its domain */
    BP_ERR_OVERFLOW = 3,  /* a size computation would overflow */
    BP_ERR_NONFINITE = 4  /* a dense input to bp_predict holds NaN or infinity */
} bp_status;

typedef enum {
    BP_ACT_IDENTITY = 0,
    BP_ACT_LOGISTIC = 1,
    BP_ACT_TANH = 2,
    BP_ACT_RELU = 3,
    BP_ACT_SOFTMAX = 4,   /* output layer only */
    BP_ACT_EXP = 5        /* output layer only (poisson loss) */
} bp_activation;

typedef enum {
    BP_LOSS_SQUARED = 0,      /* half squared error, averaged over outputs */
    BP_LOSS_LOG = 1,          /* categorical cross-entropy (softmax output) */
    BP_LOSS_BINARY_LOG = 2,   /* binary cross-entropy per output (logistic) */
    BP_LOSS_POISSON = 3       /* half poisson deviance (exp output) */
} bp_loss;

typedef enum { BP_SOLVER_SGD = 0, BP_SOLVER_ADAM = 1 } bp_solver;

/* Instruction-set variants of the numeric kernels, chosen per network. */
typedef enum {
    BP_ISA_AUTO = -1,     /* the best variant this CPU runs */
    BP_ISA_BASELINE = 0,  /* the platform's baseline (SSE2 on x86-64, NEON on arm64) */
    BP_ISA_AVX2 = 1,      /* x86-64 with AVX2 and FMA */
    BP_ISA_AVX512 = 2     /* x86-64 with AVX-512 F/DQ/BW/VL */
} bp_isa;

/* Input matrix: either dense row-major (dense != NULL, element type of the call)
 * or CSR (indptr/indices/values, values of the call's element type). */
typedef struct {
    const void *dense;        /* (n_rows, n_cols) row-major, or NULL */
    const int64_t *indptr;    /* (n_rows + 1) CSR row pointers */
    const int64_t *indices;   /* (nnz) CSR column indices, each in [0, n_cols) */
    const void *values;       /* (nnz) CSR values */
    int64_t n_rows;
    int64_t n_cols;
} bp_matrix;

/* Optimizer settings and the scalar part of its state (arrays live in opt_state). */
typedef struct {
    int solver;               /* bp_solver */
    double learning_rate;     /* sgd: current rate; adam: learning_rate_init */
    double momentum;          /* sgd */
    int nesterov;             /* sgd */
    double beta_1, beta_2, epsilon;  /* adam */
    int64_t t;                /* adam: updates done so far (scikit-learn's optimizer.t) */
    double alpha;             /* L2 penalty */
} bp_optim;

/* A network shape plus the workspace for training or predicting on blocks of at
 * most max_rows rows. Opaque; create with bp_net_create, release with bp_net_free. */
typedef struct bp_net bp_net;

/* isa: a bp_isa; BP_ERR_INVALID when this build or CPU lacks the variant asked for. */
bp_status bp_net_create(bp_net **out, int n_layers, const int64_t *widths,
                        int hidden_act, int out_act, int loss, int elem_size,
                        int64_t max_rows, int n_threads, int isa);
void bp_net_free(bp_net *net);
int64_t bp_net_n_params(const bp_net *net);

/* The variant BP_ISA_AUTO picks on this CPU, and whether a variant can run here. */
int bp_best_isa(void);
int bp_isa_available(int isa);
/* The variant a network uses. */
int bp_net_isa(const bp_net *net);

/* Number of OpenMP threads the runtime would use by default (1 without OpenMP). */
int bp_max_threads(void);
/* 1 when the core was compiled with OpenMP; the _OPENMP date (e.g. 201511), or 0. */
int bp_openmp_enabled(void);
int bp_openmp_version(void);

#define BP_DECLARE_TYPED(REAL, SFX)                                                   \
    /* Objective (scikit-learn's batch loss incl. L2) and its gradient over the rows  \
     * rows[0..n_rows) of X, Y, sw (rows == NULL: rows row0 .. row0+n_rows). */       \
    bp_status bp_loss_grad_##SFX(bp_net *net, const REAL *params, const bp_matrix *X, \
                                 const REAL *Y, const REAL *sw, const int64_t *rows,  \
                                 int64_t row0, int64_t n_rows, double alpha,          \
                                 REAL *grad, double *loss);                           \
    /* The same in pieces, so a caller can stop between them: accumulate unscaled    \
     * sums over rows (first != 0 starts afresh; sums holds the data loss and the    \
     * sample-weight total), then finish with the L2 term and the scaling. Pieces    \
     * whose sizes are multiples of max_rows give exactly bp_loss_grad's result. */    \
    bp_status bp_grad_accumulate_##SFX(bp_net *net, const REAL *params,               \
                                       const bp_matrix *X, const REAL *Y,             \
                                       const REAL *sw, const int64_t *rows,           \
                                       int64_t row0, int64_t n_rows, int first,       \
                                       REAL *grad, double *sums);                     \
    bp_status bp_grad_finish_##SFX(bp_net *net, const REAL *params, double alpha,     \
                                   REAL *grad, const double *sums, double *loss);     \
    /* Run mini-batches [batch_begin, batch_end) of one epoch over the sample order   \
     * `order` (NULL: 0..n-1): gather, forward, loss, backward, update. Adds          \
     * batch_loss * batch_len of each batch to *accumulated_loss. */                  \
    bp_status bp_train_batches_##SFX(bp_net *net, REAL *params, bp_optim *opt,       \
                                      REAL *opt_state, const bp_matrix *X,            \
                                      const REAL *Y, const REAL *sw,                  \
                                      const int64_t *order, int64_t n,                \
                                      int64_t batch_size, int64_t batch_begin,        \
                                      int64_t batch_end, double *accumulated_loss);   \
    /* Output-layer activations for every row of X into out (n_rows, n_outputs).   \
     * A dense X is checked block by block as it is read: BP_ERR_NONFINITE (and    \
     * out unspecified) when it holds NaN or infinity. */                            \
    bp_status bp_predict_##SFX(bp_net *net, const REAL *params, const bp_matrix *X,   \
                               REAL *out);

BP_DECLARE_TYPED(float, f32)
BP_DECLARE_TYPED(double, f64)

#ifdef __cplusplus
}
#endif

#endif /* BP_CORE_H */
