# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Thin wrapper over the C core (csrc/bp_core.h).

Checks buffers (dtype, C-contiguity, shapes), releases the GIL around every call
into C, turns C status codes into Python exceptions, and gives Ctrl-C a way in
between chunks of mini-batches. All validation of user input happens before this
layer, in the estimators.
"""
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cython cimport floating
from libc.stdint cimport int64_t
from libc.stdlib cimport getenv
from time import perf_counter

from ._exceptions import NonFiniteInputError

cdef extern from "bp_core.h" nogil:
    ctypedef enum bp_status:
        BP_OK
        BP_ERR_NOMEM
        BP_ERR_INVALID
        BP_ERR_OVERFLOW
        BP_ERR_NONFINITE

    ctypedef struct bp_matrix:
        const void *dense
        const int64_t *indptr
        const int64_t *indices
        const void *values
        int64_t n_rows
        int64_t n_cols

    ctypedef struct bp_optim:
        int solver
        double learning_rate
        double momentum
        int nesterov
        double beta_1, beta_2, epsilon
        int64_t t
        double alpha

    ctypedef struct bp_net:
        pass

    bp_status bp_net_create(bp_net **out, int n_layers, const int64_t *widths,
                            int hidden_act, int out_act, int loss, int elem_size,
                            int64_t max_rows, int n_threads, int isa)
    void bp_net_free(bp_net *net)
    int64_t bp_net_n_params(const bp_net *net)
    int bp_max_threads()
    int bp_openmp_enabled()
    int bp_openmp_version()
    int bp_best_isa()
    int bp_isa_available(int isa)
    int bp_net_isa(const bp_net *net)

    bp_status bp_grad_accumulate_f32(bp_net *net, const float *params, const bp_matrix *X,
                                     const float *Y, const float *sw, const int64_t *rows,
                                     int64_t row0, int64_t n_rows, int first, float *grad,
                                     double *sums)
    bp_status bp_grad_finish_f32(bp_net *net, const float *params, double alpha, float *grad,
                                 const double *sums, double *loss)
    bp_status bp_train_batches_f32(bp_net *net, float *params, bp_optim *opt,
                                   float *opt_state, const bp_matrix *X, const float *Y,
                                   const float *sw, const int64_t *order, int64_t n,
                                   int64_t batch_size, int64_t batch_begin,
                                   int64_t batch_end, double *accumulated_loss)
    bp_status bp_grad_accumulate_f64(bp_net *net, const double *params, const bp_matrix *X,
                                     const double *Y, const double *sw, const int64_t *rows,
                                     int64_t row0, int64_t n_rows, int first, double *grad,
                                     double *sums)
    bp_status bp_grad_finish_f64(bp_net *net, const double *params, double alpha, double *grad,
                                 const double *sums, double *loss)
    bp_status bp_train_batches_f64(bp_net *net, double *params, bp_optim *opt,
                                   double *opt_state, const bp_matrix *X, const double *Y,
                                   const double *sw, const int64_t *order, int64_t n,
                                   int64_t batch_size, int64_t batch_begin,
                                   int64_t batch_end, double *accumulated_loss)
    bp_status bp_predict_f32(bp_net *net, const float *params, const bp_matrix *X,
                             float *out)
    bp_status bp_predict_f64(bp_net *net, const double *params, const bp_matrix *X,
                             double *out)

ACTIVATIONS = {"identity": 0, "logistic": 1, "tanh": 2, "relu": 3, "softmax": 4, "exp": 5}
LOSSES = {"squared_error": 0, "log_loss": 1, "binary_log_loss": 2, "poisson": 3}
SOLVERS = {"sgd": 0, "adam": 1}
ISAS = {"auto": -1, "baseline": 0, "avx2": 1, "avx512": 2}
_ISA_NAMES = {v: k for k, v in ISAS.items()}

# Ctrl-C is checked between chunks of work sized to take about this long; the
# size adapts to the measured speed, so a loaded machine still answers promptly.
cdef double _CHUNK_SECONDS = 0.05
# First guess of the speed (multiply-adds per second) before anything is measured.
cdef double _GUESS_RATE = 2.0e9


cdef extern from *:
    """
    /* Set in the child of every fork() of this process, by the C library itself
     * (pthread_atfork): os.fork, multiprocessing, and servers that fork from C
     * without running Python's fork hooks alike. Windows has no fork. */
    #if defined(_WIN32)
    static int bpfast_forked = 0;
    static int bpfast_watch_forks(void) { return 0; }
    #else
    #include <pthread.h>
    static volatile int bpfast_forked = 0;
    static void bpfast_note_fork(void) { bpfast_forked = 1; }
    static int bpfast_watch_forks(void) { return pthread_atfork(NULL, NULL, bpfast_note_fork); }
    #endif
    """
    int bpfast_forked
    int bpfast_watch_forks()


if bpfast_watch_forks() != 0:
    raise ImportError("bpfast: pthread_atfork failed (out of memory)")


def forked():
    """True in a process forked (by any fork()) from the one that imported bpfast."""
    return bpfast_forked != 0


def environ_value(const char *name):
    """The environment variable `name` (bytes) as the C runtime holds it, as bytes, or
    None when unset. os.environ's changes reach it (they go through putenv); a lookup
    costs tens of nanoseconds where os.environ.get costs a tenth of a one-row predict."""
    cdef const char *value = getenv(name)
    return None if value == NULL else <bytes>value


def max_threads():
    """Threads an OpenMP parallel region would use by default (1 without OpenMP)."""
    return bp_max_threads()


def best_isa():
    """Name of the kernel variant chosen on this CPU when none is forced."""
    return _ISA_NAMES[bp_best_isa()]


def isa_available(str name):
    """True when this build and CPU can run the kernel variant `name`."""
    return name in ISAS and name != "auto" and bool(bp_isa_available(ISAS[name]))


def openmp_version():
    """The OpenMP specification date the core was compiled against (0 without OpenMP)."""
    return bp_openmp_version()


def openmp_enabled():
    """True when the core was compiled with OpenMP."""
    return bool(bp_openmp_enabled())


cdef int _check(bp_status st) except -1:
    if st == BP_OK:
        return 0
    if st == BP_ERR_NOMEM:
        raise MemoryError("bpfast: could not allocate the training workspace")
    if st == BP_ERR_OVERFLOW:
        raise MemoryError("bpfast: the requested network or batch is too large to address")
    if st == BP_ERR_NONFINITE:
        raise NonFiniteInputError("Input X contains NaN or infinity.")
    raise ValueError("bpfast: invalid arguments passed to the C core (status %d)" % st)


cdef int _check_csr(const int64_t[::1] indptr, const int64_t[::1] indices,
                    int64_t n_cols) except -1:
    """Reject CSR structure the C core could read out of bounds with."""
    cdef Py_ssize_t i, n = indptr.shape[0] - 1
    cdef int64_t nnz = indices.shape[0]
    if indptr[0] != 0 or indptr[n] != nnz:
        raise ValueError("CSR indptr must start at 0 and end at nnz")
    for i in range(n):
        if indptr[i + 1] < indptr[i]:
            raise ValueError("CSR indptr must be non-decreasing")
    for i in range(nnz):
        if indices[i] < 0 or indices[i] >= n_cols:
            raise ValueError("CSR column index %d out of range [0, %d)" % (indices[i], n_cols))
    return 0


cdef class _Matrix:
    """Keeps the buffers of a dense or CSR input alive and describes them to C."""
    cdef bp_matrix m
    cdef object refs

    def __cinit__(self, X, int64_t n_cols):
        cdef const float[:, ::1] d32
        cdef const double[:, ::1] d64
        cdef const float[::1] v32
        cdef const double[::1] v64
        cdef const int64_t[::1] indptr, indices
        self.m.dense = NULL
        self.m.indptr = NULL
        self.m.indices = NULL
        self.m.values = NULL
        self.m.n_cols = n_cols
        if isinstance(X, tuple):      # (indptr, indices, values, n_rows): CSR
            indptr, indices = X[0], X[1]
            if len(indptr) != X[3] + 1:
                raise ValueError("CSR indptr must have n_rows + 1 entries")
            if X[2].dtype.itemsize == 4:
                v32 = X[2]
                self.m.values = &v32[0] if v32.shape[0] else NULL
            else:
                v64 = X[2]
                self.m.values = &v64[0] if v64.shape[0] else NULL
            if self.m.values == NULL:   # no nonzero: any valid pointer, never read
                self.m.values = &indptr[0]
            _check_csr(indptr, indices, n_cols)
            self.m.indptr = &indptr[0]
            self.m.indices = &indices[0] if indices.shape[0] else &indptr[0]
            self.m.n_rows = X[3]
        else:
            if X.shape[1] != n_cols:
                raise ValueError("X has %d columns, the network expects %d" % (X.shape[1], n_cols))
            if X.dtype.itemsize == 4:
                d32 = X
                self.m.dense = &d32[0, 0] if X.shape[0] else NULL
            else:
                d64 = X
                self.m.dense = &d64[0, 0] if X.shape[0] else NULL
            self.m.n_rows = X.shape[0]
        self.refs = X


cdef int64_t _chunk_size(double rate, double work_per_unit):
    """Units of work (batches or rows) that take about _CHUNK_SECONDS at `rate`."""
    return max(1, <int64_t>min(rate * _CHUNK_SECONDS / max(work_per_unit, 1.0), 1e12))


cdef class Network:
    """A network shape and its workspace for one fit or predict call.

    Parameters
    ----------
    widths : sequence of int
        Layer widths, inputs first and outputs last.
    hidden_activation, output_activation, loss : str
        Names as in scikit-learn ('relu', 'softmax', 'log_loss', ...).
    itemsize : int
        4 for float32, 8 for float64.
    max_rows : int
        Largest block of rows processed at once (the mini-batch size in training).
    n_threads : int
        OpenMP threads for the parallel regions.
    isa : str
        Kernel variant: 'auto', 'baseline', 'avx2' or 'avx512'.
    """
    cdef bp_net *net
    cdef readonly int itemsize
    cdef readonly int64_t n_params
    cdef readonly int64_t n_features
    cdef readonly int64_t n_outputs
    cdef readonly int64_t max_rows
    cdef readonly double flops_per_row

    def __cinit__(self, widths, str hidden_activation, str output_activation, str loss,
                  int itemsize, int64_t max_rows, int n_threads=1, str isa="auto"):
        cdef Py_ssize_t n_layers = len(widths) - 1, i
        cdef int64_t *w
        self.net = NULL
        if n_layers < 1:
            raise ValueError("a network needs at least an input and an output width")
        if isa not in ISAS:
            raise ValueError("unknown kernel variant %r; expected one of %s" % (isa, sorted(ISAS)))
        if isa != "auto" and not bp_isa_available(ISAS[isa]):
            raise ValueError("kernel variant %r is not available in this build or on this CPU" % isa)
        w = <int64_t *>PyMem_Malloc(sizeof(int64_t) * (n_layers + 1))
        if w == NULL:
            raise MemoryError()
        try:
            for i in range(n_layers + 1):
                w[i] = widths[i]
            _check(bp_net_create(&self.net, <int>n_layers, w, ACTIVATIONS[hidden_activation],
                                 ACTIVATIONS[output_activation], LOSSES[loss], itemsize,
                                 max_rows, n_threads, ISAS[isa]))
            self.n_features = w[0]
            self.n_outputs = w[n_layers]
            self.flops_per_row = 0
            for i in range(n_layers):
                self.flops_per_row += <double>w[i] * <double>w[i + 1]
        finally:
            PyMem_Free(w)
        self.itemsize = itemsize
        self.max_rows = max_rows
        self.n_params = bp_net_n_params(self.net)

    @property
    def isa(self):
        """Name of the kernel variant this network runs."""
        return _ISA_NAMES[bp_net_isa(self.net)]

    def __dealloc__(self):
        bp_net_free(self.net)

    def loss_grad(self, const floating[::1] params, X, const floating[:, ::1] Y,
                  const floating[::1] sw, double alpha, floating[::1] grad,
                  const int64_t[::1] rows=None):
        """Objective (scikit-learn's batch loss, L2 included) and its gradient.

        Over all rows of X, or over `rows` when given. The gradient is written to
        `grad`; the loss is returned. Rows are processed in chunks (whole blocks
        of max_rows, so the result does not depend on the chunking) with a
        Ctrl-C check between them.
        """
        cdef _Matrix xm = _Matrix(X, self.n_features)
        cdef int64_t n = rows.shape[0] if rows is not None else xm.m.n_rows
        cdef const int64_t *rp = &rows[0] if rows is not None and n > 0 else NULL
        cdef const floating *swp = &sw[0] if sw is not None else NULL
        cdef double loss = 0
        cdef double sums[2]
        cdef int64_t start = 0, part, blocks
        cdef int first = 1
        cdef bp_status st
        cdef double work = 3.0 * self.flops_per_row * self.max_rows   # per block
        self._check_vectors(params.shape[0], grad.shape[0], Y.shape[0], Y.shape[1],
                            xm.m.n_rows, sw.shape[0] if sw is not None else -1)
        if rows is not None:
            self._check_rows(rows, xm.m.n_rows)
        if n < 1:
            raise ValueError("loss_grad needs at least one row")
        blocks = _chunk_size(_GUESS_RATE, work)
        while start < n:
            part = min(blocks * self.max_rows, n - start)
            started = perf_counter()
            with nogil:
                if floating is float:
                    st = bp_grad_accumulate_f32(self.net, &params[0], &xm.m, &Y[0, 0], swp,
                                                rp + start if rp != NULL else NULL, start, part,
                                                first, &grad[0], sums)
                else:
                    st = bp_grad_accumulate_f64(self.net, &params[0], &xm.m, &Y[0, 0], swp,
                                                rp + start if rp != NULL else NULL, start, part,
                                                first, &grad[0], sums)
            _check(st)
            first = 0
            start += part
            if start < n:
                PyErr_CheckSignals()
                blocks = _chunk_size(work * part / self.max_rows
                                     / max(perf_counter() - started, 1e-6), work)
        with nogil:
            if floating is float:
                st = bp_grad_finish_f32(self.net, &params[0], alpha, &grad[0], sums, &loss)
            else:
                st = bp_grad_finish_f64(self.net, &params[0], alpha, &grad[0], sums, &loss)
        _check(st)
        return loss

    def train_epoch(self, floating[::1] params, floating[::1] state, str solver,
                    double learning_rate, double momentum, bint nesterov, double beta_1,
                    double beta_2, double epsilon, int64_t t, double alpha, X,
                    const floating[:, ::1] Y, const floating[::1] sw,
                    const int64_t[::1] order, int64_t n, int64_t batch_size):
        """One epoch of mini-batch training, updating params and state in place.

        Returns ``(accumulated_loss, t)``: the sum of batch loss times batch length
        and the updated Adam step count. A KeyboardInterrupt raised between chunks
        of batches leaves params and state as after the last finished batch.
        """
        cdef _Matrix xm = _Matrix(X, self.n_features)
        cdef bp_optim opt
        cdef double acc = 0
        cdef const floating *swp = &sw[0] if sw is not None else NULL
        cdef const int64_t *op = &order[0] if order is not None else NULL
        cdef int64_t n_batches, b0, b1, chunk
        cdef double work
        cdef bp_status st
        need_state = self.n_params * (2 if solver == "adam" else 1)
        self._check_vectors(params.shape[0], self.n_params, Y.shape[0], Y.shape[1],
                            xm.m.n_rows, sw.shape[0] if sw is not None else -1)
        if state.shape[0] != need_state:
            raise ValueError("optimizer state has %d entries, expected %d"
                             % (state.shape[0], need_state))
        if order is not None:
            if order.shape[0] != n:
                raise ValueError("order must hold n entries")
            self._check_rows(order, xm.m.n_rows)
        elif n > xm.m.n_rows:
            raise ValueError("n exceeds the rows of X")
        if n < 1 or batch_size < 1 or batch_size > self.max_rows:
            raise ValueError("an epoch needs at least one row and a batch size in [1, max_rows]")
        opt.solver = SOLVERS[solver]
        opt.learning_rate = learning_rate
        opt.momentum = momentum
        opt.nesterov = nesterov
        opt.beta_1 = beta_1
        opt.beta_2 = beta_2
        opt.epsilon = epsilon
        opt.t = t
        opt.alpha = alpha
        n_batches = (n + batch_size - 1) // batch_size
        work = 3.0 * batch_size * self.flops_per_row   # multiply-adds per batch
        chunk = _chunk_size(_GUESS_RATE, work)
        b0 = 0
        while b0 < n_batches:
            b1 = min(n_batches, b0 + chunk)
            started = perf_counter()
            with nogil:
                if floating is float:
                    st = bp_train_batches_f32(self.net, &params[0], &opt, &state[0], &xm.m,
                                              &Y[0, 0], swp, op, n, batch_size, b0, b1, &acc)
                else:
                    st = bp_train_batches_f64(self.net, &params[0], &opt, &state[0], &xm.m,
                                              &Y[0, 0], swp, op, n, batch_size, b0, b1, &acc)
            _check(st)
            PyErr_CheckSignals()
            chunk = _chunk_size(work * (b1 - b0) / max(perf_counter() - started, 1e-6), work)
            b0 = b1
        return acc, opt.t

    def predict(self, params, X, out):
        """Output-layer activations for every row of X, written to `out`.

        `params` and `out` have the network's element type. Rows are processed
        in chunks with a Ctrl-C check between them.
        """
        cdef _Matrix xm = _Matrix(X, self.n_features)
        if self.itemsize == 4:
            _predict[float](self, params, xm, out)
        else:
            _predict[double](self, params, xm, out)

    cdef _check_vectors(self, int64_t n_params, int64_t n_grad, int64_t y_rows, int64_t y_cols,
                        int64_t x_rows, int64_t sw_len):
        if n_params != self.n_params or n_grad != self.n_params:
            raise ValueError("parameter vectors must hold %d entries" % self.n_params)
        if y_cols != self.n_outputs or y_rows != x_rows:
            raise ValueError("Y must have shape (%d, %d)" % (x_rows, self.n_outputs))
        if sw_len != -1 and sw_len != x_rows:
            raise ValueError("sample_weight must hold one entry per row of X")

    cdef _check_rows(self, const int64_t[::1] rows, int64_t n_rows):
        cdef Py_ssize_t i
        for i in range(rows.shape[0]):
            if rows[i] < 0 or rows[i] >= n_rows:
                raise IndexError("row index %d out of range [0, %d)" % (rows[i], n_rows))


cdef int _predict(Network self, const floating[::1] params, _Matrix xm,
                  floating[:, ::1] out) except -1:
    cdef bp_matrix part = xm.m
    cdef int64_t r0 = 0, rows, n = xm.m.n_rows, k = self.n_outputs
    cdef double work = self.flops_per_row, started = 0
    cdef bp_status st = BP_OK
    if params.shape[0] != self.n_params:
        raise ValueError("params has %d entries, expected %d" % (params.shape[0], self.n_params))
    if out.shape[0] != n or out.shape[1] != k:
        raise ValueError("out must have shape (%d, %d)" % (n, k))
    rows = _chunk_size(_GUESS_RATE, work)
    while r0 < n:
        part.n_rows = min(rows, n - r0)
        if xm.m.dense != NULL:
            part.dense = <const floating *>xm.m.dense + r0 * self.n_features
        else:
            part.indptr = xm.m.indptr + r0
        if r0 + part.n_rows < n:   # timed only to size the next chunk
            started = perf_counter()
        with nogil:
            if floating is float:
                st = bp_predict_f32(self.net, &params[0], &part, &out[r0, 0])
            else:
                st = bp_predict_f64(self.net, &params[0], &part, &out[r0, 0])
        _check(st)
        r0 += part.n_rows
        if r0 < n:
            PyErr_CheckSignals()
            rows = _chunk_size(work * part.n_rows / max(perf_counter() - started, 1e-6), work)
    return 0
