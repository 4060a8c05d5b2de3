"""scikit-learn's estimator checks, run on bpfast's estimators with no expected failures."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from bpfast import MLPClassifier, MLPRegressor

# Parameters a scikit-learn user would pick; scikit-learn's own common tests
# run its MLPs with max_iter=100 too.
ESTIMATORS = [
    MLPClassifier(max_iter=100, random_state=0),
    MLPRegressor(max_iter=100, random_state=0),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: {})
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
