"""Tests of seld_tf.plotting: the loss-study figure draws exactly the history values."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from seld_tf.errors import ConfigError
from seld_tf.plotting import save_figure
from seld_tf.plotting import plot_loss_study

MSE = {
    "loss": [0.9, 0.5, 0.4],
    "sed_loss": [0.3, 0.2, 0.1],
    "doa_loss": [0.6, 0.3, 0.3],
    "val_sed_loss": [0.35, 0.25, 0.2],
    "val_doa_loss": [0.7, 0.4, 0.35],
    "val_ER": [0.9, 0.7, 0.6],
    "val_F": [0.2, 0.4, 0.5],
    "val_LE": [40.0, 25.0, 18.0],
    "val_LR": [0.3, 0.5, 0.6],
    "val_seld": [0.6, 0.45, 0.38],
}
# No validation DOA loss, no DCASE scores at all: those curves must be skipped.
CE = {"loss": [900.0, 500.0], "sed_loss": [2.0, 1.9], "doa_loss": [0.8, 0.5], "val_sed_loss": [2.1, 2.0]}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_panels_and_curves_equal_the_histories():
    fig = plot_loss_study(
        {"MSE": MSE, "CE (1) + MSE (1000)": CE},
        sed_losses={"MSE": "mse", "CE (1) + MSE (1000)": "bce"},
        title="FOA",
    )
    axes = {ax.get_title(): ax for ax in fig.axes}
    assert list(axes) == ["SED loss (MSE)", "SED loss (CE)", "DOA loss (MSE)", "DOA error", "SED error", "SELD score"]
    assert fig.get_suptitle() == "FOA"

    expected = {
        "SED loss (MSE)": {"MSE (train)": MSE["sed_loss"], "MSE (validation)": MSE["val_sed_loss"]},
        "SED loss (CE)": {
            "CE (1) + MSE (1000) (train)": CE["sed_loss"],
            "CE (1) + MSE (1000) (validation)": CE["val_sed_loss"],
        },
        "DOA loss (MSE)": {
            "MSE (train)": MSE["doa_loss"],
            "MSE (validation)": MSE["val_doa_loss"],
            "CE (1) + MSE (1000) (train)": CE["doa_loss"],
        },
        "DOA error": {"MSE (validation)": MSE["val_LE"]},
        "SED error": {"MSE (validation)": MSE["val_ER"]},
        "SELD score": {"MSE (validation)": MSE["val_seld"]},
    }
    for title, curves in expected.items():
        lines = lines_by_label(axes[title])
        assert set(lines) == set(curves), title
        for label, values in curves.items():
            np.testing.assert_array_equal(lines[label].get_ydata(), values)
            np.testing.assert_array_equal(lines[label].get_xdata(), np.arange(1, len(values) + 1))
            assert lines[label].get_linestyle() == ("--" if label.endswith("(validation)") else "-")
        assert axes[title].get_xlabel() == "epoch"
    assert axes["DOA error"].get_ylabel() == "LE (degrees)"

    # One colour per setting, the same in every panel.
    doa = lines_by_label(axes["DOA loss (MSE)"])
    assert doa["MSE (train)"].get_color() == doa["MSE (validation)"].get_color()
    assert doa["MSE (train)"].get_color() != doa["CE (1) + MSE (1000) (train)"].get_color()
    assert lines_by_label(axes["SED error"])["MSE (validation)"].get_color() == doa["MSE (train)"].get_color()


def test_without_sed_losses_one_sed_panel_and_empty_panels_dropped():
    fig = plot_loss_study({"A": CE, "B": {"sed_loss": [1.0]}})
    axes = {ax.get_title(): ax for ax in fig.axes}
    # Neither history has LE or ER: no error panels.
    assert list(axes) == ["SED loss", "DOA loss (MSE)"]
    assert set(lines_by_label(axes["SED loss"])) == {"A (train)", "A (validation)", "B (train)"}
    assert fig.get_suptitle() == ""


def test_saves(tmp_path):
    save_figure(plot_loss_study({"MSE": MSE}), tmp_path / "study.png")
    assert (tmp_path / "study.png").stat().st_size > 0


@pytest.mark.parametrize(
    "histories, sed_losses, match",
    [
        ({"MSE": MSE, "CE": CE}, {"MSE": "mse"}, "without a loss: \\['CE'\\]"),
        ({"MSE": MSE}, {"MSE": "l1"}, "unknown losses: \\['l1'\\]"),
        ({"MSE": {"loss": [1.0]}}, None, "no history holds"),
    ],
)
def test_errors(histories, sed_losses, match):
    with pytest.raises(ConfigError, match=match):
        plot_loss_study(histories, sed_losses=sed_losses)
