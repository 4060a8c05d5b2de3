/* The core's float32 FMA peak, measured: 24 (AVX-512) or 12 (AVX2) independent chains
 * of vector FMAs a thread (enough to cover the FMA latency on two pipes), on 1 and on 2
 * threads, several
 * rounds alternating, median GFLOP/s of each. The floor for any product on this machine
 * is its flops divided by this figure; the two-thread figure over the one-thread figure
 * is how far two threads can scale here at all.
 *
 *   cc -O2 -fopenmp -mavx512f benchmarks/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak
 *   cc -O2 -fopenmp -mavx2 -mfma benchmarks/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak
 *
 * Not part of the package or its tests. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define VSET1 _mm512_set1_ps
#define VFMA _mm512_fmadd_ps
#define VADD _mm512_add_ps
#define VSUM(v) _mm512_reduce_add_ps(v)
#define LANES 16
#define CHAINS 24
#define ISA "AVX-512"
#else
typedef __m256 vec;
#define VSET1 _mm256_set1_ps
#define VFMA _mm256_fmadd_ps
#define VADD _mm256_add_ps
#define LANES 8
#define CHAINS 12
#define ISA "AVX2+FMA"
static float VSUM(__m256 v)
{
    float t[8];
    int i;
    float s = 0;
    _mm256_storeu_ps(t, v);
    for (i = 0; i < 8; ++i) s += t[i];
    return s;
}
#endif

#define ITERS 100000000L

/* one thread's chains, each a register (written out: compilers keep an array of
 * vectors in memory); returns a value that depends on every chain. AVX-512 has 32
 * vector registers, so 24 chains; AVX2 has 16, so 12 (still above latency x pipes). */
#define STEP12(c) \
    c##0 = VFMA(c##0, a, b); c##1 = VFMA(c##1, a, b); c##2 = VFMA(c##2, a, b); \
    c##3 = VFMA(c##3, a, b); c##4 = VFMA(c##4, a, b); c##5 = VFMA(c##5, a, b); \
    c##6 = VFMA(c##6, a, b); c##7 = VFMA(c##7, a, b); c##8 = VFMA(c##8, a, b); \
    c##9 = VFMA(c##9, a, b); c##10 = VFMA(c##10, a, b); c##11 = VFMA(c##11, a, b)
#define INIT12(c, x)                                                                   \
    vec c##0 = VSET1(x), c##1 = VADD(c##0, b), c##2 = VADD(c##1, b), c##3 = VADD(c##2, b); \
    vec c##4 = VADD(c##3, b), c##5 = VADD(c##4, b), c##6 = VADD(c##5, b);                 \
    vec c##7 = VADD(c##6, b), c##8 = VADD(c##7, b), c##9 = VADD(c##8, b);                 \
    vec c##10 = VADD(c##9, b), c##11 = VADD(c##10, b)
#define SUM12(c)                                                                       \
    VADD(VADD(VADD(VADD(c##0, c##1), VADD(c##2, c##3)), VADD(VADD(c##4, c##5), c##6)),   \
         VADD(VADD(VADD(c##7, c##8), VADD(c##9, c##10)), c##11))

static float chains(float seed)
{
    const vec a = VSET1(0.9999999f), b = VSET1(1e-7f);
    long it;
    INIT12(p, seed);
#if CHAINS == 24
    INIT12(q, seed + 1.0f);
    for (it = 0; it < ITERS; ++it) {
        STEP12(p);
        STEP12(q);
    }
    return VSUM(VADD(SUM12(p), SUM12(q)));
#else
    for (it = 0; it < ITERS; ++it) {
        STEP12(p);
    }
    return VSUM(SUM12(p));
#endif
}

static double gflops(int threads, float *sink)
{
    const double t0 = omp_get_wtime();
    double t;
#pragma omp parallel num_threads(threads)
    {
        const float r = chains((float)omp_get_thread_num());
#pragma omp atomic
        *sink += r;
    }
    t = omp_get_wtime() - t0;
    return 2.0 * LANES * CHAINS * (double)ITERS * threads / t / 1e9;
}

static int by_value(const void *x, const void *y)
{
    const double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
    const int rounds = argc > 1 ? atoi(argv[1]) : 5;
    double one[64], two[64];
    float sink = 0;
    int r;
    if (rounds < 1 || rounds > 64) return 2;
    gflops(2, &sink); /* warm-up: wakes both cores and the runtime's threads */
    for (r = 0; r < rounds; ++r) {
        one[r] = gflops(1, &sink);
        two[r] = gflops(2, &sink);
        printf("round %d: 1 thread %.1f GFLOP/s, 2 threads %.1f (%.2fx)\n", r + 1, one[r],
               two[r], two[r] / one[r]);
    }
    qsort(one, (size_t)rounds, sizeof(double), by_value);
    qsort(two, (size_t)rounds, sizeof(double), by_value);
    printf("%s float32 FMA peak, median of %d: 1 thread %.1f GFLOP/s, 2 threads %.1f "
           "(%.2fx)  [%g]\n",
           ISA, rounds, one[rounds / 2], two[rounds / 2], two[rounds / 2] / one[rounds / 2],
           (double)sink * 0.0);
    return 0;
}
