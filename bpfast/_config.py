"""What this build of bpfast is and how it will run."""

from __future__ import annotations

import os
import platform
import sys

from . import _core
from ._version import __version__


ISA_ENV = "BPFAST_ISA"
_ISA_ENV_BYTES = os.fsencode(ISA_ENV)   # as the C runtime's getenv takes it


def forked_child() -> bool:
    """True in a process forked from the one that imported bpfast.

    A flag the C library sets in the child of any fork() (pthread_atfork), not a
    comparison of process ids: a one-row predict asks every time, and os.getpid
    is a system call. Python's os.register_at_fork would miss a fork made from C
    (a prefork server's workers).
    """
    return _core.forked()


def kernel_variant() -> str:
    """The kernel variant to run: the CPU's best, or the one ``BPFAST_ISA`` forces.

    Raises
    ------
    ValueError
        If ``BPFAST_ISA`` names a variant that is unknown or cannot run here.
    """
    raw = _core.environ_value(_ISA_ENV_BYTES)   # os.environ.get: 0.6 us a call
    try:
        return _variants[raw]
    except KeyError:
        pass
    # The variants' names are ASCII; anything else (in whatever encoding the C
    # runtime holds it) becomes U+FFFD and is refused below.
    name = "auto" if raw is None else raw.decode("ascii", "replace").strip().lower() or "auto"
    if name == "auto":
        name = _core.best_isa()
    elif not _core.isa_available(name):
        raise ValueError(
            f"{ISA_ENV}={name!r} is not a kernel variant this build and CPU can run; "
            f"use 'auto', 'baseline', or on x86-64 'avx2' (AVX2+FMA) or 'avx512'."
        )
    _variants[raw] = name
    return name


# BPFAST_ISA settings (bytes, None when unset) already resolved: the CPU does not
# change while we run, and a one-row predict asks every time.
_variants: dict[bytes | None, str] = {}


_OPENMP_SPECS = {200505: "2.5", 200805: "3.0", 201107: "3.1", 201307: "4.0", 201511: "4.5",
                 201811: "5.0", 202011: "5.1", 202111: "5.2"}


def _openmp_description() -> str:
    """OpenMP as built and as loaded: spec version and runtime library, or 'disabled'."""
    if not _core.openmp_enabled():
        return "disabled (serial build)"
    date = _core.openmp_version()
    text = f"OpenMP {_OPENMP_SPECS.get(date, date)}"
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return text
    libraries = sorted(
        {os.path.basename(p["filepath"]) for p in threadpool_info() if p["user_api"] == "openmp"}
    )
    return f"{text}; runtimes in this process: {', '.join(libraries)}" if libraries else text


def _cpus() -> str:
    """The CPUs this thread may run on, of the machine's, where the system says.

    Fewer than all of them when a binding OpenMP runtime loaded earlier (scikit-learn's
    own, under ``OMP_PROC_BIND`` or ``OMP_PLACES``) pinned the main thread: bpfast's
    runtime then sizes its default team from that one CPU.
    """
    total = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity interface (macOS, Windows)
        return str(total)
    return f"{usable} of {total}"


def config() -> dict:
    """The build and run-time configuration as a dict (see ``show_config``)."""
    import numpy
    import scipy
    import sklearn

    return {
        "bpfast": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "kernels": kernel_variant(),
        "best kernels": _core.best_isa(),
        "openmp": _openmp_description(),
        "threads": _core.max_threads(),
        "cpus": _cpus(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
    }


def show_config() -> None:
    """Print the version, the OpenMP status, threads and usable CPUs, and the dependencies."""
    for key, value in config().items():
        print(f"{key:>13}: {value}")
