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
#define BP_ALWAYS_INLINE __forceinline
#elif defined(__GNUC__) || defined(__clang__)
#define BP_RESTRICT restrict
#define BP_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define BP_RESTRICT restrict
#define BP_ALWAYS_INLINE inline
#endif

/* GEMM blocking. MR x NR is the register tile: MR rows of A times NV vectors of
 * B, sized so the MR*NV accumulators, NV B vectors and one broadcast of A fit
 * the vector registers of the instruction set this file is compiled for. KC is
 * the depth of a packed panel, NC the columns of a packed B panel. All fixed
 * constants (never thread-count dependent), so every sum has one order. */
#if defined(__AVX512F__)
/* 6 x 4 vectors (24 of the 32 registers accumulate): on Ice Lake a tile four
 * vectors wide keeps both FMA ports busy where 8 x 2 (one broadcast per two
 * FMAs) reached ~77% of the peak, in L1 and in the products of a fit alike. */
#define BP_VBYTES 64
#define BP_MR 6
#define BP_NV 4
#elif defined(__AVX__)
#define BP_VBYTES 32
#define BP_MR 6
#define BP_NV 2
#else
#define BP_VBYTES 16
#define BP_MR 4
#define BP_NV 2
#endif
#define BP_NR_F32 (BP_NV * BP_VBYTES / 4)
#define BP_NR_F64 (BP_NV * BP_VBYTES / 8)
#define BP_NR_MAX BP_NR_F32
#define BP_KC 512 /* every variant's; deep panels: C is read and written once per KC */
#define BP_MC 120   /* a multiple of every variant's MR */
#define BP_SMALL_M 4 /* products with at most this many rows skip packing */
#define BP_PACK_A_DEPTH 256 /* row-major A is packed when k and n both reach this */
#define BP_PACK_ROWS 16 /* rows of B per work item when packing row-major B */
#define BP_PACK_A_STRIPS 16 /* strips per work item when packing A read down its columns */
#define BP_PREFETCH_C_DEPTH 256 /* the micro-kernel prefetches C's tile from this depth */
#define BP_LINE_BYTES 64 /* a cache line, the unit of the prefetch hints */
#define BP_DIRECT_BYTES 65536 /* A or B panels spanning at most this are read in place */
#define BP_PREDICT_BYTES 262144.0 /* activations of one prediction block (L2) */
#define BP_PREDICT_ROWS 64 /* prediction blocks are a multiple of this (of every NR) */
/* Columns of a packed B panel. 512 (1 MB of float32 at KC = 512, within L2 on the
 * machines measured) measured 6-10% faster than 2048 (4 MB, L3) on 2048-wide
 * products, in float64 (2 MB) too; 256-1024 were within the noise of 512. */
#define BP_NC 512
#if BP_NC > BP_KC /* the B packing buffer's size relies on it (bp_pack_b_cols) */
#error "BP_NC must not exceed BP_KC"
#endif
/* Bounds over every variant's tile, for sizing the packing buffers. */
#define BP_MR_ALLOC 6
#define BP_NR_ALLOC 64

/* The micro-kernel's vectors. GCC and Clang vector extensions give register-resident
 * accumulators in plain, strict-IEEE C (NEON on arm64 included). MSVC on x86-64 gets
 * the same arithmetic from SSE2/AVX2/AVX-512 intrinsics: multiply then add on the
 * baseline, fused multiply-add where the variant has FMA, as the vector-extension
 * code compiles to, so both give bitwise the same tiles. Any other compiler uses the
 * scalar loops. BP_FORCE_INTRINSICS (CMake option BPFAST_FORCE_INTRINSICS) selects
 * the intrinsics with GCC/Clang too, so that path is tested where MSVC is absent. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(BP_FORCE_INTRINSICS)
#define BP_VECTORS 1
#define BP_VECTOR_EXT 1
/* lane shuffles (GCC 12+, Clang): packing B read down its columns transposes
 * whole blocks of vectors in registers (bp_gemm_impl.h, transpose_block) */
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define BP_SHUFFLES 1
#endif
#endif
#elif defined(__x86_64__) || defined(_M_X64)
#define BP_VECTORS 1
#include <immintrin.h>
#if defined(__AVX512F__)
typedef __m512 bp_vf32;
typedef __m512d bp_vf64;
#define BP_VLOAD_F32 _mm512_loadu_ps
#define BP_VLOAD_F64 _mm512_loadu_pd
#define BP_VSTORE_F32 _mm512_storeu_ps
#define BP_VSTORE_F64 _mm512_storeu_pd
#define BP_VSET1_F32 _mm512_set1_ps
#define BP_VSET1_F64 _mm512_set1_pd
#define BP_VZERO_F32 _mm512_setzero_ps
#define BP_VZERO_F64 _mm512_setzero_pd
#define BP_VADD_F32 _mm512_add_ps
#define BP_VADD_F64 _mm512_add_pd
#define BP_VMADD_F32(c, a, b) _mm512_fmadd_ps(a, b, c)
#define BP_VMADD_F64(c, a, b) _mm512_fmadd_pd(a, b, c)
/* max(x, 0) with NaN kept: keep the lanes not <= 0 (> 0 or unordered) */
#define BP_VRELU_F32(x) \
    _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NLE_UQ), x)
