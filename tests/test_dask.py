"""bpfast on a Dask cluster: Incremental training over a chunked array and a
hyperparameter search under joblib's "dask" backend.

One test starts a real ``LocalCluster`` of two single-threaded worker processes,
proves both, and shuts the cluster down. Skipped when dask, distributed or
dask-ml are not installed.
"""

from __future__ import annotations

import os

import joblib
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from bpfast import MLPClassifier

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
wrappers = pytest.importorskip("dask_ml.wrappers")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

EPOCHS = 3
CHUNK_ROWS = 300


def _digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def _incremental_model():
    return MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)


def _check_incremental(client, X, y):
    """dask-ml's Incremental over a chunked array = the same partial_fit calls in memory."""
    classes = np.unique(y)
    Xd = da.from_array(X, chunks=(CHUNK_ROWS, X.shape[1]))
    yd = da.from_array(y, chunks=CHUNK_ROWS)
    # shuffle_blocks=False: blocks in order, so the in-memory run below is the
    # very same sequence of partial_fit calls.
    inc = wrappers.Incremental(_incremental_model(), scoring="accuracy", shuffle_blocks=False)
    with distributed.get_task_stream(client) as stream:
        inc.fit(Xd, yd, classes=classes)  # classes go to every block's partial_fit
        for _ in range(EPOCHS - 1):
            inc.partial_fit(Xd, yd, classes=classes)
    trained_on = {t["worker"] for t in stream.data}
    assert trained_on and trained_on <= set(client.scheduler_info()["workers"])

    by_block = _incremental_model()
    for _ in range(EPOCHS):
        for start in range(0, len(X), CHUNK_ROWS):
            stop = start + CHUNK_ROWS
            by_block.partial_fit(X[start:stop], y[start:stop], classes=classes)
    for a, b in zip(inc.estimator_.coefs_ + inc.estimator_.intercepts_,
                    by_block.coefs_ + by_block.intercepts_, strict=True):
        assert_array_equal(a, b)
    assert_array_equal(inc.predict(Xd).compute(), by_block.predict(X))

    # And it scores like the same number of partial_fit epochs on the whole array.
    whole = _incremental_model()
    for _ in range(EPOCHS):
        whole.partial_fit(X, y, classes=classes)
    score = inc.score(Xd, yd)
    assert score > 0.85
    assert abs(score - whole.score(X, y)) < 0.03


def _check_search(client, X, y):
    """GridSearchCV under joblib's dask backend: runs on the workers, same results."""
    search = GridSearchCV(
        MLPClassifier(max_iter=30, random_state=0),
        {"alpha": [1e-4, 1.0], "hidden_layer_sizes": [(8,), (32,)]},
        cv=3,
    )
    serial = clone(search).fit(X, y)
    with distributed.get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        search.fit(X, y)
    ran_on = {t["worker"] for t in stream.data}
    assert ran_on and ran_on <= set(client.scheduler_info()["workers"])
    scores = serial.cv_results_["mean_test_score"]
    assert len(set(scores)) > 1
    assert_array_equal(search.cv_results_["mean_test_score"], scores)
    assert search.best_params_ == serial.best_params_
    assert_array_equal(search.predict(X), serial.predict(X))


def test_local_cluster_incremental_and_grid_search():
    X, y = _digits()
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,  # no web server (and no port to clash over)
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        worker_pids = set(client.run(os.getpid).values())
        assert len(worker_pids) == 2 and os.getpid() not in worker_pids
        _check_incremental(client, X, y)
        _check_search(client, X, y)
    assert client.status == "closed"
    assert cluster.status.name == "closed"
