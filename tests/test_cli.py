"""The main job: ``fastmlp train``."""

import json
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp import cli, datasets

from _testutils import mnist_dir


def test_train_on_digits_writes_a_loadable_model_and_true_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "--dataset", "digits", "--epochs", "3", "--hidden", "32,16",
                     "--batch-size", "64", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "epoch   3/3" in printed and "val_accuracy" in printed
    assert "confusion matrix" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 3
    assert set(metrics["history"][0]) == {"epoch", "loss", "accuracy", "val_loss",
                                          "val_accuracy", "seconds"}
    assert metrics["config"]["hidden"] == [32, 16] and metrics["config"]["epochs"] == 3
    # Recompute the reported figures from the saved model, independently.
    model = fastmlp.load(out / "model.joblib")
    data = datasets.load_digits_split()
    y_pred = model.predict(data.X_test)
    assert metrics["test_accuracy"] == pytest.approx(np.mean(y_pred == data.y_test))
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.sum() == len(data.y_test)
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["test_accuracy"])
    # Keras' validation_split: the last 20% of the training images.
    n_val = round(0.2 * len(data.X_train))
    proba = model.predict_proba(data.X_train[-n_val:])
    val_accuracy = np.mean(model.classes_[proba.argmax(1)] == data.y_train[-n_val:])
    assert metrics["history"][-1]["val_accuracy"] == pytest.approx(val_accuracy)
    assert metrics["n_validation"] == n_val


def test_no_validation_split(tmp_path, capsys):
    code = cli.main(["train", "--dataset", "digits", "--epochs", "1",
                     "--validation-split", "0", "--out", str(tmp_path)])
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["history"][0]["val_loss"] is None and metrics["n_train"] == 1437


def test_fresh_offline_machine_falls_back_to_digits_and_says_so(offline_machine, capsys):
    code = cli.main(["train", "--epochs", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Looked in" in printed and "$FASTMLP_DATA (not set)" in printed
    assert "training on scikit-learn's bundled 8x8 digits instead" in printed
    assert "test accuracy" in printed


def test_a_named_data_folder_that_is_empty_is_an_error(offline_machine, tmp_path, capsys):
    code = cli.main(["train", "--epochs", "1", "--data", str(tmp_path / "empty")])
    assert code == 2
    assert "mnist was not found" in capsys.readouterr().err


def test_data_names_the_root_folder_so_data_sets_never_mix(offline_machine, tmp_path,
                                                          capsys):
    # An MNIST folder passed for fashion-mnist must not be read as Fashion-MNIST.
    (tmp_path / "mnist").mkdir()
    code = cli.main(["train", "--dataset", "fashion-mnist", "--epochs", "1",
                     "--data", str(tmp_path)])
    assert code == 2
    assert "fashion-mnist was not found" in capsys.readouterr().err


def test_unusable_out_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--dataset", "digits", "--out", str(blocker)])
    assert info.value.code == 2
    err = capsys.readouterr()
    assert "--out" in err.err and "epoch" not in err.out


@pytest.mark.parametrize("argv", [
    ["train", "--hidden", "128,abc"], ["train", "--hidden", "0"],
    ["train", "--hidden", "10,,5"],
    ["train", "--epochs", "0"], ["train", "--activation", "swish"],
    ["train", "--validation-split", "1.5"], ["train", "--threads", "0"],
    ["train", "--learning-rate", "0"], ["train", "--alpha", "-1"],
    ["train", "--batch-size", "x"],
])
def test_bad_flags_exit_with_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_python_dash_m_entry_point(tmp_path):
    # From an empty folder: `python -m` puts the working directory on sys.path,
    # and the installed package (with its compiled kernels) must be the one found.
    result = subprocess.run([sys.executable, "-m", "fastmlp", "train", "--help"],
                            capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "--hidden" in result.stdout and "--out" in result.stdout


@pytest.mark.slow
def test_main_job_reaches_peer_accuracy_on_real_mnist(tmp_path, capsys):
    """The tutorial network with the defaults: >= 97.5% test accuracy."""
    data_root = mnist_dir().parent
    code = cli.main(["train", "--data", str(data_root), "--out", str(tmp_path)])
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n_train"] == 48000 and metrics["n_validation"] == 12000
    assert metrics["n_test"] == 10000 and len(metrics["history"]) == 20
    assert metrics["test_accuracy"] >= 0.975
    print(f"real MNIST test accuracy {metrics['test_accuracy']:.4f}", file=sys.stderr)
