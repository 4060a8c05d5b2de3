"""bpfast: scikit-learn's multilayer perceptrons, trained by a threaded C core.

``bpfast.MLPClassifier`` and ``bpfast.MLPRegressor`` take the same parameters,
expose the same attributes and give the same results as scikit-learn's, with
the whole training loop (mini-batches, forward, backward, update) in C.
"""

from ._classifier import MLPClassifier
from ._config import show_config
from ._regressor import MLPRegressor
from ._version import __version__

__all__ = ["MLPClassifier", "MLPRegressor", "show_config", "__version__"]
