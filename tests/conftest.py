import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("fastmlp", deadline=None, max_examples=40)
settings.load_profile("fastmlp")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
