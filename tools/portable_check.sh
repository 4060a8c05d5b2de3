#!/usr/bin/env bash
# The C core's portability promises, checked where only GCC (and maybe Clang) runs:
#  1. every translation unit compiles without a warning at -Wall -Wextra (-Werror), for
#     every kernel variant, with and without OpenMP, with the vector-extension
#     micro-kernel and with the intrinsics one that MSVC builds use;
#  2. a build with the intrinsics micro-kernel and without OpenMP, installed into the
#     current environment, does bitwise the same arithmetic as the build installed there
#     now (tools/kernel_fingerprint.py), reports a serial build, and passes the kernel
#     and gradient tests.
# Step 2 replaces the environment's bpfast; it needs scikit-build-core, cython,
# cython-cmake and ninja there (pip install --no-build-isolation).
# Usage: PYTHON=/path/to/venv/python tools/portable_check.sh
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d /tmp/bpfast-portable.XXXXXX)"
trap 'rm -rf "$work"' EXIT
say() { echo "== portable_check: $*"; }

say "1. -Wall -Wextra -Werror: variants x OpenMP x micro-kernel"
variants=("" "-DBP_ISA_SUFFIX=_avx2 -DBP_HAVE_AVX2 -mavx2 -mfma -ffp-contract=fast"
          "-DBP_ISA_SUFFIX=_avx512 -DBP_HAVE_AVX512 -mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma -ffp-contract=fast")
[[ "$(uname -m)" == x86_64 ]] || variants=("")
n=0
for cc in gcc clang; do
    command -v "$cc" > /dev/null || continue
    for omp in "" "-fopenmp"; do
        # a compiler without OpenMP headers (clang without libomp-dev) checks the rest
        if [[ -n "$omp" ]] && ! echo '#include <omp.h>' | "$cc" $omp -E -x c - > /dev/null 2>&1; then
            say "$cc: no OpenMP headers, skipping its -fopenmp builds"
            continue
        fi
        for kernel in "" "-DBP_FORCE_INTRINSICS"; do
            [[ -z "$kernel" || "$(uname -m)" == x86_64 ]] || continue
            for variant in "${variants[@]}"; do
                # shellcheck disable=SC2086
                "$cc" -std=c11 -O2 -Wall -Wextra -Werror -fno-math-errno $omp $kernel $variant \
                    -I"$repo/csrc" -c "$repo/csrc/bp_real.c" -o "$work/real.o"
                n=$((n + 1))
            done
            for f in bp_net.c bp_dispatch.c; do
                # shellcheck disable=SC2086
                "$cc" -std=c11 -O2 -Wall -Wextra -Werror $omp -DBP_HAVE_AVX2 -DBP_HAVE_AVX512 \
                    -I"$repo/csrc" -c "$repo/csrc/$f" -o "$work/x.o"
                n=$((n + 1))
            done
        done
    done
done
say "$n compilations, no warnings"

say "2. intrinsics micro-kernel, no OpenMP: bitwise the installed build's arithmetic"
cd "$work"
"$python" "$repo/tools/kernel_fingerprint.py" | tee "$work/reference.txt"
(cd "$repo" && "$python" -m pip install --quiet --no-build-isolation --no-deps \
    -Cbuild-dir=build/portable \
    -Ccmake.define.BPFAST_FORCE_INTRINSICS=ON \
    -Ccmake.define.BPFAST_OPENMP=OFF \
    -Ccmake.define.CMAKE_C_FLAGS="-Werror" \
    .)
"$python" -c "
import bpfast
from bpfast._config import config
assert config()['openmp'] == 'disabled (serial build)', config()['openmp']
print('serial build:', bpfast.__file__)
"
"$python" "$repo/tools/kernel_fingerprint.py" | tee "$work/portable.txt"
diff "$work/reference.txt" "$work/portable.txt" || { say "the intrinsics kernels differ"; exit 1; }
"$python" -m pytest -q -p no:cacheprovider "$repo/tests/test_kernels.py" "$repo/tests/test_gradients.py" \
    "$repo/tests/test_sklearn_parity.py"
say "all checks passed"
