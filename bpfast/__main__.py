"""Command line: ``bpfast demo`` (or ``python -m bpfast demo``) and ``bpfast info``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Run the bpfast command line; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="bpfast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train on scikit-learn's digits beside scikit-learn's MLP")
    demo.add_argument("--repeats", type=int, default=3, help="fits per timing (median)")
    sub.add_parser("info", help="print the build and run-time configuration")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        run_demo(repeats=max(1, args.repeats))
    else:
        from ._config import show_config

        show_config()
    return 0


if __name__ == "__main__":
    sys.exit(main())
