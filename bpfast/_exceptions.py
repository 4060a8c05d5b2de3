"""Exceptions that bpfast raises itself (scikit-learn's are used everywhere else)."""


class ModelFormatError(ValueError):
    """A file is not a valid bpfast model file.

    Raised by :func:`bpfast.load` for every way a file can be malformed,
    truncated, inconsistent or corrupted; the message names the problem.
    A subclass of :class:`ValueError`.
    """


class NonFiniteInputError(ValueError):
    """The C core found NaN or infinity in the input it was asked to predict on.

    Raised by the prediction kernels, which check each block of a dense input as
    they read it; the estimators turn it into scikit-learn's own message.
    """
