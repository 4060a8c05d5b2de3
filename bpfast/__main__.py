"""Command line: ``bpfast train``, ``bpfast predict``, ``bpfast demo`` and ``bpfast info``
(or ``python -m bpfast ...``)."""

from __future__ import annotations

import argparse
import os
import sys

from ._cli import (
    MAX_INTEGER_CLASSES,
    CommandLineError,
    hidden_layer_sizes,
    predict,
    train,
)

#: The ``train`` options that are estimator parameters, by their parameter names.
_ESTIMATOR_OPTIONS = (
    "hidden_layer_sizes", "max_iter", "random_state", "solver", "n_threads", "verbose", "progress"
)


def _train(args: argparse.Namespace) -> int:
    params = {name: getattr(args, name) for name in _ESTIMATOR_OPTIONS}
    train(
        args.data,
        args.target,
        out=args.out,
        task=args.task,
        **{name: value for name, value in params.items() if value is not None},
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    predict(args.model, args.data, proba=args.proba, out=args.out)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    if args.plot is not None:
        from ._plotting import _matplotlib

        try:
            _matplotlib()
        except ImportError as exc:
            raise CommandLineError(f"--plot: {exc}") from None
    run_demo(repeats=max(1, args.repeats), plot=args.plot)
    return 0


def _info(args: argparse.Namespace) -> int:
    from ._config import show_config

    show_config()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bpfast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser(
        "train",
        help="fit an MLP to a CSV or Parquet table and save it",
        description="Fit MLPClassifier or MLPRegressor to a table (.csv, .tsv, .txt, .parquet, "
        ".pq): the --target columns are the labels, all others the (numeric) features. "
        "Prints a summary to stderr and saves the model with bpfast.save.",
    )
    fit.add_argument("data", help="the training table")
    fit.add_argument("--target", action="append", required=True, metavar="COLUMN",
                     help="the label column; repeat for several outputs")
    fit.add_argument("--out", default="model.bpf", help="the model file (default: %(default)s)")
    fit.add_argument("--task", choices=("classify", "regress"),
                     help="default: classify text, boolean, category and integer labels (at "
                     f"most {MAX_INTEGER_CLASSES} distinct integers), else regress")
    fit.add_argument("--hidden", dest="hidden_layer_sizes", type=hidden_layer_sizes,
                     metavar="N[,N...]", help="hidden layer widths (default: 100)")
    fit.add_argument("--max-iter", type=int, help="epochs, or L-BFGS iterations (default: 200)")
    fit.add_argument("--random-state", type=int, help="seed for a reproducible fit")
    fit.add_argument("--solver", choices=("adam", "sgd", "lbfgs"), help="default: adam")
    fit.add_argument("--n-threads", type=int, help="threads for the C core (default: OpenMP's)")
    fit.add_argument("--verbose", action="store_true", default=None,
                     help="print the loss per iteration to stderr")
    fit.add_argument("--progress", action="store_true", default=None,
                     help="show a progress bar when the fit takes more than a few seconds")
    fit.set_defaults(run=_train)

    pred = sub.add_parser(
        "predict",
        help="predict a CSV or Parquet table with a saved model",
        description="Predict the rows of a table with a model file. The model's feature "
        "columns are taken by name and others ignored. Writes CSV to stdout, or --out.",
    )
    pred.add_argument("model", help="a model file from bpfast train or bpfast.save")
    pred.add_argument("data", help="the table to predict")
    pred.add_argument("--proba", action="store_true",
                      help="write class probabilities, a column proba_<class> per class")
    pred.add_argument("--out", help="the output table, .csv or .parquet (default: CSV to stdout)")
    pred.set_defaults(run=_predict)

    demo = sub.add_parser("demo", help="train on scikit-learn's digits beside scikit-learn's MLP")
    demo.add_argument("--repeats", type=int, default=3, help="fits per timing (median)")
    demo.add_argument("--plot", metavar="PATH",
                      help="save bpfast's loss curve as an image, e.g. loss.png (needs matplotlib)")
    demo.set_defaults(run=_demo)
    sub.add_parser("info", help="print the build and run-time configuration").set_defaults(
        run=_info
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the bpfast command line; returns the process exit code.

    Invalid options exit with status 2 as argparse does; problems with the
    files (missing, unreadable, wrong columns, not a model file) print one
    ``bpfast: error: ...`` line to stderr and return 2; Ctrl-C returns 130.
    """
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except CommandLineError as exc:
        print(f"bpfast: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"bpfast: interrupted{f': {exc}' if str(exc) else ''}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
