"""The estimator machinery shared by MLPClassifier and MLPRegressor.

This mirrors scikit-learn's ``BaseMultilayerPerceptron`` step for step (the same
validation, the same random draws in the same order, the same bookkeeping per
epoch) while every mini-batch (gather, forward, loss, backward, update) runs in
the C core with the GIL released. Python runs once per epoch.
"""

from __future__ import annotations

import operator
import os
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral

import numpy as np
import scipy.optimize
from threadpoolctl import threadpool_limits
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.fixes import parse_version, sp_version
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _core
from ._config import forked_child, kernel_variant
from ._data import core_matrix, frame_float_dtype
from ._exceptions import NonFiniteInputError
from ._fitted import best_is_current, make_best_current, weight_layer_units, weights_dtype
from ._layout import aligned_empty, aligned_zeros, as_aligned, glorot_slab, pack, unpack
from ._progress import progress_bar

#: The warning ``fit`` gives when Ctrl-C stops it (scikit-learn's words).
INTERRUPTED = "Training interrupted by user."

_STOCHASTIC_SOLVERS = ("sgd", "adam")

# scikit-learn passes scipy's L-BFGS-B ``iprint`` (1 when verbose, else -1) only
# where scipy still takes it: before 1.15, whose rewrite dropped the printing.
_LBFGS_TAKES_IPRINT = sp_version < parse_version("1.15")

# Rows per block when predicting or evaluating the full-batch L-BFGS objective:
# bounds the workspace to O(block x widest layer) whatever the data size.
_BLOCK_ROWS = 4096

# Predictions reuse networks kept on the estimator instead of creating one per call
# (allocating and first touching a workspace: 40-70 us, 22% of a 100-row call on the
# digits model): networks of at most _SMALL_ROWS rows for the handful of rows a
# service predicts at a time, and of _POOL_ROWS rows for anything larger. The core
# predicts in blocks of its own choosing, at most the network's rows (about 256 KB of
# activations: 256 rows of the digits model), so a pooled network keeps only those
# pages and its packing buffers resident; the results do not depend on the blocks.
_SMALL_ROWS = 64
_POOL_ROWS = 1024


# More threads than a few per CPU only costs; read once (os.cpu_count is a system call
# that a one-row predict would otherwise pay every time).
_MAX_THREADS = 4 * (os.cpu_count() or 1)


def _resolve_n_threads(n_threads) -> int:
    """Threads for the core: ``n_threads``, or what OpenMP would use by default.

    The default honours ``OMP_NUM_THREADS`` and threadpoolctl's limits. In a
    child made by ``fork`` it is always 1: GNU OpenMP's thread pool does not
    survive a fork, and a parallel region in the child would hang.
    """
    if forked_child():
        return 1
    if n_threads is not None:
        # Results do not depend on the count, and a runtime asked for thousands
        # of threads may fail to create them.
        return min(int(n_threads), _MAX_THREADS)
    return max(1, _core.max_threads())


