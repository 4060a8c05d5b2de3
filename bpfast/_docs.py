"""Parameter and attribute documentation shared by the two estimators."""

PARAMETERS = """\
hidden_layer_sizes : array-like of shape (n_layers - 2,) or int, default=(100,)
    The ith element is the number of neurons in the ith hidden layer; ``()``
    means no hidden layer.
activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
    Activation function of the hidden layers.
solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
    The weight optimizer: scipy's L-BFGS-B on the full-batch objective, or
    mini-batch SGD (momentum, Nesterov) or Adam, both run in the C core.
alpha : float, default=0.0001
    Strength of the L2 penalty on the weights (not the biases), divided by the
    sample weight of the batch as scikit-learn does.
batch_size : int or 'auto', default='auto'
    Mini-batch size for 'sgd' and 'adam'; 'auto' is ``min(200, n_samples)``.
learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
    Learning-rate schedule of 'sgd'.
learning_rate_init : float, default=0.001
    Initial step size of 'sgd' and 'adam'.
power_t : float, default=0.5
    Exponent of the 'invscaling' schedule.
max_iter : int, default=200
    Epochs for 'sgd' and 'adam'; iterations for 'lbfgs'.
shuffle : bool, default=True
    Whether to shuffle the samples each epoch ('sgd', 'adam').
random_state : int, RandomState instance or None, default=None
    Seeds the initial weights, the shuffles and the early-stopping split; the
    same seed gives the same draws as scikit-learn's MLP.
tol : float, default=1e-4
    Improvement below which an epoch counts as no progress; 'lbfgs' uses it
    as its gradient tolerance.
verbose : bool, default=False
    Print scikit-learn's progress lines.
warm_start : bool, default=False
    Reuse the fitted weights (and loss history) as the start of the next fit.
momentum : float, default=0.9
    Momentum of 'sgd', in [0, 1].
nesterovs_momentum : bool, default=True
    Use Nesterov's momentum ('sgd' with momentum > 0).
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the data and stop when its score no
    longer improves; the best weights are restored ('sgd', 'adam').
validation_fraction : float, default=0.1
    Share of the training data held out for early stopping, in [0, 1).
beta_1 : float, default=0.9
    Decay of Adam's first-moment estimate, in [0, 1).
beta_2 : float, default=0.999
    Decay of Adam's second-moment estimate, in [0, 1).
epsilon : float, default=1e-8
    Adam's numerical-stability term.
n_iter_no_change : int, default=10
    Epochs without ``tol`` improvement before stopping ('sgd', 'adam').
max_fun : int, default=15000
    Most loss evaluations for 'lbfgs'.
n_threads : int or None, default=None
    OpenMP threads for the C core (bpfast only). None uses what OpenMP would
    use by default, so ``OMP_NUM_THREADS`` and threadpoolctl limits apply.
    Products too small to share, or with too few multiply-adds per value
    they touch and under 16 million in all, run on one thread; results are
    bitwise identical for any thread count.
progress : bool, default=False
    Show a progress bar during ``fit`` and ``partial_fit`` (bpfast only): the
    epoch (L-BFGS iteration) of ``max_iter``, the loss, the elapsed and the
    estimated remaining time. It uses tqdm when installed, else one line on
    stderr, and appears only once a fit has run for 2 seconds. Results do not
    depend on it.
"""

ATTRIBUTES = """\
loss_ : float
    Loss at the end of training (the last epoch's mean for 'sgd'/'adam').
best_loss_ : float or None
    Lowest training loss seen ('sgd', 'adam'); None with early stopping.
loss_curve_ : list of float
    Mean training loss of each epoch ('sgd', 'adam').
validation_scores_ : list of float or None
    Score on the held-out set after each epoch, with early stopping.
best_validation_score_ : float or None
    Best of ``validation_scores_``, with early stopping.
t_ : int
    Samples seen by the solver over all calls.
coefs_ : list of ndarray of shape (n_fan_in, n_fan_out)
    Weight matrices; assigning new ones makes the next ``partial_fit`` or
    warm-started ``fit`` continue from them.
intercepts_ : list of ndarray of shape (n_fan_out,)
    Bias vectors, likewise assignable.
n_features_in_ : int
    Number of features seen during fit.
feature_names_in_ : ndarray of shape (n_features_in_,)
    Feature names seen during fit, when X has string column names.
n_iter_ : int
    Iterations of the last call.
n_layers_ : int
    Number of layers, input and output included.
n_outputs_ : int
    Number of outputs.
out_activation_ : str
    Activation of the output layer.
"""


def estimator_doc(summary: str, extra_params: str, extra_attrs: str, example: str) -> str:
    """Assemble a numpydoc class docstring from the shared sections."""
    return (
        f"{summary}\n\nParameters\n----------\n{extra_params}{PARAMETERS}\n"
        f"Attributes\n----------\n{extra_attrs}{ATTRIBUTES}\nExamples\n--------\n{example}"
    )
