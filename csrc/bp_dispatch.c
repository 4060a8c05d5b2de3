/*
 * bp_dispatch.c -- the public typed entry points, routed to the instruction-set
 * variant the network was created with, and the CPU feature checks behind
 * BP_ISA_AUTO. No global state: the choice lives in each bp_net.
 */
#include "bp_internal.h"

#if (defined(BP_HAVE_AVX2) || defined(BP_HAVE_AVX512)) && defined(_MSC_VER) && !defined(__clang__)
#define BP_MSVC_CPUID 1
#include <intrin.h>
#include <immintrin.h>
#endif

#ifdef BP_MSVC_CPUID
/* the OS saves the register state in mask (XCR0), as CPUID's OSXSAVE allows reading */
static int bp_os_saves(unsigned mask)
{
    int r[4];
    __cpuid(r, 1);
    if ((r[2] & (1 << 27)) == 0) return 0;
    return (_xgetbv(0) & mask) == mask;
}
#endif

static int bp_cpu_has_avx2_fma(void)
{
#if defined(BP_HAVE_AVX2) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#elif defined(BP_HAVE_AVX2) && defined(BP_MSVC_CPUID)
    int r[4];
    __cpuid(r, 0);
    if (r[0] < 7) return 0;
    __cpuid(r, 1);
    /* FMA (bit 12), AVX (28); XMM and YMM state saved by the OS */
    if ((r[2] & (1 << 12)) == 0 || (r[2] & (1 << 28)) == 0 || !bp_os_saves(0x6)) return 0;
    __cpuidex(r, 7, 0);
    return (r[1] & (1 << 5)) != 0; /* AVX2 */
#else
    return 0;
#endif
}

static int bp_cpu_has_avx512(void)
{
#if defined(BP_HAVE_AVX512) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    return bp_cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
#elif defined(BP_HAVE_AVX512) && defined(BP_MSVC_CPUID)
    int r[4];
    const int need = (1 << 16) | (1 << 17) | (1 << 30) | (1 << 31); /* F, DQ, BW, VL */
    if (!bp_cpu_has_avx2_fma() || !bp_os_saves(0xE6)) return 0;  /* + opmask, ZMM state */
    __cpuidex(r, 7, 0);
    return (r[1] & need) == need;
#else
    return 0;
#endif
}

int bp_isa_available(int isa)
{
    if (isa == BP_ISA_BASELINE) return 1;
    if (isa == BP_ISA_AVX2) return bp_cpu_has_avx2_fma();
    if (isa == BP_ISA_AVX512) return bp_cpu_has_avx512();
    return 0;
}

int bp_best_isa(void)
{
    if (bp_isa_available(BP_ISA_AVX512)) return BP_ISA_AVX512;
    return bp_isa_available(BP_ISA_AVX2) ? BP_ISA_AVX2 : BP_ISA_BASELINE;
}

#if defined(BP_HAVE_AVX512)
#define BP_ROUTE(net, name, T, args)                                                  \
    return (net)->isa == BP_ISA_AVX512 ? name##_##T##_avx512 args                     \
         : (net)->isa == BP_ISA_AVX2   ? name##_##T##_avx2 args                       \
                                       : name##_##T##_baseline args
#elif defined(BP_HAVE_AVX2)
#define BP_ROUTE(net, name, T, args)                                                  \
    return (net)->isa == BP_ISA_AVX2 ? name##_##T##_avx2 args : name##_##T##_baseline args
#else
#define BP_ROUTE(net, name, T, args) return name##_##T##_baseline args
#endif

#define BP_DEFINE_TYPED(REAL, T)                                                            \
    bp_status bp_loss_grad_##T(bp_net *net, const REAL *params, const bp_matrix *X,         \
                               const REAL *Y, const REAL *sw, const int64_t *rows,          \
                               int64_t row0, int64_t n_rows, double alpha, REAL *grad,      \
                               double *loss)                                                \
    {                                                                                       \
        if (net == NULL) return BP_ERR_INVALID;                                             \
        BP_ROUTE(net, bp_loss_grad, T,                                                      \
                 (net, params, X, Y, sw, rows, row0, n_rows, alpha, grad, loss));           \
    }                                                                                       \
    bp_status bp_grad_accumulate_##T(bp_net *net, const REAL *params, const bp_matrix *X,   \
                                     const REAL *Y, const REAL *sw, const int64_t *rows,    \
                                     int64_t row0, int64_t n_rows, int first, REAL *grad,   \
                                     double *sums)                                          \
    {                                                                                       \
        if (net == NULL) return BP_ERR_INVALID;                                             \
        BP_ROUTE(net, bp_grad_accumulate, T,                                                \
                 (net, params, X, Y, sw, rows, row0, n_rows, first, grad, sums));           \
    }                                                                                       \
    bp_status bp_grad_finish_##T(bp_net *net, const REAL *params, double alpha, REAL *grad, \
                                 const double *sums, double *loss)                          \
    {                                                                                       \
        if (net == NULL) return BP_ERR_INVALID;                                             \
        BP_ROUTE(net, bp_grad_finish, T, (net, params, alpha, grad, sums, loss));           \
    }                                                                                       \
    bp_status bp_train_batches_##T(bp_net *net, REAL *params, bp_optim *opt,                \
                                   REAL *opt_state, const bp_matrix *X, const REAL *Y,      \
                                   const REAL *sw, const int64_t *order, int64_t n,         \
                                   int64_t batch_size, int64_t batch_begin,                 \
                                   int64_t batch_end, double *accumulated_loss)             \
    {                                                                                       \
        if (net == NULL) return BP_ERR_INVALID;                                             \
        BP_ROUTE(net, bp_train_batches, T,                                                  \
                 (net, params, opt, opt_state, X, Y, sw, order, n, batch_size, batch_begin, \
                  batch_end, accumulated_loss));                                            \
    }                                                                                       \
    bp_status bp_predict_##T(bp_net *net, const REAL *params, const bp_matrix *X, REAL *out) \
    {                                                                                       \
        if (net == NULL) return BP_ERR_INVALID;                                             \
        BP_ROUTE(net, bp_predict, T, (net, params, X, out));                                \
    }

BP_DEFINE_TYPED(float, f32)
BP_DEFINE_TYPED(double, f64)
