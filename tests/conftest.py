from urllib.error import URLError

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("fastmlp", deadline=None, max_examples=40)
settings.load_profile("fastmlp")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def offline_machine(monkeypatch, tmp_path):
    """No FASTMLP_DATA, an empty scikit-learn data_home, no network, no
    Debian Fashion-MNIST folder: a fresh machine."""
    from fastmlp import datasets

    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sklearn_home"))

    def offline(*args, **kwargs):
        raise URLError("no network in tests")

    monkeypatch.setattr(datasets, "fetch_openml", offline)
    monkeypatch.setitem(datasets._SPECS["fashion-mnist"], "system_dirs", ())
