/*
 * bp_real.c -- instantiates the numeric core (bp_act_impl.h, bp_gemm_impl.h, bp_impl.h) for
 * float32 and float64: one source, two element types. The build compiles this
 * file once per instruction-set variant, with BP_ISA_SUFFIX naming the variant
 * (_baseline, _avx2) and that variant's compiler flags.
 */
#ifndef BP_ISA_SUFFIX
#define BP_ISA_SUFFIX _baseline
#endif
#include "bp_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- float32 ---- */
#define REAL float
#define SFX(name) BP_CAT3(name, _f32, BP_ISA_SUFFIX)
#define BP_NR BP_NR_F32
#define BP_SQRT sqrtf
#define BP_EPS FLT_EPSILON
#define BP_V(name) BP_V##name##_F32
#define bp_vec bp_vf32
#define BP_IREAL int32_t
#define BP_UREAL uint32_t
#include "bp_act_impl.h"
#include "bp_gemm_impl.h"
#include "bp_impl.h"
#undef REAL
#undef SFX
#undef BP_NR
#undef BP_SQRT
#undef BP_EPS
#undef BP_V
#undef bp_vec
#undef BP_IREAL
#undef BP_UREAL

/* ---- float64 ---- */
#define REAL double
#define SFX(name) BP_CAT3(name, _f64, BP_ISA_SUFFIX)
#define BP_NR BP_NR_F64
#define BP_SQRT sqrt
#define BP_EPS DBL_EPSILON
#define BP_V(name) BP_V##name##_F64
#define bp_vec bp_vf64
#define BP_IREAL int64_t
#define BP_UREAL uint64_t
#include "bp_act_impl.h"
#include "bp_gemm_impl.h"
#include "bp_impl.h"