#define BP_VRELU_F64(x) \
    _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_NLE_UQ), x)
#elif defined(__AVX2__)
typedef __m256 bp_vf32;
typedef __m256d bp_vf64;
#define BP_VLOAD_F32 _mm256_loadu_ps
#define BP_VLOAD_F64 _mm256_loadu_pd
#define BP_VSTORE_F32 _mm256_storeu_ps
#define BP_VSTORE_F64 _mm256_storeu_pd
#define BP_VSET1_F32 _mm256_set1_ps
#define BP_VSET1_F64 _mm256_set1_pd
#define BP_VZERO_F32 _mm256_setzero_ps
#define BP_VZERO_F64 _mm256_setzero_pd
#define BP_VADD_F32 _mm256_add_ps
#define BP_VADD_F64 _mm256_add_pd
#define BP_VMADD_F32(c, a, b) _mm256_fmadd_ps(a, b, c)
#define BP_VMADD_F64(c, a, b) _mm256_fmadd_pd(a, b, c)
#define BP_VRELU_F32(x) _mm256_and_ps(x, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_NLE_UQ))
#define BP_VRELU_F64(x) _mm256_and_pd(x, _mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_NLE_UQ))
#else
typedef __m128 bp_vf32;
typedef __m128d bp_vf64;
#define BP_VLOAD_F32 _mm_loadu_ps
#define BP_VLOAD_F64 _mm_loadu_pd
#define BP_VSTORE_F32 _mm_storeu_ps
#define BP_VSTORE_F64 _mm_storeu_pd
#define BP_VSET1_F32 _mm_set1_ps
#define BP_VSET1_F64 _mm_set1_pd
#define BP_VZERO_F32 _mm_setzero_ps
#define BP_VZERO_F64 _mm_setzero_pd
#define BP_VADD_F32 _mm_add_ps
#define BP_VADD_F64 _mm_add_pd
#define BP_VMADD_F32(c, a, b) _mm_add_ps(c, _mm_mul_ps(a, b))
#define BP_VMADD_F64(c, a, b) _mm_add_pd(c, _mm_mul_pd(a, b))
#define BP_VRELU_F32(x) _mm_and_ps(x, _mm_cmpnle_ps(x, _mm_setzero_ps()))
#define BP_VRELU_F64(x) _mm_and_pd(x, _mm_cmpnle_pd(x, _mm_setzero_pd()))
#endif
#endif

/* Narrow strips (at most BP_TALL_NV vectors) run 2 MR rows at a time in the same
 * registers where there are enough of them for it (0: never). */
#if defined(BP_VECTORS) && BP_NV == 4
#define BP_TALL_NV 2
#else
#define BP_TALL_NV 0
#endif
/* A strip of at most BP_SHORT_MR rows (and whole-width B) runs only that many rows of
 * the tile (0: always MR) */
#if defined(BP_VECTORS) && BP_MR == 6
#define BP_SHORT_MR 4
#else
#define BP_SHORT_MR 0
#endif

/* The micro-kernel's loop over depth, two depths per pass (fewer loop branches in the
 * short products of small layers); no effect on results. */
#if defined(__clang__)
#define BP_UNROLL_2 _Pragma("unroll 2")
#elif defined(__GNUC__)
#define BP_UNROLL_2 _Pragma("GCC unroll 2")
#else
#define BP_UNROLL_2
#endif

/* Keep a broadcast value in a register of its own, so that every strip width compiles to
 * the same load, broadcast, multiply-add sequence (on x86 the compiler otherwise folds a
 * broadcast used once, in a one-vector strip, into the multiply-add's memory operand);
 * no effect on results. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__SSE2__)
#define BP_IN_REGISTER(v) __asm__("" : "+v"(v))
#else
#define BP_IN_REGISTER(v) ((void)0)
#endif

/* Hints to fetch the cache line at p: for writing, and for reading soon (into L2);
 * no effect on results. */
#if defined(__GNUC__) || defined(__clang__)
#define BP_PREFETCH_W(p) __builtin_prefetch((p), 1)
#define BP_PREFETCH_L2(p) __builtin_prefetch((p), 0, 2)
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <xmmintrin.h>
#define BP_PREFETCH_W(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define BP_PREFETCH_L2(p) _mm_prefetch((const char *)(p), _MM_HINT_T1)
#else
#define BP_PREFETCH_W(p) ((void)(p))
#define BP_PREFETCH_L2(p) ((void)(p))
#endif

/* Below this many multiply-adds a product runs on one thread. */
#define BP_PAR_MIN_WORK 1000000

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
    int isa;                 /* bp_isa variant of the kernels */
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

#define BP_CAT3_(a, b, c) a##b##c
#define BP_CAT3(a, b, c) BP_CAT3_(a, b, c)

