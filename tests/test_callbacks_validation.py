"""The Validation callback: which epochs it scores, and that the history keeps their columns."""

import csv

import keras
import numpy as np

from seld_tf.callbacks import Validation
from seld_tf.evaluation import EvaluationResult


class CountingEvaluator:
    """Scores 1 / (number of calls): enough to see which epochs were validated."""

    def __init__(self):
        self.calls = 0

    def evaluate(self, model):
        self.calls += 1
        return EvaluationResult({"score": 1.0 / self.calls}, {}, {"out_loss": 0.5})

    def logged(self, scores):
        return dict(scores)


def fit(epochs, every, tmp_path, initial_epoch=0):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(inputs))
    model.compile("sgd", loss="mse")
    evaluator = CountingEvaluator()
    validated = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if "val_score" in logs:
                validated.append(epoch)

    history = tmp_path / "history.csv"
    callbacks = [Validation(evaluator, every=every), Record(), keras.callbacks.CSVLogger(str(history), append=True)]
    x = np.ones((4, 2), "float32")
    model.fit(x, x[:, :1], epochs=epochs, initial_epoch=initial_epoch, verbose=0, callbacks=callbacks)
    return validated, history


def test_every_kth_epoch_and_the_first_and_last_are_validated(tmp_path):
    validated, history = fit(epochs=7, every=3, tmp_path=tmp_path)
    assert validated == [0, 2, 5, 6]
    with open(history, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["val_score"] for row in rows] == ["1.0", "NA", "0.5", "NA", "NA", "0.3333333333333333", "0.25"]


def test_a_resumed_fit_validates_its_first_epoch_so_appended_rows_keep_the_columns(tmp_path):
    fit(epochs=2, every=3, tmp_path=tmp_path)
    validated, history = fit(epochs=5, every=3, tmp_path=tmp_path, initial_epoch=3)
    assert validated == [3, 4]
    with open(history, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["0", "1", "3", "4"]
    assert all(set(row) == set(rows[0]) and None not in row for row in rows)
