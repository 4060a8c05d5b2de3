/*
 * gemm_floor.c -- how fast bpfast's own GEMM runs outside a fit: the float32 micro-kernel
 * on packed panels (its ceiling on this core), the five large products of the GEMM-bound
 * workload through gemm() (packing and blocking included), and the float64 kernel on the
 * first layer of the digits model's transposed prediction (depth 64: per-call overhead).
 * Set beside fma_peak.c's figure, it tells how much of a fit's time the arithmetic itself
 * leaves to the rest of the step.
 *
 * It compiles the core's kernels into itself (bp_real.c, under the suffix _floor) and calls
 * their internal functions, so it follows csrc/'s current signatures. Build it with the
 * flags of the variant to measure, e.g. AVX-512:
 *
 *   cc -O3 -std=c11 -fopenmp -mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma \
 *      -ffp-contract=fast -fno-math-errno -fno-trapping-math -Icsrc \
 *      benchmarks/gemm_floor.c -o /tmp/gemm_floor -lm && /tmp/gemm_floor 1 && /tmp/gemm_floor 2
 *
 * (or -mavx2 -mfma for the AVX2 variant). The argument is the thread count for the
 * products (default 1); each figure is the best of five timings, in GFLOP/s.
 */
#define _POSIX_C_SOURCE 200112L
#define BP_ISA_SUFFIX _floor
#include "bp_real.c"

