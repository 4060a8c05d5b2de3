/*
 * bp_real.c -- instantiates the numeric core (bp_gemm_impl.h, bp_impl.h) for
 * float32 and float64: one source, two element types.
 */
#include "bp_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---- float32 ---- */
#define REAL float
#define SFX(name) name##_f32
#define BP_NR BP_NR_F32
#define BP_EXP expf
#define BP_TANH tanhf
#define BP_SQRT sqrtf
#define BP_EPS FLT_EPSILON
#include "bp_gemm_impl.h"
#include "bp_impl.h"
#undef REAL
#undef SFX
#undef BP_NR
#undef BP_EXP
#undef BP_TANH
#undef BP_SQRT
#undef BP_EPS

/* ---- float64 ---- */
#define REAL double
#define SFX(name) name##_f64
#define BP_NR BP_NR_F64
#define BP_EXP exp
#define BP_TANH tanh
#define BP_SQRT sqrt
#define BP_EPS DBL_EPSILON
#include "bp_gemm_impl.h"
#include "bp_impl.h"
