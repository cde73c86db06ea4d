"""A deprecation (numpy 2's, torch's, Python's) raised in neurolearn's own code fails the suite: pyproject.toml's
filterwarnings turn it into an error in whichever test reaches it; elsewhere it is only reported."""
import warnings

import pytest


@pytest.mark.parametrize("category", [DeprecationWarning, PendingDeprecationWarning, FutureWarning])
def test_a_deprecation_in_neurolearn_code_is_an_error(category):
    with pytest.raises(category):
        warnings.warn_explicit("deprecated", category, "neurolearn/ir/plan.py", 1, module="neurolearn.ir.plan")


def test_a_deprecation_in_other_code_is_reported():
    with pytest.warns(DeprecationWarning):
        warnings.warn_explicit("deprecated", DeprecationWarning, "other.py", 1, module="otherpackage.neurolearn")