class BaseMultilayerPerceptron(BaseEstimator, metaclass=ABCMeta):
    """Base class for bpfast's MLPs; use MLPClassifier or MLPRegressor."""

    # The constraints are scikit-learn's own, so every invalid value raises the
    # same InvalidParameterError with the same message.
    _parameter_constraints: dict = {
        **{k: v for k, v in _SkMLPRegressor._parameter_constraints.items() if k != "loss"},
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "progress": ["boolean"],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        solver,
        alpha,
        batch_size,
        learning_rate,
        learning_rate_init,
        power_t,
        max_iter,
        loss,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        momentum,
        nesterovs_momentum,
        early_stopping,
        validation_fraction,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_fun,
        n_threads,
        progress,
    ):
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.n_threads = n_threads
        self.progress = progress

    # ------------------------------------------------------------------ helpers

    def _layer_units(self):
        return [self.n_features_in_, *self._hidden_sizes(), self.n_outputs_]

    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if np.any(np.array(sizes) <= 0):
            raise ValueError("hidden_layer_sizes must be > 0, got %s." % sizes)
        return sizes

    def _loss_name(self) -> str:
        if self.loss == "log_loss" and self.out_activation_ == "logistic":
            return "binary_log_loss"
        return self.loss

    def _network(self, layer_units, itemsize, max_rows, n_threads=None, variant=None):
        return _core.Network(
            layer_units,
            self.activation,
            self.out_activation_,
            self._loss_name(),
            itemsize,
            max_rows,
            _resolve_n_threads(self.n_threads) if n_threads is None else n_threads,
            kernel_variant() if variant is None else variant,
        )

    def _set_params_from_slab(self, slab, layer_units):
        self.coefs_, self.intercepts_ = unpack(slab, layer_units)
        self._slab_cache = (slab, list(self.coefs_), list(self.intercepts_))
        self._predict_nets = {}

    def _predict_into(self, layer_units, slab, X, out):
        """Output activations of X's rows into out, through the C core.

        The network comes from the estimator's pool (keyed by everything a network
        is built from, its rows included) and goes back afterwards; concurrent
        callers each get their own, since list.pop and list.append are atomic.
        """
        pool = getattr(self, "_predict_nets", None)
        rows = _SMALL_ROWS if X.shape[0] <= _SMALL_ROWS else _POOL_ROWS
        free = None
        if pool is None:
            net = self._network(layer_units, out.itemsize, min(X.shape[0], rows))
        else:
            n_threads, variant = _resolve_n_threads(self.n_threads), kernel_variant()
            key = (tuple(layer_units), out.itemsize, rows, n_threads, variant)
            free = pool.setdefault(key, [])
            try:
                net = free.pop()
            except IndexError:
                net = self._network(layer_units, out.itemsize, rows, n_threads, variant)
        try:
            net.predict(slab, core_matrix(X, out.dtype), out)
        finally:
            if free is not None:
                free.append(net)

    # ------------------------------------------------------------------ fitting

    def _stops_early(self) -> bool:
        """Whether a fit scores each epoch on held-out rows and ends on the best weights.

        Only the stochastic solvers do; L-BFGS ignores ``early_stopping``.
        """
        return self.solver in _STOCHASTIC_SOLVERS and bool(self.early_stopping)

    def _initialize(self, y, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        if not is_classifier(self):
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"
        slab = glorot_slab(self._random_state, layer_units, self.activation, dtype)
        self.coefs_, self.intercepts_ = unpack(slab, layer_units)
        if self._stops_early():
            # The weights restored when no epoch's validation score is a number.
            # scikit-learn copies them for every solver, but reads them only when
            # stopping early: elsewhere the copy is a second model to fault in and
            # keep (41 ms of a (2048, 2048) network's serial start on the Zen 5 VM).
            self._best_coefs = [c.copy() for c in self.coefs_]
            self._best_intercepts = [i.copy() for i in self.intercepts_]
        else:
            for name in ("_best_coefs", "_best_intercepts"):
                self.__dict__.pop(name, None)
        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None
        return slab

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden_sizes = self._hidden_sizes()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [X.shape[1], *hidden_sizes, self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        self.n_layers_ = len(layer_units)
        if first_pass:
            # coefs_ and intercepts_ are views of the new slab, trained in place
            slab = self._initialize(y, layer_units, X.dtype)
        else:
            # After an early-stopping fit scikit-learn's coefs_ *are* its _best_coefs,
            # so a warm-started fit trains the "best" weights in place until it finds
            # a new best; keep that aliasing so both give the same numbers.
            best_aliased = getattr(self, "_best_coefs", None) is self.coefs_
            slab = pack(self.coefs_, self.intercepts_, layer_units, X.dtype)
            if best_aliased:
                self._best_coefs, self._best_intercepts = unpack(slab, layer_units)
        Y = np.ascontiguousarray(y, dtype=X.dtype)
        sw = None if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=X.dtype)
        try:
            if self.solver in _STOCHASTIC_SOLVERS:
                self._fit_stochastic(X, Y, sw, slab, layer_units, incremental)
            else:
                self._fit_lbfgs(X, Y, sw, slab, layer_units)
        finally:
            if not self._stops_early():
                self._set_params_from_slab(slab, layer_units)

        weights = self.coefs_ + self.intercepts_
        if not all(np.isfinite(w).all() for w in weights):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        return self

    def _optimizer_state_for(self, slab, incremental):
        """Velocities (sgd) or first and second moments (adam), kept across partial_fit."""
        size = slab.shape[0] * (2 if self.solver == "adam" else 1)
        state = getattr(self, "_optimizer_state", None)
        if (
            incremental
            and state is not None
            and state.shape[0] == size
            and getattr(self, "_optimizer_solver", None) == self.solver
        ):
            return as_aligned(state, slab.dtype)
        self._optimizer_solver = self.solver
        self._optimizer_t = 0
        self._optimizer_learning_rate = float(self.learning_rate_init)
        return aligned_zeros(size, slab.dtype)

    def _fit_stochastic(self, X, Y, sw, slab, layer_units, incremental):
        state = self._optimizer_state_for(slab, incremental)
        self._optimizer_state = state

        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        n_total = X.shape[0]
        if early_stopping:
            # Split row indices with the very draws train_test_split makes on X.
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = Y.astype(bool) if should_stratify else None
            train_idx, val_idx = train_test_split(
                np.arange(n_total),
                random_state=self._random_state,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            if val_idx.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            X_val = X[val_idx]
            y_val = Y[val_idx]
            sw_val = None if sw is None else sw[val_idx]
            if is_classifier(self):
                y_val = self._label_binarizer.inverse_transform(y_val.astype(bool))
            elif y_val.shape[1] == 1:
                y_val = y_val.ravel()
            train_idx = train_idx.astype(np.int64)
        else:
            train_idx = None
            X_val = y_val = sw_val = None

        n_samples = n_total if train_idx is None else train_idx.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than "
                    "sample size. It is going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        net = self._network(layer_units, slab.dtype.itemsize, batch_size)
        Xc = core_matrix(X, slab.dtype)
        try:
            # The bar closes on any exit, before the warning below is shown.
            with progress_bar(
                self.progress, 1 if incremental else self.max_iter, type(self).__name__, "epoch"
            ) as bar:
                self.n_iter_ = 0
                for _ in range(self.max_iter):
                    if self.shuffle:
                        sample_idx = _shuffled(sample_idx, self._random_state)
                        order = sample_idx if train_idx is None else train_idx[sample_idx]
                        order = np.ascontiguousarray(order, dtype=np.int64)
                    else:
                        order = train_idx
                    accumulated_loss, self._optimizer_t = net.train_epoch(
                        slab,
                        state,
                        self.solver,
                        self._optimizer_learning_rate,
                        self.momentum,
                        self.nesterovs_momentum,
                        self.beta_1,
                        self.beta_2,
                        self.epsilon,
                        self._optimizer_t,
                        self.alpha,
                        Xc,
                        Y,
                        sw,
                        order,
                        n_samples,
                        batch_size,
                    )
                    self.n_iter_ += 1
                    self.loss_ = accumulated_loss / n_samples
                    self.t_ += n_samples
                    self.loss_curve_.append(self.loss_)
                    if self.verbose:
                        print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                    if bar is not None:
                        bar.update(self.n_iter_, self.loss_)

                    self._update_no_improvement_count(
                        early_stopping, X_val, y_val, sw_val, slab, layer_units
                    )
                    if self.solver == "sgd" and self.learning_rate == "invscaling":
                        self._optimizer_learning_rate = float(self.learning_rate_init) / (
                            self.t_ + 1
                        ) ** self.power_t

                    if self._no_improvement_count > self.n_iter_no_change:
                        if early_stopping:
                            msg = (
                                "Validation score did not improve more than "
                                "tol=%f for %d consecutive epochs."
                                % (self.tol, self.n_iter_no_change)
                            )
                        else:
                            msg = (
                                "Training loss did not improve more than tol=%f"
                                " for %d consecutive epochs." % (self.tol, self.n_iter_no_change)
                            )
                        if self._trigger_stopping(msg):
                            break
                        self._no_improvement_count = 0

                    if incremental:
                        break
                    if self.n_iter_ == self.max_iter:
                        warnings.warn(
                            "Stochastic Optimizer: Maximum iterations (%d) "
                            "reached and the optimization hasn't converged yet." % self.max_iter,
                            ConvergenceWarning,
                        )
        except KeyboardInterrupt:
            warnings.warn(INTERRUPTED)

        if early_stopping:
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts

    def _trigger_stopping(self, msg) -> bool:
        """scikit-learn's SGD/Adam stopping rule; 'adaptive' divides the rate by 5."""
        if self.solver != "sgd" or self.learning_rate != "adaptive":
            if self.verbose:
                print(msg + " Stopping.")
            return True
        if self._optimizer_learning_rate <= 1e-6:
            if self.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self._optimizer_learning_rate /= 5.0
        if self.verbose:
            print(msg + " Setting learning rate to %f" % self._optimizer_learning_rate)
        return False

    def _update_no_improvement_count(self, early_stopping, X_val, y_val, sw_val, slab, layer_units):
        if early_stopping:
            self._set_params_from_slab(slab, layer_units)
            val_score = self._score(X_val, y_val, sample_weight=sw_val)
            if self.verbose:
                print("Validation score: %f" % val_score)
            if val_score < (self.best_validation_score_ + self.tol):
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if val_score > self.best_validation_score_:
                # Copy first, then record weights and score in one step, so a Ctrl-C
                # during the copies cannot pair the new score with older weights.
                best = ([c.copy() for c in self.coefs_], [i.copy() for i in self.intercepts_])
                self._best_coefs, self._best_intercepts, self.best_validation_score_ = (
                    *best,
                    val_score,
                )
            # Appended last (scikit-learn appends first; the end state is the same): an
            # epoch whose score is listed has its best weights recorded.
            self.validation_scores_.append(val_score)
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _fit_lbfgs(self, X, Y, sw, slab, layer_units):
        dtype = slab.dtype
        # Blocks of rows small enough that Ctrl-C is checked every few tens of ms
        # however wide the layers (the result does not depend on the block size).
        macs_per_row = 3 * sum(a * b for a, b in zip(layer_units[:-1], layer_units[1:]))
        block = int(np.clip(2e8 / max(macs_per_row, 1), 64, _BLOCK_ROWS))
        net = self._network(layer_units, dtype.itemsize, min(X.shape[0], block))
        Xc = core_matrix(X, dtype)
        grad = aligned_empty(slab.shape[0], dtype)
        progress = {"loss": np.inf, "iterations": 0}

        def loss_and_grad(theta):
            slab[...] = theta
            loss = net.loss_grad(slab, Xc, Y, sw, self.alpha, grad)
            progress["loss"] = loss
            return loss, grad.astype(np.float64)

        def count_iteration(_):
            progress["iterations"] += 1
            if bar is not None:
                bar.update(progress["iterations"], progress["loss"])

        options = {"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol}
        if _LBFGS_TAKES_IPRINT:  # scikit-learn's verbose output, where scipy prints it
            options["iprint"] = 1 if self.verbose else -1
        try:
            # The bar closes on any exit, before a warning is shown. SciPy's L-BFGS-B runs
            # its vector algebra through BLAS between our evaluations: on one BLAS thread,
            # so that OpenBLAS's waiting threads and the core's OpenMP threads do not
            # take turns on the cores (two threads ran a small fit 5-8x slower than one),
            # and so that its sums do not depend on BLAS's thread count either.
            with progress_bar(
                self.progress, self.max_iter, type(self).__name__, "iter"
            ) as bar, threadpool_limits(1, user_api="blas"):
                opt_res = scipy.optimize.minimize(
                    loss_and_grad,
                    slab.astype(np.float64),
                    method="L-BFGS-B",
                    jac=True,
                    callback=count_iteration,
                    options=options,
                )
        except KeyboardInterrupt:
            # Unlike scikit-learn's L-BFGS, keep a usable model, as its stochastic
            # solvers do: the weights of the last finished evaluation.
            warnings.warn(INTERRUPTED)
            self.n_iter_ = progress["iterations"]
            self.loss_ = float(progress["loss"])
            return
        self.n_iter_ = _lbfgs_n_iter(opt_res, self.max_iter)
        self.loss_ = float(opt_res.fun)
        slab[...] = opt_res.x

    # --------------------------------------------------------------- prediction

    def _check_fitted(self):
        """Raise scikit-learn's NotFittedError unless fitted (cheap when fitted)."""
        if not hasattr(self, "coefs_"):
            check_is_fitted(self)

    def _validate_for_predict(self, X):
        """scikit-learn's predict-time validation, skipped when it could not change X.

        A plain float32/float64 2-D array of the fitted width, for a model fitted
        without feature names, passes validate_data unchanged when finite; taking
        it as it is keeps one-row predictions cheap. The C core checks that it is
        finite as it reads it (see _forward_pass_fast). Anything else goes through
        validate_data, which converts it or raises scikit-learn's error.
        """
        if (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in (np.float32, np.float64)
            and X.shape[0] > 0
            and X.shape[1] == getattr(self, "n_features_in_", -1)
            and not hasattr(self, "feature_names_in_")
        ):
            return X
        # Any numeric dtype is accepted: the output dtype follows numpy's
        # promotion of X's dtype with the weights' (as X @ coefs_ would). A
        # frame of float32 columns is read as float32, as a float32 array is.
        return validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=frame_float_dtype(X, "numeric"),
            reset=False,
        )

    def _packed_params(self, layer_units, dtype):
        """The parameter slab for prediction: the one from fit when coefs_ and
        intercepts_ are still its views, else a fresh copy of them."""
        cache = getattr(self, "_slab_cache", None)
        if cache is not None:
            slab, coefs, intercepts = cache
            if (
                slab.dtype == dtype
                and len(self.coefs_) == len(coefs)
                and len(self.intercepts_) == len(intercepts)
                and all(map(operator.is_, self.coefs_, coefs))
                and all(map(operator.is_, self.intercepts_, intercepts))
            ):
                return slab
        return pack(self.coefs_, self.intercepts_, layer_units, dtype)

    def _forward_pass_fast(self, X, check_input=True):
        """Output-layer activations for X, computed by the C core."""
        if check_input:
            X = self._validate_for_predict(X)
        coef_dtype = np.asarray(self.coefs_[0]).dtype
        dtype = X.dtype if X.dtype == coef_dtype else np.result_type(X.dtype, coef_dtype)
        if dtype.char not in "fd":   # float16 etc.: compute as numpy would, in float64
            dtype = np.dtype(np.float64)
        layer_units = weight_layer_units(self)
        out = np.empty((X.shape[0], layer_units[-1]), dtype=dtype)
        if X.shape[0]:
            try:
                self._predict_into(layer_units, self._packed_params(layer_units, dtype), X, out)
            except NonFiniteInputError:
                pass
            else:
                return out
            # Raised here, outside the handler, so that the traceback shows only
            # scikit-learn's error naming NaN or infinity and the input.
            validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
            raise NonFiniteInputError(   # finite as given, not once converted (float128)
                f"Input X contains values that are not finite in {dtype}."
            )
        return out

    def __getstate__(self):
        # a copy: BaseEstimator may hand back the live __dict__
        state = dict(super().__getstate__())
        state.pop("_slab_cache", None)   # fitted state stays plain arrays
        state.pop("_predict_nets", None)   # workspaces, not state
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if not hasattr(self, "coefs_"):
            return
        # Rebuild what __getstate__ left out: coefs_ and intercepts_ as views of one
        # slab (equal values), so predictions use it directly, as after fit.
        self._predict_nets = {}
        try:
            dtype = weights_dtype(self.coefs_ + self.intercepts_)
            layer_units = weight_layer_units(self)
            slab = pack(self.coefs_, self.intercepts_, layer_units, dtype)
        except (ValueError, TypeError, IndexError, AttributeError):
            return   # weights a user reshaped: predict reports it, as before pickling
        best = best_is_current(self)
        self._set_params_from_slab(slab, layer_units)
        if best:
            make_best_current(self)

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver
            )
        return True

    def to_sklearn(self) -> BaseEstimator:
        """Return the equivalent scikit-learn estimator.

        A plain ``sklearn.neural_network.MLPClassifier`` or ``MLPRegressor``
        with the parameters scikit-learn has (all but ``n_threads`` and
        ``progress``) and, if this estimator is fitted, copies of its fitted
        attributes: it predicts the same values (up to rounding from a
        different order of summation) and, for the 'sgd' and 'adam' solvers, continues training with
        ``partial_fit`` from the same optimizer state. Tools that know only
        scikit-learn's classes (skl2onnx, for one) accept it.

        Returns
        -------
        estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
            A new estimator that shares no data with this one.

        See Also
        --------
        bpfast.from_sklearn : The reverse conversion.
        """
        from ._interop import to_sklearn

        return to_sklearn(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _shuffled(sample_idx, random_state):
    """``sklearn.utils.shuffle(sample_idx, random_state=random_state)``, without its
    per-call validation: the same single draw (RandomState.shuffle of arange(n))."""
    perm = np.arange(sample_idx.shape[0])
    random_state.shuffle(perm)
    return sample_idx[perm]


def _lbfgs_n_iter(result, max_iter: int) -> int:
    """Iterations of an L-BFGS run, warning as scikit-learn does when it did not converge."""
    n_iter = min(result.nit, max_iter)
    if result.status != 0:
        msg = (
            f"lbfgs failed to converge after {n_iter} iteration(s) "
            f"(status={result.status}):\n{result.message}\n"
        )
        if n_iter == max_iter:
            msg += (
                "\nIncrease the number of iterations to improve the "
                f"convergence (max_iter={max_iter})."
            )
        msg += (
            "\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html"
        )
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    return n_iter
