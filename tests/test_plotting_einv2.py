"""Tests of seld_tf.plotting.plot_doa_error_convergence: the Figure-3-style lines are the history values."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from seld_tf.errors import ConfigError
from seld_tf.plotting import plot_doa_error_convergence, save_figure

NOPIT = {"loss": [1.0, 0.9, 0.8], "val_LE": [60.0, 55.0, 57.0]}
CPIT = {"loss": [1.0, 0.7], "val_LE": [50.0, float("nan")], "LE": [1.0, 2.0]}
# No validation scores: skipped, but keeps its colour slot.
UNSCORED = {"loss": [1.0]}
TPIT = {"val_LE": [45.0, 30.0, 20.0, 15.0]}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_one_line_per_setting_with_the_history_values(tmp_path):
    histories = {"noPIT": NOPIT, "cPIT": CPIT, "unscored": UNSCORED, "tPIT": TPIT}
    fig = plot_doa_error_convergence(histories, title="synthetic FOA")
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines) == ["noPIT", "cPIT", "tPIT"]
    for label in lines:
        values = histories[label]["val_LE"]
        np.testing.assert_array_equal(lines[label].get_ydata(), values)
        np.testing.assert_array_equal(lines[label].get_xdata(), np.arange(1, len(values) + 1))
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    assert [lines[label].get_color() for label in lines] == [cycle[0], cycle[1], cycle[3]]
    assert (ax.get_xlabel(), ax.get_ylabel(), fig.get_suptitle()) == ("epoch", "LE (degrees)", "synthetic FOA")
    save_figure(fig, tmp_path / "convergence.png")
    assert (tmp_path / "convergence.png").stat().st_size > 0


def test_another_key_and_a_missing_key():
    fig = plot_doa_error_convergence({"cPIT": CPIT, "noPIT": NOPIT}, key="loss")
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["cPIT", "noPIT"]
    assert fig.axes[0].get_ylabel() == "loss"
    with pytest.raises(ConfigError, match="val_seld"):
        plot_doa_error_convergence({"noPIT": NOPIT}, key="val_seld")
