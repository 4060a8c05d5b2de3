/* The core's float32 FMA peak, measured: 24 independent chains of vector FMAs per
 * thread (enough to cover the FMA latency on two pipes), on 1 and on 2 threads, several
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
#define ISA "AVX-512"
#else
typedef __m256 vec;
#define VSET1 _mm256_set1_ps
#define VFMA _mm256_fmadd_ps
#define VADD _mm256_add_ps
#define LANES 8
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

#define CHAINS 24 /* the c0..c23 below */
#define ITERS 100000000L

/* one thread's chains, each a register (written out: compilers keep an array of
 * vectors in memory); returns a value that depends on every chain */
static float chains(float seed)
{
    const vec a = VSET1(0.9999999f), b = VSET1(1e-7f);
    vec c0 = VSET1(seed), c1 = VADD(c0, b), c2 = VADD(c1, b), c3 = VADD(c2, b);
    vec c4 = VADD(c3, b), c5 = VADD(c4, b), c6 = VADD(c5, b), c7 = VADD(c6, b);
    vec c8 = VADD(c7, b), c9 = VADD(c8, b), c10 = VADD(c9, b), c11 = VADD(c10, b);
    vec c12 = VADD(c11, b), c13 = VADD(c12, b), c14 = VADD(c13, b), c15 = VADD(c14, b);
    vec c16 = VADD(c15, b), c17 = VADD(c16, b), c18 = VADD(c17, b), c19 = VADD(c18, b);
    vec c20 = VADD(c19, b), c21 = VADD(c20, b), c22 = VADD(c21, b), c23 = VADD(c22, b);
    long it;
    for (it = 0; it < ITERS; ++it) {
        c0 = VFMA(c0, a, b); c1 = VFMA(c1, a, b); c2 = VFMA(c2, a, b); c3 = VFMA(c3, a, b);
        c4 = VFMA(c4, a, b); c5 = VFMA(c5, a, b); c6 = VFMA(c6, a, b); c7 = VFMA(c7, a, b);
        c8 = VFMA(c8, a, b); c9 = VFMA(c9, a, b); c10 = VFMA(c10, a, b); c11 = VFMA(c11, a, b);
        c12 = VFMA(c12, a, b); c13 = VFMA(c13, a, b); c14 = VFMA(c14, a, b);
        c15 = VFMA(c15, a, b); c16 = VFMA(c16, a, b); c17 = VFMA(c17, a, b);
        c18 = VFMA(c18, a, b); c19 = VFMA(c19, a, b); c20 = VFMA(c20, a, b);
        c21 = VFMA(c21, a, b); c22 = VFMA(c22, a, b); c23 = VFMA(c23, a, b);
    }
    c0 = VADD(VADD(VADD(c0, c1), VADD(c2, c3)), VADD(VADD(c4, c5), VADD(c6, c7)));
    c8 = VADD(VADD(VADD(c8, c9), VADD(c10, c11)), VADD(VADD(c12, c13), VADD(c14, c15)));
    c16 = VADD(VADD(VADD(c16, c17), VADD(c18, c19)), VADD(VADD(c20, c21), VADD(c22, c23)));
    return VSUM(VADD(VADD(c0, c8), c16));
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