/* The per-variant entry points that bp_dispatch.c chooses between. */
#define BP_DECLARE_VARIANT(REAL, T, ISA)                                                  \
    bp_status bp_loss_grad_##T##ISA(bp_net *, const REAL *, const bp_matrix *, const REAL *, \
                                    const REAL *, const int64_t *, int64_t, int64_t, double, \
                                    REAL *, double *);                                      \
    bp_status bp_grad_accumulate_##T##ISA(bp_net *, const REAL *, const bp_matrix *,       \
                                          const REAL *, const REAL *, const int64_t *,     \
                                          int64_t, int64_t, int, REAL *, double *);        \
    bp_status bp_grad_finish_##T##ISA(bp_net *, const REAL *, double, REAL *, const double *, \
                                      double *);                                            \
    bp_status bp_train_batches_##T##ISA(bp_net *, REAL *, bp_optim *, REAL *,              \
                                        const bp_matrix *, const REAL *, const REAL *,     \
                                        const int64_t *, int64_t, int64_t, int64_t,        \
                                        int64_t, double *);                                \
    bp_status bp_predict_##T##ISA(bp_net *, const REAL *, const bp_matrix *, REAL *);

BP_DECLARE_VARIANT(float, f32, _baseline)
BP_DECLARE_VARIANT(double, f64, _baseline)
#ifdef BP_HAVE_AVX2
BP_DECLARE_VARIANT(float, f32, _avx2)
BP_DECLARE_VARIANT(double, f64, _avx2)
#endif
#ifdef BP_HAVE_AVX512
BP_DECLARE_VARIANT(float, f32, _avx512)
BP_DECLARE_VARIANT(double, f64, _avx512)
#endif

/* n rounded up to a multiple of 64: carved buffers stay cache-line aligned */
static inline int64_t bp_round64(int64_t n) { return (n + 63) & ~(int64_t)63; }

/* The packing buffers hold BP_KC-deep panels: B up to bp_pack_b_cols(widest layer)
 * columns, A up to bp_pack_a_rows(rows of a product) rows (room to round up to any
 * variant's tile). Prediction's transposed products pack a B of up to NC columns (a
 * block's rows) but at most as deep as the widest layer, which fits as NC <= KC. */
static inline int64_t bp_pack_b_cols(int64_t max_width)
{
    return (max_width < BP_NC ? max_width : BP_NC) + BP_NR_ALLOC;
}
static inline int64_t bp_pack_a_rows(int64_t rows) { return rows + BP_MR_ALLOC; }

static inline int bp_threads_for(const bp_net *net, double work)
{
    return (net->n_threads > 1 && work >= BP_PAR_MIN_WORK) ? net->n_threads : 1;
}

/* Threads for an m x n x k product: shared when it is large enough (bp_threads_for) and
 * does enough multiply-adds per value it reads or writes, or is large in any case. Sharing
 * moves the product's operands and result between the cores' caches (the other thread's
 * rows of C are read by the next step, which runs on one thread or splits differently),
 * and across a virtual machine's cores that can cost more than the halved arithmetic
 * saves: the digits products (200 x 64 x 100, 32 per value) ran 0.63x as fast on two
 * threads as on one while the host kept the two vCPUs far apart, the 60000 x 784 fit's
 * (51 and 77 per value) as fast or faster. A product of BP_PAR_ALWAYS_WORK multiply-adds
 * or more is shared whatever its shape: a thin one (the GEMM-bound fit's 10-wide output
 * layer, 2048 x 2048 x 10, 9.9 per value) streams megabytes, which one thread does while
 * the other waits (that fit 1.02x on two threads, three alternating runs 0.99-1.04x). */
#define BP_PAR_MIN_INTENSITY 48.0
#define BP_PAR_ALWAYS_WORK 16777216.0
static inline int bp_threads_for_product(const bp_net *net, double m, double n, double k)
{
    const double values = m * n + n * k + m * k, work = m * n * k;
    return values > 0 && (work >= BP_PAR_MIN_INTENSITY * values || work >= BP_PAR_ALWAYS_WORK)
               ? bp_threads_for(net, work)
               : 1;
}

/* Whether work-sharing loops for nt threads need a parallel region of their own: when
 * they are shared (nt > 1), or when the caller is inside a parallel region (prediction's
 * workers), where work-sharing would otherwise bind to the caller's team. Otherwise they
 * run on this thread with no region at all: libgomp's team of one costs about 0.4 us a
 * call, several times per mini-batch. */
static inline int bp_own_team(int nt)
{
#ifdef _OPENMP
    return nt > 1 || omp_in_parallel();
#else
    (void)nt;
    return 0;
#endif
}

/* Threads in the current team (1 outside any parallel region) */
static inline int bp_team_size(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* Items per work item when n items are shared by the current team: an equal share for
 * each thread (none idle while another packs two), at most cap (a cache-sized piece). */
static inline ptrdiff_t bp_share(ptrdiff_t n, ptrdiff_t cap)
{
    const ptrdiff_t nt = bp_team_size();
    const ptrdiff_t per = (n + nt - 1) / nt;
    return per < 1 ? 1 : per < cap ? per : cap;
}

#endif /* BP_INTERNAL_H */
