"""bpfast: scikit-learn's multilayer perceptrons, trained by a threaded C core.

``bpfast.MLPClassifier`` and ``bpfast.MLPRegressor`` take the same parameters,
expose the same attributes and give the same results as scikit-learn's, with
the whole training loop (mini-batches, forward, backward, update) in C.
``bpfast.save`` and ``bpfast.load`` keep fitted models in files that are safe
to load; ``from_sklearn`` and the estimators' ``to_sklearn`` convert to and
from scikit-learn's own classes (and ``bpfast.onnx`` exports to ONNX);
``plot_loss_curve`` draws a fitted model's training loss per epoch.
"""

from ._classifier import MLPClassifier
from ._config import show_config
from ._exceptions import ModelFormatError
from ._interop import from_sklearn
from ._persistence import load, save
from ._plotting import plot_loss_curve
from ._regressor import MLPRegressor
from ._version import __version__

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "ModelFormatError",
    "from_sklearn",
    "load",
    "plot_loss_curve",
    "save",
    "show_config",
    "__version__",
]
