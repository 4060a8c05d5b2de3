/*
 * bp_gemm_impl.h -- the matrix product of the core, instantiated per element type
 * by bp_real.c (REAL, SFX(name), BP_NR defined there).
 *
 *   C (m x n, row stride ldc) = [C +] A B,   A(i,p) = a[i*ars + p*acs],
 *                                            B(p,j) = b[p*brs + j*bcs]
 *
 * Strides let the three products of backpropagation (A W, D W^T, A^T D) share one
 * routine without materialising a transpose. The BLIS structure: B is packed into
 * NR-wide strips (a narrow last one only as wide as its vectors when the rest of B is
 * read in place) and A into MR-tall strips (zero padded at the edges), and an
 * MR x NR register tile accumulates outer products over a KC-deep panel. Threads
 * split the tiles of C, so each element of C is summed by one thread in one fixed
 * order: results do not depend on the thread count or on a row's position.
 *
 * Cache blocking: A's KC-deep panel is packed once (L3) for every KC x NC panel of
 * B (NC = 512 columns: 1 MB of float32, 2 MB of float64, from L2 while every
 * MC-row block of A passes over it). An MC-row block of A is consumed against one NR
 * strip of B at a time (a strip of KC = 512 is 16 KB on the baseline, 32 KB on AVX2
 * and 128 KB on AVX-512, streamed in order from L2, which the prefetchers keep up
 * with; shallower AVX-512 panels that fit L1 measured slower, as C is then read and
 * written once per KC). Row-major A is read in place while its rows are short;
 * otherwise A is packed first.
 * The epilogue (bias, activation, activation derivative) is applied to each tile
 * while it is hot, after its last KC panel, instead of in extra passes over C.
 */

/* What to do with a finished tile of C: c = f(c + bias), then c *= f'(a); two hints for
 * the product that computes it (ahead, b_in_place); and a check of B on the way */
typedef struct {
    const REAL *bias;   /* (n) added to every row, or NULL */
    int bias_by_row;    /* the bias is (m) instead, one value per row: a product computed
                         * transposed (prediction's forward_transposed) */
    int act;            /* bp_activation applied elementwise, or -1 */
    const REAL *da;     /* activations whose derivative multiplies C, or NULL */
    ptrdiff_t ld_da;    /* row stride of da */
    int da_act;         /* bp_activation of da */
    const char *ahead;  /* [ahead, ahead_end): memory the caller reads next, or NULL: */
    const char *ahead_end; /* fetched into L2 while the product runs (gemm_blocks) */
    int b_in_place;     /* read a row-major B in place whatever its size (see gemm) */
    int *b_nonfinite;   /* set to 1 when B holds NaN or infinity (or NULL: not checked):
                         * prediction's check of its input, made while packing it */
} SFX(epilogue);

/* Whether x is NaN or infinite: its exponent bits all ones. Tested on the bits, so that
 * no floating-point flag a build may add (finite-math, fast-math) can fold it away. */
#define BP_EXPO_BITS                                                                    \
    ((((BP_UREAL)1 << (sizeof(REAL) == 4 ? 8 : 11)) - 1) << (sizeof(REAL) == 4 ? 23 : 52))
static inline int SFX(not_finite)(REAL x)
{
    BP_UREAL u;
    memcpy(&u, &x, sizeof u);
    return (u & BP_EXPO_BITS) == BP_EXPO_BITS;
}

/* 1 when every one of x[0..n) is finite (a branch-free loop the compiler vectorises) */
static int SFX(all_finite)(const REAL *x, ptrdiff_t n)
{
    int bad = 0;
    ptrdiff_t i;
    for (i = 0; i < n; ++i) bad |= SFX(not_finite)(x[i]);
    return !bad;
}

/* records a NaN or infinity that one of the threads packing B found */
static void SFX(report_nonfinite)(int *flag)
{
#ifdef _OPENMP
#pragma omp atomic /* OpenMP 2.0's form (MSVC has no atomic write) */
#endif
    *flag |= 1;
}

/* Whether a KC-deep panel of a matrix whose rows (along the depth) are ld values apart
 * spans at most BP_DIRECT_BYTES: small enough to read in place instead of packing */
static int SFX(panel_in_place)(ptrdiff_t depth, ptrdiff_t ld)
{
    const double kc = depth < BP_KC ? (double)depth : BP_KC;
    return kc * (double)ld * sizeof(REAL) <= BP_DIRECT_BYTES;
}

/* pack strip s of A (rows [s*MR, s*MR+MR) x depth [0, kc)) as pa_s[p][i], zero padded,
 * for an A read along its rows (A read down its columns: pack_runs). Full strips use
 * fixed-length loops. */
static void SFX(pack_a_strip)(ptrdiff_t s, ptrdiff_t m, ptrdiff_t kc, const REAL *a,
                              ptrdiff_t ars, ptrdiff_t acs, REAL *BP_RESTRICT pa)
{
    ptrdiff_t i0 = s * BP_MR, mr = m - i0 < BP_MR ? m - i0 : BP_MR, p, i;
    REAL *dst = pa + s * BP_MR * kc;
    const REAL *src = a + i0 * ars;
    if (mr == BP_MR) {
        for (p = 0; p < kc; ++p)
            for (i = 0; i < BP_MR; ++i) dst[p * BP_MR + i] = src[i * ars + p * acs];
    } else {
        for (p = 0; p < kc; ++p)
            for (i = 0; i < BP_MR; ++i)
                dst[p * BP_MR + i] = i < mr ? src[i * ars + p * acs] : (REAL)0;
    }
}

