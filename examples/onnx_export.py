"""Export a bpfast model to ONNX and run it with onnxruntime.

Needs ``pip install skl2onnx onnxruntime``. ``bpfast.onnx.register()`` teaches
skl2onnx bpfast's estimators, so a whole scikit-learn Pipeline around one
converts into a single ONNX graph.
"""

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import bpfast
import bpfast.onnx

X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = make_pipeline(
    StandardScaler(), bpfast.MLPClassifier((32,), early_stopping=True, random_state=0)
)
model.fit(X_train, y_train)

bpfast.onnx.register()
onx = to_onnx(
    model,
    X_train[:1],  # float32 input of the right width
    options={bpfast.MLPClassifier: {"zipmap": False}},  # probabilities as a plain matrix
)
with open("digits_mlp.onnx", "wb") as f:
    f.write(onx.SerializeToString())

session = ort.InferenceSession("digits_mlp.onnx", providers=["CPUExecutionProvider"])
labels, probabilities = session.run(None, {session.get_inputs()[0].name: X_test})
print("labels equal:", bool((labels == model.predict(X_test)).all()))
print(
    "max |probability difference|:",
    float(np.abs(probabilities - model.predict_proba(X_test)).max()),
)