#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* n values in [-0.005, 0.007): no denormals, no overflow over any depth used here */
static void *filled(size_t n, size_t elem)
{
    size_t i, bytes = (n * elem + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (i = 0; i < n; ++i) {
        const double v = 1e-3 * (double)(i % 13) - 0.005;
        if (elem == sizeof(float))
            ((float *)p)[i] = (float)v;
        else
            ((double *)p)[i] = v;
    }
    return p;
}

/* the float32 micro-kernel: strips packed as gemm() packs them, one B strip (kc x NR) used
 * by `strips` A strips (MR x kc) in turn, as within one of gemm()'s work items */
static double kernel_f32(ptrdiff_t kc, ptrdiff_t strips, int reps)
{
    float *a = filled((size_t)(strips * BP_MR * kc), sizeof(float));
    float *b = filled((size_t)(BP_NR_F32 * kc), sizeof(float));
    float *c = filled((size_t)(strips * BP_MR * BP_NR_F32), sizeof(float));
    double best = 0;
    int round, rep;
    ptrdiff_t s;
    for (round = 0; round < 5; ++round) {
        double t = now(), g;
        for (rep = 0; rep < reps; ++rep)
            for (s = 0; s < strips; ++s)
                micro_kernel_f32_floor(kc, a + s * BP_MR * kc, 1, BP_MR, BP_MR * kc, b,
                                       BP_NR_F32, c + s * BP_MR * BP_NR_F32, BP_NR_F32, BP_MR,
                                       BP_NR_F32, 1, NULL, 0, 0);
        t = now() - t;
        g = 2.0 * (double)(kc * BP_MR * BP_NR_F32 * strips) * reps / t / 1e9;
        if (g > best) best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

/* the float64 micro-kernel on prediction's first layer of the digits model: Z^T (100 x a
 * 256-row block) = W^T X^T, W read in place down its columns, the block's X^T packed, the
 * bias by rows and ReLU in the write-back */
static double kernel_f64_predict(int reps)
{
    enum { K = 64, M = 100, NB = 256 };
    const ptrdiff_t n_ir = (M + BP_MR - 1) / BP_MR, n_jr = NB / BP_NR_F64;
    double *w = filled((size_t)(K * M), sizeof(double));
    double *xt = filled((size_t)(K * NB), sizeof(double));
    double *z = filled((size_t)(M * NB), sizeof(double));
    double *bias = filled(M, sizeof(double));
    double best = 0;
    int round, rep;
    ptrdiff_t jr, ir;
    for (round = 0; round < 5; ++round) {
        double t = now(), g;
        for (rep = 0; rep < reps; ++rep)
            for (jr = 0; jr < n_jr; ++jr)
                for (ir = 0; ir < n_ir; ++ir) {
                    const ptrdiff_t i0 = ir * BP_MR, mr = M - i0 < BP_MR ? M - i0 : BP_MR;
                    micro_kernel_f64_floor(K, w + i0, 1, M, BP_MR, xt + jr * BP_NR_F64 * K,
                                           BP_NR_F64, z + i0 * NB + jr * BP_NR_F64, NB, mr,
                                           BP_NR_F64, 0, bias + i0, 1, 1);
                }
        t = now() - t;
        g = 2.0 * K * M * (double)NB * reps / t / 1e9;
        if (g > best) best = g;
    }
    free(w);
    free(xt);
    free(z);
    free(bias);
    return best;
}

int main(int argc, char **argv)
{
    enum { B = 2048, D = 1024, H = 2048 };
    const int nt = argc > 1 ? atoi(argv[1]) : 1;
    bp_net net;
    float *X, *W1, *W2, *H1, *D2, *C, *G;
    const char *names[5] = {"X W1      (2048x1024 . 1024x2048)", "H1 W2     (2048x2048 . 2048x2048)",
                            "D2 W2^T   (2048x2048 . 2048x2048)", "H1^T D2   (2048x2048 . 2048x2048)",
                            "X^T D1    (1024x2048 . 2048x2048)"};
    const double flops[5] = {2.0 * B * D * H, 2.0 * B * H * H, 2.0 * B * H * H, 2.0 * H * B * H,
                             2.0 * D * B * H};
    int w, round;

    memset(&net, 0, sizeof net);
    net.n_threads = nt > 0 ? nt : 1;
    net.elem = (int)sizeof(float);
    net.max_rows = B;
    net.max_width = H;
    net.pack_b = aligned_alloc(64, (size_t)(bp_pack_b_cols(H) * BP_KC) * sizeof(float));
    net.pack_a = aligned_alloc(64, (size_t)(bp_pack_a_rows(H) * BP_KC) * sizeof(float));
    if (net.pack_a == NULL || net.pack_b == NULL) return 1;
    X = filled((size_t)B * D, sizeof(float));
    W1 = filled((size_t)D * H, sizeof(float));
    W2 = filled((size_t)H * H, sizeof(float));
    H1 = filled((size_t)B * H, sizeof(float));
    D2 = filled((size_t)B * H, sizeof(float));
    C = filled((size_t)B * H, sizeof(float));
    G = filled((size_t)H * H, sizeof(float));

    printf("micro-kernel, float32, %d x %d tile (one thread):\n", BP_MR, BP_NR_F32);
    printf("  depth 128, panels in L1:          %6.1f GFLOP/s\n", kernel_f32(128, 4, 40000));
    printf("  depth 512, B strip from L2:       %6.1f GFLOP/s\n", kernel_f32(512, 20, 2000));
    printf("micro-kernel, float64, prediction's depth-64 layer (one thread): %.1f GFLOP/s\n",
           kernel_f64_predict(2000));
    printf("gemm(), float32, the GEMM-bound fit's products (%d thread%s):\n", net.n_threads,
           net.n_threads > 1 ? "s" : "");
    for (w = 0; w < 5; ++w) {
        double best = 1e30;
        for (round = 0; round < 5; ++round) {
            double t = now();
            switch (w) {
            case 0: gemm_f32_floor(&net, B, H, D, X, D, 1, W1, H, 1, 0, C, H, NULL); break;
            case 1: gemm_f32_floor(&net, B, H, H, H1, H, 1, W2, H, 1, 0, C, H, NULL); break;
            case 2: gemm_f32_floor(&net, B, H, H, D2, H, 1, W2, 1, H, 0, C, H, NULL); break;
            case 3: gemm_f32_floor(&net, H, H, B, H1, 1, H, D2, H, 1, 0, G, H, NULL); break;
            default: gemm_f32_floor(&net, D, H, B, X, 1, D, D2, H, 1, 0, G, H, NULL); break;
            }
            t = now() - t;
            if (t < best) best = t;
        }
        printf("  %s %6.1f GFLOP/s\n", names[w], flops[w] / best / 1e9);
    }
    free(X);
    free(W1);
    free(W2);
    free(H1);
    free(D2);
    free(C);
    free(G);
    free(net.pack_a);
    free(net.pack_b);
    return 0;
}
