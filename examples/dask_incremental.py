"""Train bpfast's MLPClassifier on a Dask cluster.

Two ways to go beyond one process with bpfast, both shown here:

1. **Incremental training on data that lives on the cluster.**
   ``dask_ml.wrappers.Incremental`` streams a chunked dask array through
   ``MLPClassifier.partial_fit``, one block (a chunk of rows) at a time. Each
   block is trained on the worker that holds it and the model (plain numpy
   weights, a few hundred kB) travels from task to task, so the data set never
   has to fit in one process. One ``fit``/``partial_fit`` call is one epoch
   over the blocks. ``classes=`` must be given: dask-ml passes it on to every
   block's ``partial_fit``.

2. **Hyperparameter search on the workers.** Inside
   ``joblib.parallel_backend("dask")``, scikit-learn's ``GridSearchCV`` (or
   ``RandomizedSearchCV``, ``cross_val_score``...) sends its fits to the cluster.

Usage::

    pip install "bpfast[dask]"        # adds dask[distributed] and dask-ml

    # a local cluster of 2 single-threaded worker processes, started for you
    python examples/dask_incremental.py

    # or an existing cluster
    python examples/dask_incremental.py --scheduler tcp://10.0.0.5:8786

To set up a cluster by hand, on one machine run ``dask scheduler`` (it prints
its address, ``tcp://HOST:8786``), then on every machine
``dask worker tcp://HOST:8786 --nworkers 2 --nthreads 1``. Every worker needs
the same bpfast (and scikit-learn) version as the client.

Threads: Dask's worker processes start with ``OMP_NUM_THREADS=1``, so each
bpfast fit on a worker runs one OpenMP thread. Scale with worker processes
(``--nworkers``), or pass ``n_threads=`` to the estimator to use more cores per
fit. Worker processes are spawned, never forked, so OpenMP is safe there.

Options: ``--rows`` (size of the synthetic data set, generated on the
workers), ``--chunk-rows`` (rows per block), ``--epochs``.
"""

from __future__ import annotations

import argparse
import time

import dask
import joblib
import numpy as np
from dask.distributed import Client, LocalCluster
from dask_ml.datasets import make_classification
from dask_ml.model_selection import train_test_split
from dask_ml.wrappers import Incremental
from sklearn.model_selection import GridSearchCV

from bpfast import MLPClassifier

N_CLASSES = 2  # dask_ml.datasets.make_classification makes binary problems only


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
        "(default: start a LocalCluster of 2 worker processes)",
    )
    parser.add_argument("--rows", type=int, default=60_000, help="rows of synthetic data")
    parser.add_argument("--chunk-rows", type=int, default=5_000, help="rows per block")
    parser.add_argument("--epochs", type=int, default=5, help="passes over the blocks")
    return parser.parse_args(argv)


def incremental_training(args):
    """Train epoch by epoch over a chunked dask array; print held-out accuracy."""
    # Generated block by block on the workers: no single process holds it all.
    X, y = make_classification(
        n_samples=args.rows,
        n_features=20,
        n_informative=10,
        n_classes=N_CLASSES,
        chunks=args.chunk_rows,
        random_state=0,
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    # Keep the blocks in the workers' memory rather than regenerating them every epoch.
    X_train, X_test, y_train, y_test = dask.persist(X_train, X_test, y_train, y_test)
    classes = np.arange(N_CLASSES)

    model = Incremental(
        MLPClassifier(hidden_layer_sizes=(64, 64), learning_rate_init=1e-3, random_state=0),
        scoring="accuracy",
        shuffle_blocks=True,
        random_state=0,
    )
    print(f"Incremental: {X_train.numblocks[0]} blocks of up to {args.chunk_rows} rows")
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        if epoch == 1:
            model.fit(X_train, y_train, classes=classes)  # clones, then one epoch
        else:
            model.partial_fit(X_train, y_train, classes=classes)  # one more epoch
        accuracy = model.score(X_test, y_test)
        print(f"  epoch {epoch}: held-out accuracy {accuracy:.4f} "
              f"({time.perf_counter() - start:.1f} s)")
    # predict is lazy: a dask array computed block by block on the workers.
    predictions = model.predict(X_test)
    print(f"  first predictions: {predictions[:10].compute()}")
    return X_train, y_train


def grid_search(X_train, y_train, n_rows=5_000):
    """GridSearchCV whose fits run on the cluster's workers."""
    X = X_train[:n_rows].compute()  # the search itself runs on an in-memory sample
    y = y_train[:n_rows].compute()
    search = GridSearchCV(
        MLPClassifier(max_iter=50, early_stopping=True, random_state=0),
        {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(32,), (64, 64)]},
        cv=3,
    )
    start = time.perf_counter()
    with joblib.parallel_backend("dask"):
        search.fit(X, y)
    print(f"GridSearchCV on the cluster ({time.perf_counter() - start:.1f} s):")
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        print(f"  {params}: {score:.4f}")
    print(f"  best: {search.best_params_}")


def main(argv=None):
    args = parse_args(argv)
    if args.scheduler:
        client = Client(args.scheduler)
        cluster = None
    else:
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    try:
        workers = client.scheduler_info()["workers"]
        print(f"Connected to {client.scheduler.address} with {len(workers)} workers")
        X_train, y_train = incremental_training(args)
        grid_search(X_train, y_train)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    main()
