"""What this build of bpfast is and how it will run."""

from __future__ import annotations

import platform
import sys

from . import _core
from ._version import __version__


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
        "openmp": _core.openmp_enabled(),
        "threads": _core.max_threads(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
    }


def show_config() -> None:
    """Print the version, the OpenMP status and thread count, and the dependencies."""
    for key, value in config().items():
        print(f"{key:>13}: {value}")
