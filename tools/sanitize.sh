#!/usr/bin/env bash
# Build bpfast with AddressSanitizer + UndefinedBehaviorSanitizer and run the whole
# test suite against that build. Fails on any sanitizer report, in the test process
# or in any child it starts (fork/forkserver/spawn tests), and on any test failure.
# ASan reports are collected from per-process log files (log_path), UBSan reports
# (which GCC 12's runtime always writes to stderr) from the run's output; pytest runs
# with -s so that a report that ends the process is not lost in pytest's capture.
#
# Nothing shared is touched: the instrumented extension is built in build/asan and
# installed (a regular, non-editable install) into a throw-away virtual environment
# that sees the system site-packages for numpy/scipy/scikit-learn/pytest. The
# editable install other people use (build/editable + system site-packages) is left
# alone; its import redirect is switched off inside the venv with
# SKBUILD_EDITABLE_SKIP.
#
# Usage: tools/sanitize.sh [extra pytest arguments, e.g. -k predict or a test path]
# Environment:
#   BPFAST_ASAN_VENV   the venv to (re)use            (default /tmp/bpfast-asan-venv)
#   BPFAST_ASAN_BUILD  CMake build dir, repo-relative  (default build/asan)
#   BPFAST_ASAN_OPT    optimisation flags              (default "-O1 -g")
#   BPFAST_ASAN_SKIP_BUILD=1  reuse the last sanitized install as it is
#   BPFAST_TEST_LATENCY  Ctrl-C latency bound for tests/test_interrupt.py (default 3 s here)
# Takes about 1 min to build from scratch and 5-7 min to test on 2 cores.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
caller_dir="$PWD"
venv="${BPFAST_ASAN_VENV:-/tmp/bpfast-asan-venv}"
build_dir="${BPFAST_ASAN_BUILD:-build/asan}"
opt="${BPFAST_ASAN_OPT:--O1 -g}"
python="${PYTHON:-python3}"
san="-fsanitize=address,undefined -fno-omit-frame-pointer"

