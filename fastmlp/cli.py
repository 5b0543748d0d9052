"""The ``fastmlp`` command: ``fastmlp train`` trains the tutorial's MNIST network.

Defaults are the tutorial's: 784-128-64-10, ReLU, softmax, Adam 1e-3, batch
256, 20 epochs, the last 20% of the training images held out for validation
(as Keras' ``validation_split``), no L2.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, log_loss

import fastmlp
from fastmlp._threads import effective_n_threads
from fastmlp.datasets import DatasetNotFoundError, load_dataset, load_digits_split


def _hidden_sizes(text):
    """'128,64' -> (128, 64); '' -> () (no hidden layer: softmax regression)."""
    parts = text.replace(" ", "").split(",") if text.strip() else []
    try:
        sizes = tuple(int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden must be comma-separated integers like 128,64, got {text!r}"
        ) from None
    if any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden sizes must be > 0, got {text!r}")
    return sizes


def _bounded(kind, minimum, inclusive=True):
    """argparse type: a number of ``kind`` >= minimum (> minimum if not inclusive)."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a valid {kind.__name__}: {text!r}") from None
        if value < minimum or (not inclusive and value == minimum):
            raise argparse.ArgumentTypeError(
                f"must be {'>=' if inclusive else '>'} {minimum}, got {text}")
        return value

    return parse


def _fraction(text):
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(prog="fastmlp", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train", help="train an MLP on MNIST (or fashion-mnist, digits) and test it",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    train.add_argument("--dataset", choices=["mnist", "fashion-mnist", "digits"],
                       default="mnist", help="data set to train and test on")
    train.add_argument("--data", metavar="DIR", default=None,
                       help="folder holding mnist/ and fashion-mnist/ IDX folders; "
                            "when not given: $FASTMLP_DATA, then the OpenML "
                            "cache or download")
    train.add_argument("--hidden", type=_hidden_sizes, default=(128, 64),
                       metavar="SIZES", help="hidden layer sizes, comma-separated")
    train.add_argument("--activation", choices=["relu", "tanh", "logistic", "identity"],
                       default="relu", help="hidden-layer activation")
    train.add_argument("--epochs", type=_bounded(int, 1), default=20,
                       help="passes over the data")
    train.add_argument("--batch-size", type=_bounded(int, 1), default=256,
                       help="minibatch size")
    train.add_argument("--learning-rate", type=_bounded(float, 0, inclusive=False),
                       default=1e-3,
                       help="Adam's learning_rate_init")
    train.add_argument("--alpha", type=_bounded(float, 0), default=0.0, help="L2 penalty")
    train.add_argument("--validation-split", type=_fraction, default=0.2,
                       help="share of the training images held out (the last ones)")
    train.add_argument("--seed", type=int, default=0,
                       help="random_state: initialisation and shuffling")
    train.add_argument("--threads", type=_bounded(int, 1), default=None,
                       help="threads of the parallel kernels; when not given, "
                            "what OpenMP allows (OMP_NUM_THREADS)")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                       help="precision of the weights and the computation")
    train.add_argument("--no-download", action="store_true",
                       help="never call fetch_openml")
    train.add_argument("--out", metavar="DIR", default=None,
                       help="write model.joblib and metrics.json here")
    return parser


class EpochProgress:
    """A one-line progress bar over epochs, drawn on a terminal only."""

    def __init__(self, total, stream=sys.stderr):
        self.total, self.stream = total, stream
        self.enabled = stream.isatty()
        self.start = time.perf_counter()

    def show(self, done):
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / self.total)
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (self.total - done) if done else float("nan")
        eta_text = f"eta {eta:5.1f}s" if done else "eta   ?"
        self.stream.write(
            f"\r[{'=' * filled}{'.' * (width - filled)}] epoch {done + 1}/{self.total} {eta_text}"
        )
        self.stream.flush()

    def clear(self):
        if self.enabled:
            self.stream.write("\r" + " " * 70 + "\r")
            self.stream.flush()


def _load_data(args):
    # --data names the folder holding mnist/ and fashion-mnist/ (as FASTMLP_DATA
    # does); only the requested data set's subfolder is read, so one data set
    # is never trained under the other's name.
    data_dir = None if args.data is None else Path(args.data) / args.dataset
    try:
        return load_dataset(args.dataset, data_dir, download=not args.no_download)
    except DatasetNotFoundError as exc:
        if args.data is not None:
            raise  # the user named a folder: say it is wrong, do not swap data sets
        print(str(exc))
        print(
            f"No {args.dataset} data here and no network for fetch_openml: training on "
            "scikit-learn's bundled 8x8 digits instead (not "
            f"{args.dataset}; its accuracy is not comparable). Set FASTMLP_DATA to a "
            "folder holding mnist/ IDX files to train on MNIST.\n"
        )
        return load_digits_split()


