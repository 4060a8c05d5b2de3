"""Exceptions that bpfast raises itself (scikit-learn's are used everywhere else)."""


class ModelFormatError(ValueError):
    """A file is not a valid bpfast model file.

    Raised by :func:`bpfast.load` for every way a file can be malformed,
    truncated, inconsistent or corrupted; the message names the problem.
    A subclass of :class:`ValueError`.
    """
