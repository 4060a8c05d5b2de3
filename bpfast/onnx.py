"""Export bpfast models to ONNX with skl2onnx.

:func:`register` teaches skl2onnx bpfast's MLPClassifier and MLPRegressor, so
``skl2onnx.to_onnx`` converts them on their own or inside a scikit-learn
``Pipeline``. The classifier reuses skl2onnx's converter for scikit-learn's
MLPClassifier, with the same options (``zipmap``, ``output_class_labels``,
``nocl``); the regressor reuses its forward pass, and also handles several
outputs and the Poisson loss's exponential output, which skl2onnx's own
MLPRegressor converter does not.

This module needs skl2onnx (``pip install skl2onnx``; onnxruntime runs the
result). ``import bpfast`` alone never imports it.

Examples
--------
>>> import numpy as np, bpfast, bpfast.onnx
>>> from skl2onnx import to_onnx
>>> X = np.random.RandomState(0).normal(size=(50, 3)).astype(np.float32)
>>> clf = bpfast.MLPClassifier(solver="lbfgs", random_state=0).fit(X, X[:, 0] > 0)
>>> bpfast.onnx.register()
>>> onx = to_onnx(clf, X[:1], options={bpfast.MLPClassifier: {"zipmap": False}})
"""

from __future__ import annotations

from types import SimpleNamespace

try:
    from skl2onnx import update_registered_converter
    from skl2onnx.common._apply_operation import apply_reshape
    from skl2onnx.common._registration import get_converter
    from skl2onnx.common.data_types import guess_proto_type
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from skl2onnx.operator_converters.multilayer_perceptron import (
        _predict,
        convert_sklearn_mlp_classifier,
    )
    from skl2onnx.proto import onnx_proto
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("bpfast.onnx needs skl2onnx; install it with `pip install skl2onnx`") from exc

from ._classifier import MLPClassifier
from ._regressor import MLPRegressor

__all__ = ["register"]


def register() -> None:
    """Register converters for bpfast's estimators with skl2onnx.

    After this call, ``skl2onnx.to_onnx`` and ``convert_sklearn`` convert
    ``bpfast.MLPClassifier`` and ``bpfast.MLPRegressor``, alone or as steps of
    a Pipeline, into the same graph as scikit-learn's MLPs (MatMul, Add and
    the activations). Options are given per class, as for scikit-learn's
    classifiers: ``options={bpfast.MLPClassifier: {"zipmap": False}}``.
    Calling it again is harmless.

    Alternatively, convert ``estimator.to_sklearn()``, which needs no
    registration but is limited to what skl2onnx's converters support.
    """
    update_registered_converter(
        MLPClassifier,
        "BpfastMLPClassifier",
        _classifier_output_shapes,
        convert_sklearn_mlp_classifier,
        options=get_converter("SklearnMLPClassifier").get_allowed_options(),
    )
    update_registered_converter(
        MLPRegressor,
        "BpfastMLPRegressor",
        _regressor_output_shapes,
        _convert_regressor,
    )


def _classifier_output_shapes(operator) -> None:
    """skl2onnx's shapes for classifiers, with [N, n_labels] labels for a multilabel model."""
    calculate_linear_classifier_output_shapes(operator)
    model = operator.raw_operator
    if model._label_binarizer.y_type_ == "multilabel-indicator":
        label = operator.outputs[0]
        n_rows = operator.inputs[0].get_first_dimension()
        label.set_type(label.type.__class__([n_rows, model.n_outputs_]))


def _regressor_output_shapes(operator) -> None:
    """[N, C] -> [N, n_outputs_] (skl2onnx's calculator assumes one output)."""
    calculate_linear_regressor_output_shapes(operator)
    output = operator.outputs[0]
    n_rows = operator.inputs[0].get_first_dimension()
    output.set_type(output.type.__class__([n_rows, operator.raw_operator.n_outputs_]))


def _convert_regressor(scope, operator, container) -> None:
    """skl2onnx's MLP forward pass, then Exp for the Poisson loss, then [N, n_outputs_]."""
    model = operator.raw_operator
    proto_dtype = guess_proto_type(operator.inputs[0].type)
    if proto_dtype != onnx_proto.TensorProto.DOUBLE:
        proto_dtype = onnx_proto.TensorProto.FLOAT
    exp_output = model.out_activation_ == "exp"
    # skl2onnx's forward pass has no 'exp' output activation: give it the
    # network with an identity output and apply Exp after it.
    network = SimpleNamespace(
        coefs_=model.coefs_,
        intercepts_=model.intercepts_,
        n_layers_=model.n_layers_,
        activation=model.activation,
        out_activation_="identity" if exp_output else model.out_activation_,
    )
    y = _predict(scope, operator.inputs[0].full_name, container, network, proto_dtype)
    if exp_output:
        exp_name = scope.get_unique_variable_name("exp_output")
        container.add_node("Exp", y, exp_name, name=scope.get_unique_operator_name("Exp"))
        y = exp_name
    apply_reshape(
        scope, y, operator.output_full_names, container, desired_shape=(-1, model.n_outputs_)
    )
