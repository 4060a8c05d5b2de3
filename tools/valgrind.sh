#!/usr/bin/env bash
# valgrind memcheck over tools/valgrind_smoke.py (fit, partial_fit, predict, the error
# paths, save/load) against the bpfast that `python` imports (the editable install).
#
# Fails when
#   * valgrind reports any error (invalid read/write/free, use of an uninitialised
#     value, mismatched or overlapping copy, syscall given bad memory) that the
#     suppressions in tools/valgrind-python.supp do not cover; those only cover the
#     dynamic loader's strncmp and CPython's own uninitialised-value noise, anchored
#     on frames in ld.so/libpython, so nothing in bpfast, numpy or scipy is hidden;
#   * the smoke script itself fails (it also checks results: shapes, finiteness,
#     layouts, threads, dense == sparse).
#
# Usage: tools/valgrind.sh [case names of valgrind_smoke.py to run only those]
# Environment: PYTHON (default: the interpreter `python3` resolves to),
#              BPFAST_VALGRIND_SCRIPT (another script to run instead of the smoke),
#              VALGRIND_EXTRA (extra valgrind options, e.g. --track-origins=yes).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
# Resolve shims (pyenv): valgrind must run the real interpreter binary, not a script.
python="${PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}"
script="${BPFAST_VALGRIND_SCRIPT:-$repo/tools/valgrind_smoke.py}"
out="$(mktemp -d /tmp/bpfast-valgrind.XXXXXX)"
workdir="$(mktemp -d /tmp/bpfast-valgrind-run.XXXXXX)"   # import the installed bpfast

t0=$(date +%s)
status=0
(
    cd "$workdir"
    # PYTHONMALLOC=malloc: every Python allocation goes through malloc, which valgrind
    # tracks (pymalloc's arenas would hide overruns and give false reports).
    # OMP_WAIT_POLICY=passive: idle OpenMP workers sleep instead of spinning, which under
    # valgrind's one-thread-at-a-time scheduler would cost minutes.
    PYTHONMALLOC=malloc OMP_WAIT_POLICY=passive PYTHONFAULTHANDLER=1 \
    valgrind --tool=memcheck --leak-check=no --show-leak-kinds=none --errors-for-leak-kinds=none \
        --num-callers=40 \
        --suppressions="$repo/tools/valgrind-python.supp" \
        --xml=yes --xml-file="$out/memcheck.xml" --log-file="$out/valgrind.log" \
        ${VALGRIND_EXTRA:-} \
        "$python" "$script" "$@"
) || status=$?
t_run=$(( $(date +%s) - t0 ))

# Classify what valgrind found.
verdict=0
"$python" - "$out/memcheck.xml" <<'EOF' || verdict=$?
import sys
import xml.etree.ElementTree as ET

OURS = ("bpfast", "bp_core", "/csrc/", "bp_real.c", "bp_net.c", "bp_dispatch.c", "bp_impl.h",
        "bp_gemm_impl.h", "bp_act_impl.h", "_core.c", "_core.pyx")


def frames(err):
    for st in err.findall("stack"):
        for fr in st.findall("frame"):
            yield {k: (fr.findtext(k) or "") for k in ("obj", "fn", "dir", "file", "line")}


def is_ours(err):
    return any(tag in " ".join((fr["obj"], fr["dir"], fr["file"])) for fr in frames(err) for tag in OURS)


def describe(err):
    xwhat = err.find("xwhat")
    text = err.findtext("what") or (xwhat.findtext("text") if xwhat is not None else "")
    lines = [f"{err.findtext('kind')}{' [bpfast]' if is_ours(err) else ''}: {text}"]
    for fr in list(frames(err))[:16]:
        loc = f"{fr['file']}:{fr['line']}" if fr["file"] else fr["obj"]
        lines.append(f"    {fr['fn'] or '???'} ({loc})")
    for aux in err.findall("auxwhat"):
        lines.append(f"  {aux.text}")
    return "\n".join(lines)


root = ET.parse(sys.argv[1]).getroot()
# Every unsuppressed error is fatal (leaks are not checked: --leak-check=no).
fatal = [e for e in root.findall("error") if not (e.findtext("kind") or "").startswith("Leak")]
suppressed = sum(int(p.findtext("count") or 0) for p in root.iter("pair"))
for err in fatal:
    print(describe(err), file=sys.stderr)
    print(file=sys.stderr)
n_ours = sum(map(is_ours, fatal))
print(f"valgrind: {len(fatal)} error context(s) ({n_ours} through bpfast), "
      f"{suppressed} suppressed occurrence(s) of known CPython/ld.so noise")
sys.exit(1 if fatal else 0)
EOF

rm -rf "$workdir"
echo "== valgrind run ${t_run}s; smoke exit ${status}; valgrind verdict ${verdict}"
if [[ $status -ne 0 ]]; then
    echo "== the smoke script failed under valgrind; tail of its log ($out):" >&2
    tail -n 30 "$out/valgrind.log" >&2
    exit "$status"
fi
if [[ $verdict -ne 0 ]]; then
    echo "== valgrind's XML report: $out/memcheck.xml" >&2
else
    rm -rf "$out"
fi
exit "$verdict"
