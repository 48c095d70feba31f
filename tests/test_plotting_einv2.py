"""Tests of seld_tf.plotting.plot_doa_error_convergence: the Figure-3-style lines are the history values."""

import warnings

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
    # One history per setting: the lines alone, no band, and no seed note.
    assert len(ax.collections) == 0
    assert all(line.get_marker() == "o" for line in lines.values())
    # The legend below the axes, off the curves.
    assert ax.get_legend() is None
    (legend,) = fig.legends
    assert [text.get_text() for text in legend.get_texts()] == ["noPIT", "cPIT", "tPIT"]
    assert legend.get_title().get_text() == ""
    assert (ax.get_xlabel(), ax.get_ylabel(), fig.get_suptitle()) == ("epoch", "LE (degrees)", "synthetic FOA")
    save_figure(fig, tmp_path / "convergence.png")
    assert (tmp_path / "convergence.png").stat().st_size > 0


def test_another_key_and_a_missing_key():
    fig = plot_doa_error_convergence({"cPIT": CPIT, "noPIT": NOPIT}, key="loss")
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["cPIT", "noPIT"]
    assert fig.axes[0].get_ylabel() == "loss"
    with pytest.raises(ConfigError, match="val_seld"):
        plot_doa_error_convergence({"noPIT": NOPIT}, key="val_seld")


def test_several_seeds_draw_the_mean_in_a_std_band():
    nan = float("nan")
    # 3, 4 and 3 epochs: cut to 3. Epoch 2 NaN in every seed (a gap), epoch 3 in one (the mean of two).
    seeds = [
        {"val_LE": [60.0, nan, 50.0]},
        {"val_LE": [40.0, nan, 30.0, 20.0]},
        {"val_LE": [50.0, nan, nan]},
    ]
    fig = plot_doa_error_convergence({"noPIT": NOPIT, "tPIT": seeds})
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["noPIT"].get_ydata(), NOPIT["val_LE"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanmean([seed["val_LE"][:3] for seed in seeds], axis=0)
    np.testing.assert_allclose(lines["tPIT"].get_ydata(), expected, rtol=1e-12)
    np.testing.assert_array_equal(lines["tPIT"].get_xdata(), [1, 2, 3])
    assert np.isnan(lines["tPIT"].get_ydata()[1])

    # One band, tPIT's: 50 +- 10 at epoch 1 (60, 40, 50; ddof=1), none at the all-NaN epoch 2.
    (band,) = ax.collections
    vertices = np.concatenate([path.vertices for path in band.get_paths()])
    np.testing.assert_allclose([vertices[vertices[:, 0] == 1, 1].min(), vertices[vertices[:, 0] == 1, 1].max()], [40.0, 60.0])
    assert not np.any(vertices[:, 0] == 2)
    assert vertices[:, 0].max() == 3
    np.testing.assert_allclose(band.get_facecolor()[0][:3], plt.matplotlib.colors.to_rgb(lines["tPIT"].get_color()))

    assert ax.get_legend() is None
    (legend,) = fig.legends
    assert [text.get_text() for text in legend.get_texts()] == ["noPIT", "tPIT"]
    assert legend.get_title().get_text() == "mean ± std over the seeds (noPIT: 1, tPIT: 3)"


def test_seeds_that_disagree_on_the_key():
    with pytest.raises(ConfigError, match="tPIT: 1 of the 2 seeds' histories hold 'val_LE'"):
        plot_doa_error_convergence({"tPIT": [TPIT, UNSCORED]})