/* Columns of a packed partial strip: a row-major B read in place packs only its last,
 * partial strip, and that only as wide as the vectors the micro-kernel reads (all NR
 * columns with the scalar kernel) */
static ptrdiff_t SFX(edge_width)(ptrdiff_t nr)
{
#ifdef BP_VECTORS
    enum { LANES = BP_VBYTES / (int)sizeof(REAL) };
    return (nr + LANES - 1) / LANES * LANES;
#else
    (void)nr;
    return BP_NR;
#endif
}

/* that strip (nr < NR columns of a row-major B, depth kc) into pb, rows w apart */
static void SFX(pack_b_edge)(ptrdiff_t kc, ptrdiff_t nr, const REAL *b, ptrdiff_t brs,
                             REAL *BP_RESTRICT pb)
{
    const ptrdiff_t w = SFX(edge_width)(nr);
    ptrdiff_t p, j;
    for (p = 0; p < kc; ++p) /* one masked vector loop, not a memcpy of odd length */
        for (j = 0; j < w; ++j) pb[p * w + j] = j < nr ? b[p * brs + j] : (REAL)0;
}

/* Strips [s0, s1), each w values wide, of the rows [p0, p1) of a row-major panel (row p
 * at src + p * ld, n values): strip s goes to dst + s * w * kc as [p][j], zero padded past
 * n. Each row is read once, front to back, and each strip receives whole w-wide runs of
 * it. (Walking one strip down all kc rows instead reads a few bytes of each row, a page
 * apart when rows are long, once per strip.) This packs a row-major B (w = NR: rows split
 * among threads) and an A read down its columns, whose depth p is a row of the panel
 * (w = MR: strips split among threads). w is a constant at each call, so the copy of a
 * whole run compiles to straight vector moves. */
static inline void SFX(pack_runs)(ptrdiff_t p0, ptrdiff_t p1, ptrdiff_t s0, ptrdiff_t s1,
                                  ptrdiff_t kc, ptrdiff_t n, const REAL *src, ptrdiff_t ld,
                                  ptrdiff_t w, REAL *BP_RESTRICT dst)
{
    ptrdiff_t p, s, j;
    for (p = p0; p < p1; ++p) {
        const REAL *row = src + p * ld;
        for (s = s0; s < s1; ++s) {
            const ptrdiff_t j0 = s * w;
            REAL *d = dst + s * w * kc + p * w;
            if (n - j0 >= w) {
                memcpy(d, row + j0, sizeof(REAL) * (size_t)w);
            } else {
                for (j = 0; j < w; ++j) d[j] = j0 + j < n ? row[j0 + j] : (REAL)0;
            }
        }
    }
}

#ifdef BP_VECTORS
/* The micro-kernel's vector operations, from GCC/Clang vector extensions or from
 * intrinsics (bp_internal.h); both do the same IEEE operations in the same order. */