def _format_matrix(matrix, labels):
    width = max(5, max(len(str(v)) for v in matrix.ravel()) + 1, max(map(len, labels)) + 1)
    header = "true\\pred".ljust(11) + "".join(str(lab)[:width - 1].rjust(width) for lab in labels)
    rows = [header]
    for lab, row in zip(labels, matrix):
        rows.append(str(lab)[:10].ljust(11) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(rows)


def train(args):
    data = _load_data(args)
    print(f"data: {data.source}")
    X_train, y_train = data.X_train, data.y_train
    n_val = int(round(len(X_train) * args.validation_split))
    if n_val:
        # Keras' validation_split: the *last* images, taken before any shuffling.
        X_fit, y_fit = X_train[:-n_val], y_train[:-n_val]
        X_val, y_val = X_train[-n_val:], y_train[-n_val:]
    else:
        X_fit, y_fit, X_val, y_val = X_train, y_train, None, None
    classes = np.unique(y_train)
    clf = fastmlp.MLPClassifier(
        hidden_layer_sizes=args.hidden, activation=args.activation, solver="adam",
        alpha=args.alpha, batch_size=args.batch_size,
        learning_rate_init=args.learning_rate, max_iter=args.epochs,
        random_state=args.seed, dtype=np.dtype(args.dtype).type, n_threads=args.threads,
    )
    n_threads = effective_n_threads(args.threads)
    layers = "-".join(str(u) for u in (X_fit.shape[1], *args.hidden, len(classes)))
    print(
        f"network {layers} {args.activation}, adam lr={args.learning_rate}, "
        f"batch {args.batch_size}, {args.epochs} epochs, {len(X_fit)} training / "
        f"{0 if X_val is None else len(X_val)} validation / {len(data.X_test)} test "
        f"images, {args.dtype}, {n_threads} thread(s)"
    )
    history = []
    progress = EpochProgress(args.epochs)
    # One partial_fit per epoch: Adam's state, the shuffling stream and the
    # step count carry over, so this is the same training as fit(max_iter=epochs).
    for epoch in range(1, args.epochs + 1):
        progress.show(epoch - 1)
        started = time.perf_counter()
        clf.partial_fit(X_fit, y_fit, classes=classes)
        seconds = time.perf_counter() - started
        record = {"epoch": epoch, "loss": clf.loss_, "accuracy": clf.accuracy_curve_[-1],
                  "val_loss": None, "val_accuracy": None, "seconds": seconds}
        if X_val is not None:
            proba = clf.predict_proba(X_val)
            record["val_loss"] = float(log_loss(y_val, proba, labels=clf.classes_))
            record["val_accuracy"] = float(np.mean(clf.classes_[proba.argmax(1)] == y_val))
        history.append(record)
        progress.clear()
        line = (f"epoch {epoch:>3}/{args.epochs}  loss {record['loss']:.4f}  "
                f"accuracy {record['accuracy']:.4f}")
        if X_val is not None:
            line += (f"  val_loss {record['val_loss']:.4f}  "
                     f"val_accuracy {record['val_accuracy']:.4f}")
        print(line + f"  {seconds:.2f}s", flush=True)

    y_pred = clf.predict(data.X_test)
    test_accuracy = float(np.mean(y_pred == data.y_test))
    matrix = confusion_matrix(data.y_test, y_pred, labels=clf.classes_)
    train_seconds = sum(r["seconds"] for r in history)
    print(f"\ntest accuracy: {test_accuracy:.4f} ({int(round(test_accuracy * len(y_pred)))}"
          f"/{len(y_pred)})  training time {train_seconds:.1f}s "
          f"({train_seconds / max(args.epochs, 1):.2f}s per epoch)")
    print("confusion matrix (rows: true class, columns: predicted):")
    print(_format_matrix(matrix, [str(c) for c in clf.classes_]))

    if args.out:
        model_path = os.path.join(args.out, "model.joblib")
        fastmlp.save(clf, model_path)
        config = {k: v for k, v in vars(args).items() if k != "command"}
        config["hidden"] = list(args.hidden)
        params = clf.get_params()
        params["dtype"] = np.dtype(params["dtype"]).name
        params["hidden_layer_sizes"] = list(params["hidden_layer_sizes"])
        metrics = {
            "dataset": args.dataset,
            "data_source": data.source,
            "test_accuracy": test_accuracy,
            "confusion_matrix": matrix.tolist(),
            "classes": [str(c) for c in clf.classes_],
            "history": history,
            "train_seconds": train_seconds,
            "config": config,
            "estimator_params": params,
            "n_threads": n_threads,
            "n_train": len(X_fit),
            "n_validation": 0 if X_val is None else len(X_val),
            "n_test": len(data.X_test),
            "fastmlp_version": fastmlp.__version__,
        }
        with open(os.path.join(args.out, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2)
        print(f"\nwrote {model_path} and {os.path.join(args.out, 'metrics.json')}")
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        if args.out:
            # Find an unusable --out now, not after the whole training.
            try:
                os.makedirs(args.out, exist_ok=True)
            except OSError as exc:
                parser.error(f"--out {args.out}: {exc.strerror or exc}")
            if not os.access(args.out, os.W_OK):
                parser.error(f"--out {args.out}: folder is not writable")
        try:
            return train(args)
        except (DatasetNotFoundError, ValueError, OSError) as exc:
            print(f"fastmlp: error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