libasan="$(gcc -print-file-name=libasan.so)"
libubsan="$(gcc -print-file-name=libubsan.so)"
for lib in "$libasan" "$libubsan"; do
    [[ "$lib" = /* && -e "$lib" ]] || { echo "sanitize.sh: gcc has no $(basename "$lib")" >&2; exit 2; }
done

# One run at a time per venv (the venv and the build dir are shared).
exec 9>"${venv%/}.lock"
if ! flock -n 9; then
    echo "== another tools/sanitize.sh is using $venv; waiting for it" >&2
    flock 9
fi

t0=$(date +%s)
if [[ "${BPFAST_ASAN_SKIP_BUILD:-0}" != 1 ]]; then
    if [[ ! -x "$venv/bin/python" ]]; then
        "$python" -m venv --system-site-packages "$venv"
    fi
    echo "== building the sanitized extension in $repo/$build_dir -> $venv"
    (
        cd "$repo"
        # Only this venv's site-packages receives the wheel; pip will not uninstall the
        # system (editable) bpfast because it lies outside the environment.
        "$venv/bin/python" -m pip install --quiet --no-build-isolation --no-deps \
            -Cbuild-dir="$build_dir" \
            -Ccmake.build-type=Debug \
            -Ccmake.define.CMAKE_C_FLAGS="$san $opt" \
            -Ccmake.define.CMAKE_SHARED_LINKER_FLAGS="$san" \
            -Ccmake.define.CMAKE_MODULE_LINKER_FLAGS="$san" \
            .
    )
fi
t_build=$(( $(date +%s) - t0 ))

# Where the reports go: ASan writes one file per process (asan.<pid>), children included.
logdir="$(mktemp -d /tmp/bpfast-sanitize-logs.XXXXXX)"
workdir="$(mktemp -d /tmp/bpfast-sanitize-run.XXXXXX)"   # run outside the repo
trap 'rm -rf "$workdir"' EXIT

# Switch off the import redirect of any scikit-build-core editable install visible
# through the system site-packages (e.g. the shared one in build/editable), so that
# `import bpfast` finds the venv's sanitized install.
SKBUILD_EDITABLE_SKIP="$("$venv/bin/python" -c '
import sys
print(":".join(str(getattr(f, "path", None) or "") for f in sys.meta_path
               if type(f).__name__.startswith("ScikitBuild")))')"
export SKBUILD_EDITABLE_SKIP
# The sanitizer runtimes go only to the Python processes (and their children), not to the
# shell tools of this script. allocator_may_return_null=1: an impossible malloc (the tests
# ask for TiB-sized arrays on purpose) returns NULL, as glibc's does, instead of aborting.
san_env=(
    env
    LD_PRELOAD="$libasan:$libubsan${LD_PRELOAD:+:$LD_PRELOAD}"
    ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1:log_path=$logdir/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    PYTHONMALLOC=malloc               # Python objects on the ASan heap too
)
# tests/test_interrupt.py: with everything 10-30x slower, check that Ctrl-C is honoured
# within 3 s rather than within the 0.5 s an optimised build must meet.
export BPFAST_TEST_LATENCY="${BPFAST_TEST_LATENCY:-3}"
export PYTHONFAULTHANDLER=1

cd "$workdir"
# Refuse to "pass" against the uninstrumented extension.
"${san_env[@]}" "$venv/bin/python" - <<'EOF'
import os, sys
import bpfast, bpfast._core as core
so = core.__file__
assert bpfast.__file__.startswith(sys.prefix), f"bpfast comes from {bpfast.__file__}, not {sys.prefix}"
assert so.startswith(sys.prefix), f"bpfast._core comes from {so}, not the sanitized venv {sys.prefix}"
needed = open(so, "rb").read()
assert b"__asan_report" in needed and b"__ubsan_handle" in needed, f"{so} is not instrumented"
print("== testing", os.path.dirname(bpfast.__file__), "(ASan+UBSan)")
EOF

# Arguments are passed to pytest; paths among them are taken relative to the directory
# the script was started from. Without a path, the whole suite runs.
args=() have_path=0
for a in "$@"; do
    p="${a%%::*}"
    [[ "$p" = /* ]] || p="$caller_dir/$p"
    if [[ "$a" != -* && -e "$p" ]]; then
        a="$(realpath "$p")${a#"${a%%::*}"}"
        have_path=1
    fi
    args+=("$a")
done
[[ $have_path = 1 ]] || args=("$repo/tests" "${args[@]}")

t1=$(date +%s)
status=0
# -s (no capture): UBSan writes its reports to file descriptor 2 whatever log_path says
# (GCC 12, with ASan loaded), and pytest's default fd-level capture would swallow them, or
# lose them altogether when a report ends the process (halt_on_error). Without capture
# they reach the terminal and the tee. (--capture=sys would break faulthandler in tests.)
set -o pipefail
"${san_env[@]}" "$venv/bin/python" -m pytest -q -s -p no:cacheprovider "${args[@]}" 2>&1 \
    | tee "$logdir/pytest-output.txt" || status=$?
t_tests=$(( $(date +%s) - t1 ))
# UBSan writes to stderr whatever log_path says when ASan is loaded too: pick its reports
# (and any ASan report printed there) out of the output.
if grep -E -q "runtime error:|ERROR: AddressSanitizer|UndefinedBehaviorSanitizer|AddressSanitizer:DEADLYSIGNAL" \
        "$logdir/pytest-output.txt"; then
    grep -E -A30 "runtime error:|ERROR: AddressSanitizer|UndefinedBehaviorSanitizer|AddressSanitizer:DEADLYSIGNAL" \
        "$logdir/pytest-output.txt" > "$logdir/stderr-reports.txt"
fi
rm -f "$logdir/pytest-output.txt"

# A report is any log with more than allocator warnings in it (the tests make impossible
# allocations on purpose; with allocator_may_return_null=1 ASan only warns about them).
reports=$(for f in $(find "$logdir" -type f -size +0c | sort); do
    if grep -qv "WARNING: AddressSanitizer failed to allocate" "$f"; then echo "$f"; fi
done)
if [[ -n "$reports" ]]; then
    echo "== sanitizer reports:" >&2
    for f in $reports; do echo "---- $f" >&2; cat "$f" >&2; done
    [[ $status -ne 0 ]] || status=1
fi
n_reports=$(echo -n "$reports" | grep -c . || true)
echo "== build ${t_build}s, tests ${t_tests}s, pytest exit ${status}, sanitizer reports: ${n_reports}${reports:+ (in $logdir)}"
if [[ -z "$reports" ]]; then rm -rf "$logdir"; fi
exit "$status"