#ifdef BP_VECTOR_EXT
typedef REAL SFX(vec) __attribute__((vector_size(BP_VBYTES)));
typedef BP_IREAL SFX(ivec) __attribute__((vector_size(BP_VBYTES)));
static inline SFX(vec) SFX(vzero)(void) { return (SFX(vec)){0}; }
static inline SFX(vec) SFX(vload)(const REAL *p)
{
    SFX(vec) v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void SFX(vstore)(REAL *p, SFX(vec) v) { memcpy(p, &v, sizeof v); }
static inline SFX(vec) SFX(vadd)(SFX(vec) x, SFX(vec) y) { return x + y; }
/* a in every lane (a - 0 is a, -0 and NaN included) */
static inline SFX(vec) SFX(vsplat)(REAL a) { return a - (SFX(vec)){0}; }
/* c + a b (one FMA where the variant's flags allow contraction) */
static inline SFX(vec) SFX(vmadd)(SFX(vec) c, SFX(vec) a, SFX(vec) b) { return c + a * b; }
/* max(z, 0) with NaN kept: clear the lanes that are <= 0 (false for NaN) */
static inline SFX(vec) SFX(vrelu)(SFX(vec) z)
{
    const SFX(vec) zero = {0};
    return (SFX(vec))((SFX(ivec))z & ~(SFX(ivec))(z <= zero));
}
#if BP_TALL_NV > 0 && BP_VBYTES == 64
/* half-width vectors, for strips at most half a vector wide (see micro_kernel) */
#define BP_HALF_VECTORS 1
typedef REAL SFX(hvec) __attribute__((vector_size(BP_VBYTES / 2)));
static inline SFX(hvec) SFX(hload)(const REAL *p)
{
    SFX(hvec) v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline SFX(hvec) SFX(hsplat)(REAL a) { return a - (SFX(hvec)){0}; }
static inline SFX(hvec) SFX(hmadd)(SFX(hvec) c, SFX(hvec) a, SFX(hvec) b) { return c + a * b; }
#endif
#else
typedef bp_vec SFX(vec);
static inline SFX(vec) SFX(vzero)(void) { return BP_V(ZERO)(); }
static inline SFX(vec) SFX(vload)(const REAL *p) { return BP_V(LOAD)(p); }
static inline void SFX(vstore)(REAL *p, SFX(vec) v) { BP_V(STORE)(p, v); }
static inline SFX(vec) SFX(vadd)(SFX(vec) x, SFX(vec) y) { return BP_V(ADD)(x, y); }
static inline SFX(vec) SFX(vsplat)(REAL a) { return BP_V(SET1)(a); }
static inline SFX(vec) SFX(vmadd)(SFX(vec) c, SFX(vec) a, SFX(vec) b)
{
    return BP_V(MADD)(c, a, b);
}
static inline SFX(vec) SFX(vrelu)(SFX(vec) z) { return BP_V(RELU)(z); }
#endif
#endif

#if defined(BP_VECTOR_EXT) && defined(BP_SHUFFLES)
/* A square block of LANES x LANES values transposed in registers: log2(LANES) rounds,
 * round s interleaving rows i and i + s in runs of s lanes. BP_LANE_LIST(M, s, h) is
 * M(k, s, h) for every lane k; BP_ILV(x, y, s, h) takes, in each run of 2 s lanes, the
 * low (h = 0) or high (h = 1) s lanes of x and then those of y. */
#define BP_TLANES (BP_NR / BP_NV) /* the lanes of a vector, in a form #if can test */
#define BP_ILV_LANE(k, s, h)                                                            \
    ((k) / (2 * (s)) * 2 * (s) + (k) % (s) + (h) * (s) + ((k) % (2 * (s)) < (s) ? 0 : BP_TLANES))
#define BP_ILV(x, y, s, h) __builtin_shufflevector(x, y, BP_LANE_LIST(BP_ILV_LANE, s, h))
#define BP_LANES_2(M, s, h) M(0, s, h), M(1, s, h)
#define BP_LANES_4(M, s, h) BP_LANES_2(M, s, h), M(2, s, h), M(3, s, h)
#define BP_LANES_8(M, s, h) BP_LANES_4(M, s, h), M(4, s, h), M(5, s, h), M(6, s, h), M(7, s, h)
#define BP_LANES_16(M, s, h)                                                            \
    BP_LANES_8(M, s, h), M(8, s, h), M(9, s, h), M(10, s, h), M(11, s, h), M(12, s, h),    \
        M(13, s, h), M(14, s, h), M(15, s, h)
#undef BP_LANE_LIST /* per element type */
#if BP_TLANES == 2
#define BP_LANE_LIST BP_LANES_2
#elif BP_TLANES == 4
#define BP_LANE_LIST BP_LANES_4
#elif BP_TLANES == 8
#define BP_LANE_LIST BP_LANES_8
#else
#define BP_LANE_LIST BP_LANES_16
#endif
#define BP_TRANSPOSE_ROUND(s)                                                           \
    for (i = 0; i < BP_TLANES; ++i)                                                     \
        if (i / (s) % 2 == 0) {                                                         \
            t[i] = BP_ILV(r[i], r[i + (s)], s, 0);                                      \
            t[i + (s)] = BP_ILV(r[i], r[i + (s)], s, 1);                                \
        }                                                                               \
    for (i = 0; i < BP_TLANES; ++i) r[i] = t[i];
/* dst[i][k] = src[k][i] for i, k < LANES (rows ld and ldd apart); with bad, the lanes
 * of *bad are set where a value is NaN or infinite (not_finite, a vector at a time) */
static inline void SFX(transpose_block)(const REAL *src, ptrdiff_t ld, REAL *dst, ptrdiff_t ldd,
                                        SFX(ivec) *bad)
{
    SFX(vec) r[BP_TLANES], t[BP_TLANES];
    int i;
    for (i = 0; i < BP_TLANES; ++i) r[i] = SFX(vload)(src + i * ld);
    if (bad != NULL) {
        const SFX(ivec) expo = (SFX(ivec)){0} + (BP_IREAL)BP_EXPO_BITS;
        for (i = 0; i < BP_TLANES; ++i) *bad |= ((SFX(ivec))r[i] & expo) == expo;
    }
    BP_TRANSPOSE_ROUND(1)
#if BP_TLANES > 2
    BP_TRANSPOSE_ROUND(2)
#endif
#if BP_TLANES > 4
    BP_TRANSPOSE_ROUND(4)
#endif
#if BP_TLANES > 8
    BP_TRANSPOSE_ROUND(8)
#endif
    for (i = 0; i < BP_TLANES; ++i) SFX(vstore)(dst + i * ldd, r[i]);
}
#endif

/* pack strip s of B (depth [0, kc) x columns [s*NR, s*NR+NR)) as pb_s[p][j], zero padded;
 * for B read down its columns (bcs != 1), where each strip's columns are contiguous.
 * With lane shuffles, the whole square blocks of a B whose columns are contiguous
 * (brs == 1: a transposed weight matrix, a block of prediction's input) are transposed
 * in registers (about twice the speed of the element copy), the rest copied. With
 * nonfinite, the strip's values are checked as they are read, *nonfinite set to 1 when
 * one is NaN or infinite (a second pass over a prediction block's input cost about 2%
 * of the digits model's prediction). */
static void SFX(pack_b_strip)(ptrdiff_t s, ptrdiff_t kc, ptrdiff_t nc, const REAL *b,
                              ptrdiff_t brs, ptrdiff_t bcs, REAL *BP_RESTRICT pb,
                              int *nonfinite)
{
    ptrdiff_t j0 = s * BP_NR, nr = nc - j0 < BP_NR ? nc - j0 : BP_NR, p, j;
    ptrdiff_t pv = 0, jv = 0; /* depth and columns done by whole blocks */
    REAL *dst = pb + s * BP_NR * kc;
    const REAL *src = b + j0 * bcs;
    int bad = 0;
#if defined(BP_VECTOR_EXT) && defined(BP_SHUFFLES)
    if (brs == 1) {
        SFX(ivec) bad_lanes = {0};
        pv = kc / BP_TLANES * BP_TLANES;
        jv = nr / BP_TLANES * BP_TLANES;
        for (j = 0; j < jv; j += BP_TLANES)
            for (p = 0; p < pv; p += BP_TLANES)
                SFX(transpose_block)(src + j * bcs + p, bcs, dst + p * BP_NR + j, BP_NR,
                                     nonfinite != NULL ? &bad_lanes : NULL);
        for (j = 0; j < BP_TLANES; ++j) bad |= bad_lanes[j] != 0;
    }
#endif
    for (p = 0; p < kc; ++p)
        for (j = p < pv ? jv : 0; j < BP_NR; ++j)
            dst[p * BP_NR + j] = j < nr ? src[p * brs + j * bcs] : (REAL)0;
    if (nonfinite == NULL) return;
    for (p = 0; p < kc; ++p) /* the values the element copy read */
        for (j = p < pv ? jv : 0; j < nr; ++j) bad |= SFX(not_finite)(src[p * brs + j * bcs]);
    if (bad) SFX(report_nonfinite)(nonfinite);
}

#ifdef BP_VECTORS
/* acc[i][v] += A(i, p) B(p, v-th vector of the strip) over p < kc, for the first NV
 * vectors of the strip (a constant at each use, so the loops unroll into registers) */
#define BP_KERNEL_LOOP(NV) BP_KERNEL_ROWS(acc, BP_MR, NV)
/* the same for ROWS rows into the accumulators ACC[ROWS][NV] */
#define BP_KERNEL_ROWS(ACC, ROWS, NV)                                                   \
    BP_KERNEL_ROWS_OF(SFX(vec), SFX(vload), SFX(vsplat), SFX(vmadd), ACC, ROWS, NV)
/* the same in vectors of type VEC with its load, broadcast and multiply-add */
#define BP_KERNEL_ROWS_OF(VEC, LOAD, SPLAT, MADD, ACC, ROWS, NV)                        \
    BP_UNROLL_2                                                                         \
    for (p = 0; p < kc; ++p) {                                                          \
        const REAL *ap = a + p * acs;                                                   \
        VEC bv[NV];                                                                     \
        for (v = 0; v < (NV); ++v) bv[v] = LOAD(pb + p * ldb + v * LANES);              \
        for (i = 0; i < (ROWS); ++i) {                                                  \
            VEC ai = SPLAT(ap[off[i]]);                                                 \
            BP_IN_REGISTER(ai);                                                         \
            for (v = 0; v < (NV); ++v) ACC[i][v] = MADD(ACC[i][v], ai, bv[v]);          \
        }                                                                               \
    }
/* store the whole vector T of a finished tile at CV: [C +] T [+ the bias's vector V],
 * [ReLU] */
#define BP_STORE_VECTOR(CV, T, V)                                                       \
    do {                                                                                \
        if (accumulate) T = SFX(vadd)(SFX(vload)(CV), T);                               \
        if (bias != NULL) T = SFX(vadd)(T, bias_v[V]);                                  \
        if (relu) T = SFX(vrelu)(T);                                                    \
        SFX(vstore)(CV, T);                                                             \
    } while (0)
/* a bias by rows (bias_by_row): row i's value in every lane of bias_v */
#define BP_ROW_BIAS(i)                                                                  \
    do {                                                                                \
        if (bias != NULL && bias_by_row)                                                \
            for (v = 0; v < NV; ++v) bias_v[v] = SFX(vsplat)(bias[i]);                  \
    } while (0)
/* write back rows i < mr of ACC[][]: whole vectors straight from the registers (the
 * bias's whole vectors in bias_v), a partial last vector through a small buffer */
#define BP_WRITE_BACK(ACC)                                                              \
    for (i = 0; i < mr; ++i) {                                                          \
        REAL *ci = c + i * ldc;                                                         \
        BP_ROW_BIAS(i);                                                                 \
        for (v = 0; v < nv; ++v) {                                                      \
            const ptrdiff_t j0 = v * LANES;                                             \
            SFX(vec) t = ACC[i][v];                                                     \
            if (j0 + LANES <= nr) {                                                     \
                BP_STORE_VECTOR(ci + j0, t, v);                                         \
            } else {                                                                    \
                REAL part[LANES];                                                       \
                SFX(vstore)(part, t);                                                   \
                SFX(write_run)(ci, part, j0, nr, accumulate, BP_RUN_BIAS_ARGS(i), relu); \
            }                                                                           \
        }                                                                               \
    }
#endif

/* columns [j0, j1) of a finished tile's row ci, from part[0, j1 - j0), written back
 * without vectors: [ci +] part [+ bias], [ReLU]; column j's bias is bias[j * bias_step]
 * (bias_step 0: the row's one value) */
static inline void SFX(write_run)(REAL *ci, const REAL *part, ptrdiff_t j0, ptrdiff_t j1,
                                  int accumulate, const REAL *bias, ptrdiff_t bias_step,
                                  int relu)
{
    ptrdiff_t j;
    for (j = j0; j < j1; ++j) {
        REAL x = accumulate ? ci[j] + part[j - j0] : part[j - j0];
        if (bias != NULL) x += bias[j * bias_step];
        ci[j] = relu ? SFX(relu)(x) : x;
    }
}
/* write_run()'s two bias arguments for row i of a tile (bias_by_row: the row's value) */
#define BP_RUN_BIAS_ARGS(i) bias != NULL && bias_by_row ? bias + (i) : bias, bias_by_row ? 0 : 1

/* One MR x NR tile of C from A (element (i,p) at a[i*ars + p*acs]: a packed strip
 * has ars = 1, acs = MR; A read in place has its own strides) and a strip of B, NR
 * columns wide with row stride ldb (NR when packed, edge_width(nr) for the packed last
 * strip of a B otherwise read in place, B's row stride when read in place). Rows of A
 * past mr repeat row 0 (read, never written); a strip narrower than NR (zero padded
 * when packed) runs only the vectors that hold its columns.
 * C = relu?([C +] A B [+ bias]): the bias (the tile's nr entries, or with bias_by_row its
 * mr entries, one per row; or NULL) is added to each row and then ReLU applied (when
 * relu is set), in the epilogue's order, while the tile is still in registers.
 * A strip of at most BP_TALL_NV vectors may come with up to 2 MR rows (mr > MR): the
 * same registers then hold a tile twice as tall and half as wide, which gives the FMAs
 * of a narrow output layer twice the independent sums and halves the loads of B. Row
 * MR + i of A is then at a + a_step + i*ars (a_step: MR*ars in place, the distance to
 * the next packed strip when packed). Such a strip at most half a vector wide runs in
 * half-width vectors where the build has them (BP_HALF_VECTORS). Each element's sum is
 * the same either way. */
static BP_ALWAYS_INLINE void SFX(micro_kernel_body)(
    ptrdiff_t kc, const REAL *BP_RESTRICT a, ptrdiff_t ars, ptrdiff_t acs, ptrdiff_t a_step,
    const REAL *BP_RESTRICT pb, ptrdiff_t ldb, REAL *c, ptrdiff_t ldc, ptrdiff_t mr,
    ptrdiff_t nr, int accumulate, const REAL *bias, int bias_by_row, int relu)
{
    enum { LINE = BP_LINE_BYTES / (int)sizeof(REAL) };
    ptrdiff_t off[2 * BP_MR];
    ptrdiff_t p, i, j;
    for (i = 0; i < 2 * BP_MR; ++i)
        off[i] = i >= mr ? 0 : i < BP_MR ? i * ars : a_step + (i - BP_MR) * ars;
    /* C's rows are needed only after the loop; fetching them now hides the wait where
     * the loop is long enough to cover it (a short one is a small layer's product, whose
     * C is in cache already: there the prefetches only cost issue slots) */
    if (kc >= BP_PREFETCH_C_DEPTH)
        for (i = 0; i < mr; ++i) {
            for (j = 0; j < nr; j += LINE) BP_PREFETCH_W(c + i * ldc + j);
            BP_PREFETCH_W(c + i * ldc + nr - 1);
        }
#ifdef BP_VECTORS
    {
        enum { LANES = BP_VBYTES / (int)sizeof(REAL), NV = BP_NR / LANES };
        SFX(vec) acc[BP_MR][NV];
        const ptrdiff_t nv = (nr + LANES - 1) / LANES; /* vectors that hold columns */
        ptrdiff_t v;
        SFX(vec) bias_v[NV]; /* the bias's whole vectors, loaded once for every row */
        for (v = 0; v < NV; ++v)
            bias_v[v] = bias != NULL && !bias_by_row && (v + 1) * LANES <= nr
                            ? SFX(vload)(bias + v * LANES)
                            : SFX(vzero)();
#ifdef BP_HALF_VECTORS
        if (mr > BP_MR && nr <= LANES / 2) {
            /* 2 MR rows of a strip at most half a vector wide (a remainder of four
             * float64 columns, a single output) in half-width vectors: with no 512-bit
             * operation in the loop an AVX-512 core issues the multiply-adds on more
             * ports (this loop ran at 1.5x the full-width one). The same arithmetic per
             * lane, so the same bits as the full-width path (the intrinsics build's). */
            SFX(hvec) half[2 * BP_MR][1];
            REAL part[LANES / 2];
            for (i = 0; i < 2 * BP_MR; ++i) half[i][0] = SFX(hsplat)(0);
            BP_KERNEL_ROWS_OF(SFX(hvec), SFX(hload), SFX(hsplat), SFX(hmadd), half, 2 * BP_MR, 1)
            for (i = 0; i < mr; ++i) {
                memcpy(part, &half[i][0], sizeof part);
                SFX(write_run)(c + i * ldc, part, 0, nr, accumulate, BP_RUN_BIAS_ARGS(i), relu);
            }
            return;
        }
#endif
#if BP_TALL_NV > 0
        if (mr > BP_MR) { /* 2 MR rows of a strip at most BP_TALL_NV vectors wide */
            enum { TV = BP_TALL_NV };
            SFX(vec) tall[2 * BP_MR][TV];
            for (i = 0; i < 2 * BP_MR; ++i)
                for (v = 0; v < TV; ++v) tall[i][v] = SFX(vzero)();
            if (nv == 1) {
                BP_KERNEL_ROWS(tall, 2 * BP_MR, 1)
            } else {
                BP_KERNEL_ROWS(tall, 2 * BP_MR, TV)
            }
            BP_WRITE_BACK(tall)
            return;
        }
#endif
        for (i = 0; i < BP_MR; ++i)
            for (v = 0; v < NV; ++v) acc[i][v] = SFX(vzero)();
#if BP_SHORT_MR > 0
        if (mr <= BP_SHORT_MR && nv == NV) {
            /* the last strip of a width that is no multiple of MR (100 = 16 x 6 + 4, a
             * batch of 200 = 33 x 6 + 2): only its rows, rounded up to even, instead of
             * MR rows of which the rest are discarded */
            if (mr <= BP_SHORT_MR / 2) {
                BP_KERNEL_ROWS(acc, BP_SHORT_MR / 2, NV)
            } else {
                BP_KERNEL_ROWS(acc, BP_SHORT_MR, NV)
            }
            BP_WRITE_BACK(acc)
            return;
        }
#endif
        switch (nv) { /* one unrolled loop per width: an output layer of 10 runs 1 vector */
        case 1:
            BP_KERNEL_LOOP(1)
            break;
#if BP_NV > 2
        case 2:
            BP_KERNEL_LOOP(2)
            break;
        case 3:
            BP_KERNEL_LOOP(3)
            break;
#endif
        default:
            BP_KERNEL_LOOP(NV)
            break;
        }
        if (mr == BP_MR && nr == BP_NR) { /* a whole tile: loops of constant length */
            for (i = 0; i < BP_MR; ++i) {
                BP_ROW_BIAS(i);
                for (v = 0; v < NV; ++v) {
                    SFX(vec) t = acc[i][v];
                    BP_STORE_VECTOR(c + i * ldc + v * LANES, t, v);
                }
            }
            return;
        }
        BP_WRITE_BACK(acc)
    }
#else
    {
        REAL ab[BP_MR][BP_NR];
        for (i = 0; i < BP_MR; ++i)
            for (j = 0; j < BP_NR; ++j) ab[i][j] = 0;
        for (p = 0; p < kc; ++p) {
            const REAL *ap = a + p * acs, *bp = pb + p * ldb;
            for (i = 0; i < BP_MR; ++i) {
                const REAL ai = ap[off[i]];
                for (j = 0; j < BP_NR; ++j) ab[i][j] += ai * bp[j];
            }
        }
        for (i = 0; i < mr; ++i)
            SFX(write_run)(c + i * ldc, ab[i], 0, nr, accumulate, BP_RUN_BIAS_ARGS(i), relu);
    }
#endif
}

/* micro_kernel_body compiled twice, for a bias by columns (every product) and by rows
 * (prediction's transposed ones): a choice between them per row of the write-back made
 * the small products of training about 10% slower (digits, float32). */
static void SFX(micro_kernel)(ptrdiff_t kc, const REAL *BP_RESTRICT a, ptrdiff_t ars,
                              ptrdiff_t acs, ptrdiff_t a_step, const REAL *BP_RESTRICT pb,
                              ptrdiff_t ldb, REAL *c, ptrdiff_t ldc, ptrdiff_t mr, ptrdiff_t nr,
                              int accumulate, const REAL *bias, int bias_by_row, int relu)
{
    if (bias_by_row)
        SFX(micro_kernel_body)(kc, a, ars, acs, a_step, pb, ldb, c, ldc, mr, nr, accumulate,
                               bias, 1, relu);
    else
        SFX(micro_kernel_body)(kc, a, ars, acs, a_step, pb, ldb, c, ldc, mr, nr, accumulate,
                               bias, 0, relu);
}

/* the epilogue on a finished tile; in_kernel: the micro-kernel has added the bias and
 * applied a ReLU activation already */
static void SFX(apply_epilogue)(const SFX(epilogue) *ep, REAL *c, ptrdiff_t ldc,
                                ptrdiff_t i0, ptrdiff_t j0, ptrdiff_t mr, ptrdiff_t nr,
                                int in_kernel)
{
    ptrdiff_t i, j;
    if (!in_kernel && ep->bias != NULL)
        for (i = 0; i < mr; ++i)
            for (j = 0; j < nr; ++j)
                c[i * ldc + j] += ep->bias[ep->bias_by_row ? i0 + i : j0 + j];
    if (ep->act >= 0 && !(in_kernel && ep->act == BP_ACT_RELU))
        SFX(activate)(ep->act, c, mr, nr, ldc);
    if (ep->da != NULL)
        SFX(activation_derivative)(ep->da_act, ep->da + i0 * ep->ld_da + j0, ep->ld_da, c, mr, nr,
                                   ldc);
}

/* The same product for a handful of rows (prediction one row at a time, say, or a layer
 * of at most four units computed transposed): no packing and no parallel region. Every
 * element is summed in the order the micro-kernel sums it (per KC panel from zero, then
 * added to C), so a row gets bitwise the same result here as inside a large block. */
static void SFX(gemm_small)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const REAL *a,
                            ptrdiff_t ars, ptrdiff_t acs, const REAL *b, ptrdiff_t brs,
                            int accumulate, REAL *c, ptrdiff_t ldc, const SFX(epilogue) *ep)
{
    enum { CHUNK = 256 };
    REAL tmp[CHUNK];
    ptrdiff_t i, jc, pc, p, j;
    for (i = 0; i < m; ++i) {
        REAL *ci = c + i * ldc;
        for (jc = 0; jc < n; jc += CHUNK) {
            const ptrdiff_t nc = n - jc < CHUNK ? n - jc : CHUNK;
            for (pc = 0; pc < k; pc += BP_KC) {
                const ptrdiff_t kc = k - pc < BP_KC ? k - pc : BP_KC;
                for (j = 0; j < nc; ++j) tmp[j] = 0;
                for (p = pc; p < pc + kc; ++p) {
                    const REAL aip = a[i * ars + p * acs], *bp = b + p * brs + jc;
                    for (j = 0; j < nc; ++j) tmp[j] += aip * bp[j];
                }
                if (accumulate || pc > 0)
                    for (j = 0; j < nc; ++j) ci[jc + j] += tmp[j];
                else
                    for (j = 0; j < nc; ++j) ci[jc + j] = tmp[j];
            }
            if (ep != NULL) SFX(apply_epilogue)(ep, ci + jc, ldc, i, jc, 1, nc, 0);
        }
    }
}

/* The block loops of gemm() (see there), walked by every thread of the current team:
 * the work-sharing loops split packing and tiles, and their implied barriers keep a panel
 * packed before use and in use until every tile is done. Called outside any parallel
 * region, the work-sharing loops run whole on this thread. */
static void SFX(gemm_blocks)(const bp_net *net, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                             const REAL *a, ptrdiff_t ars, ptrdiff_t acs,
                             const REAL *b, ptrdiff_t brs, ptrdiff_t bcs,
                             int accumulate, REAL *c, ptrdiff_t ldc, const SFX(epilogue) *ep,
                             int direct_a, int direct_b)
{
    REAL *pa = (REAL *)net->pack_a, *pb = (REAL *)net->pack_b;
    const ptrdiff_t n_ir = (m + BP_MR - 1) / BP_MR;
    /* row blocks of at most MC rows, all of (nearly) the same size, so that threads
     * splitting the blocks get equal shares (128 rows: 64 + 64, not 120 + 8) */
    const ptrdiff_t n_ib = (n_ir + BP_MC / BP_MR - 1) / (BP_MC / BP_MR);
    const ptrdiff_t ir_per_block = (n_ir + n_ib - 1) / n_ib;
    ptrdiff_t pc, jc, s, item;
    /* The caller's next input (ep->ahead), fetched a share of lines after each tile so
     * that it streams in from memory under the arithmetic, where fetching it all at once
     * (or reading it cold) stalls. By a product on one thread only. */
    const char *ahead = ep != NULL && bp_team_size() == 1 ? ep->ahead : NULL;
    const char *const ahead_end = ahead != NULL ? ep->ahead_end : NULL;
    const ptrdiff_t tiles = n_ir * ((n + BP_NR - 1) / BP_NR); /* calls, give or take */
    const ptrdiff_t ahead_lines =
        ahead != NULL ? (ahead_end - ahead) / BP_LINE_BYTES / tiles + 1 : 0;
    for (pc = 0; pc < k; pc += BP_KC) {
        const ptrdiff_t kc = k - pc < BP_KC ? k - pc : BP_KC;
        const int acc = accumulate || pc > 0, last = pc + kc >= k;
        const REAL *bias = last && ep != NULL ? ep->bias : NULL;
        const int bias_by_row = ep != NULL && ep->bias_by_row;
        const int relu = last && ep != NULL && ep->act == BP_ACT_RELU;
        /* A read down its columns (the weight-gradient product) and deep, wide
         * row-major A are packed so each strip is contiguous (see direct_a); once
         * per KC panel, for every NC panel of B */
        if (!direct_a && ars == 1) { /* groups of strips (bp_share) */
            const ptrdiff_t group = bp_share(n_ir, BP_PACK_A_STRIPS);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (s = 0; s < n_ir; s += group)
                SFX(pack_runs)(0, kc, s, n_ir - s < group ? n_ir : s + group, kc, m,
                               a + pc * acs, acs, BP_MR, pa);
        } else if (!direct_a) {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (s = 0; s < n_ir; ++s)
                SFX(pack_a_strip)(s, m, kc, a + pc * acs, ars, acs, pa);
        }
        for (jc = 0; jc < n; jc += BP_NC) {
            const ptrdiff_t nc = n - jc < BP_NC ? n - jc : BP_NC;
            const ptrdiff_t n_jr = (nc + BP_NR - 1) / BP_NR;
            if (direct_b) {
                if (nc % BP_NR != 0) {
#ifdef _OPENMP
#pragma omp single
#endif
                    SFX(pack_b_edge)(kc, nc % BP_NR, b + pc * brs + jc + (n_jr - 1) * BP_NR,
                                     brs, pb + (n_jr - 1) * BP_NR * kc);
                }
            } else if (bcs == 1) {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                for (s = 0; s < kc; s += BP_PACK_ROWS)
                    SFX(pack_runs)(s, kc - s < BP_PACK_ROWS ? kc : s + BP_PACK_ROWS, 0, n_jr, kc,
                                   nc, b + pc * brs + jc, brs, BP_NR, pb);
            } else {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                for (s = 0; s < n_jr; ++s)
                    SFX(pack_b_strip)(s, kc, nc, b + pc * brs + jc * bcs, brs, bcs, pb,
                                      ep != NULL ? ep->b_nonfinite : NULL);
            }
            /* work item = one MC-row block of A against one NR strip of B */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (item = 0; item < n_ib * n_jr; ++item) {
                const ptrdiff_t ib = item / n_jr, jr = item % n_jr, j0 = jr * BP_NR;
                const ptrdiff_t nr = nc - j0 < BP_NR ? nc - j0 : BP_NR;
                const int in_place = direct_b && nr == BP_NR;
                const REAL *bs = in_place ? b + pc * brs + jc + j0 : pb + jr * BP_NR * kc;
                const ptrdiff_t ldb = in_place ? brs : direct_b ? SFX(edge_width)(nr) : BP_NR;
                ptrdiff_t ir = ib * ir_per_block, ir_end = ir + ir_per_block;
                if (ir_end > n_ir) ir_end = n_ir;
                /* a narrow strip takes two row strips per call (see micro_kernel) */
                const ptrdiff_t step =
                    nr <= BP_TALL_NV * (ptrdiff_t)(BP_VBYTES / sizeof(REAL)) ? 2 : 1;
                for (; ir < ir_end; ir += step) {
                    const ptrdiff_t i0 = ir * BP_MR;
                    const ptrdiff_t rows = ir + 1 < ir_end ? step * BP_MR : BP_MR;
                    const ptrdiff_t mr = m - i0 < rows ? m - i0 : rows;
                    REAL *ct = c + i0 * ldc + jc + j0;
                    const REAL *bias_t = bias == NULL  ? NULL
                                         : bias_by_row ? bias + i0
                                                       : bias + jc + j0;
                    if (direct_a)
                        SFX(micro_kernel)(kc, a + i0 * ars + pc * acs, ars, acs, BP_MR * ars,
                                          bs, ldb, ct, ldc, mr, nr, acc,
                                          bias_t, bias_by_row, relu);
                    else
                        SFX(micro_kernel)(kc, pa + ir * BP_MR * kc, 1, BP_MR, BP_MR * kc, bs,
                                          ldb, ct, ldc, mr, nr, acc,
                                          bias_t, bias_by_row, relu);
                    if (last && ep != NULL)
                        SFX(apply_epilogue)(ep, ct, ldc, i0, jc + j0, mr, nr, 1);
                    for (s = 0; s < ahead_lines && ahead < ahead_end; ++s) {
                        BP_PREFETCH_L2(ahead);
                        ahead += BP_LINE_BYTES;
                    }
                }
            }
        }
    }
}

/* C = [C +] A B, then the epilogue ep (or none when ep == NULL) */
static void SFX(gemm)(const bp_net *net, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                      const REAL *a, ptrdiff_t ars, ptrdiff_t acs,
                      const REAL *b, ptrdiff_t brs, ptrdiff_t bcs,
                      int accumulate, REAL *c, ptrdiff_t ldc, const SFX(epilogue) *ep)
{
    const int nt = bp_threads_for_product(net, (double)m, (double)n, (double)k);
    /* Row-major A is read in place while its rows are short: the micro-kernel's MR row
     * streams then share few cache sets. Long rows (deep products) are packed, which
     * pays for itself over the many strips of B that reuse each packed block. A read
     * down its columns (the weight gradient's) is read in place while a panel of it
     * spans few bytes (a mini-batch's panel is used too few times to repay packing), or
     * when B is a single strip (a narrow output layer's gradient): each packed value
     * would then be read once. */
    const int direct_a = (acs == 1 && (k < BP_PACK_A_DEPTH || n < BP_PACK_A_DEPTH)) ||
                         (ars == 1 && (SFX(panel_in_place)(k, acs) || n <= BP_NR));
    /* Likewise a row-major B panel spanning few bytes is read in place, its full
     * NR-wide strips straight from B's rows; only a partial last strip is packed. So is
     * one the caller asks for (prediction's transposed activations, whose rows are a
     * block's: a few KB apart, used by a layer's few strips of A, where packing cost a
     * quarter of a 64-wide layer's product). */
    const int direct_b =
        bcs == 1 && (SFX(panel_in_place)(k, brs) || (ep != NULL && ep->b_in_place));

    if (m <= 0 || n <= 0) return;
    if (ep != NULL && ep->b_nonfinite != NULL && bcs == 1) { /* B not packed by strips */
        ptrdiff_t p;
        for (p = 0; p < k; ++p)
            if (!SFX(all_finite)(b + p * brs, n)) SFX(report_nonfinite)(ep->b_nonfinite);
    }
    if (k <= 0) {
        ptrdiff_t i, j;
        if (!accumulate)
            for (i = 0; i < m; ++i)
                for (j = 0; j < n; ++j) c[i * ldc + j] = 0;
        if (ep != NULL) SFX(apply_epilogue)(ep, c, ldc, 0, 0, m, n, 0);
        return;
    }
    if (m <= BP_SMALL_M && bcs == 1) {
        SFX(gemm_small)(m, n, k, a, ars, acs, b, brs, accumulate, c, ldc, ep);
        return;
    }
    /* One parallel region: every thread walks the same block loops (gemm_blocks). A
     * product on one thread outside any region walks them alone, without a team. */
#ifdef _OPENMP
    if (bp_own_team(nt)) {
#pragma omp parallel num_threads(nt)
        SFX(gemm_blocks)(net, m, n, k, a, ars, acs, b, brs, bcs, accumulate, c, ldc, ep,
                         direct_a, direct_b);
        return;
    }
#endif
    SFX(gemm_blocks)(net, m, n, k, a, ars, acs, b, brs, bcs, accumulate, c, ldc, ep, direct_a,
                     direct_b);
    (void)nt;
}
