"""Tests of seld_tf.plotting: the loss-study figure draws exactly the history values, or their mean over seeds."""

import warnings

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


NAN = float("nan")
# Three seeds of one setting, of 4, 3 and 5 epochs: every curve is cut to 3. Validation epoch 2 is NaN
# in every seed (a gap), validation epoch 3 in one seed only (the mean of the other two).
SEEDS = [
    {"sed_loss": [0.3, 0.2, 0.1, 0.05], "val_sed_loss": [0.35, NAN, 0.2, 0.1], "val_LE": [40.0, 30.0, 20.0, 15.0]},
    {"sed_loss": [0.4, 0.25, 0.15], "val_sed_loss": [0.3, NAN, 0.25], "val_LE": [50.0, 35.0, 25.0]},
    {"sed_loss": [0.2, 0.22, 0.12, 0.07, 0.01], "val_sed_loss": [0.4, NAN, NAN, 0.1, 0.2], "val_LE": [45.0, 20.0, 22.0, 18.0, 10.0]},
]
OTHER_SEEDS = [{key: [2 * value + 1 for value in values] for key, values in seed.items()} for seed in SEEDS]


def seed_mean(seeds, key):
    """numpy's per-epoch nanmean over the seeds, cut to the shortest history."""
    length = min(len(seed[key]) for seed in seeds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean([seed[key][:length] for seed in seeds], axis=0)


def band_range(ax, index, epoch):
    """(lowest, highest) y of the `index`-th band's vertices at `epoch`; None when it has none there."""
    vertices = np.concatenate([path.vertices for path in ax.collections[index].get_paths()])
    at_epoch = vertices[vertices[:, 0] == epoch, 1]
    return (at_epoch.min(), at_epoch.max()) if at_epoch.size else None


def test_several_seeds_draw_the_mean_in_a_std_band():
    fig = plot_loss_study({"MSE": SEEDS, "CE": tuple(OTHER_SEEDS)})
    axes = {ax.get_title(): ax for ax in fig.axes}
    assert list(axes) == ["SED loss", "DOA error"]
    for title, key_of in (("SED loss", {"train": "sed_loss", "validation": "val_sed_loss"}), ("DOA error", {"validation": "val_LE"})):
        lines = lines_by_label(axes[title])
        assert set(lines) == {f"{setting} ({split})" for setting in ("MSE", "CE") for split in key_of}
        for label, line in lines.items():
            setting, split = label[:-1].split(" (")
            seeds = SEEDS if setting == "MSE" else OTHER_SEEDS
            np.testing.assert_allclose(line.get_ydata(), seed_mean(seeds, key_of[split]), rtol=1e-12)
            # Cut to the shortest seed (3 epochs), not the longest (5) nor the first (4).
            np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
        # One band per line, in the line's colour, under it.
        assert len(axes[title].collections) == len(lines)
        for line, band in zip(axes[title].get_lines(), axes[title].collections):
            np.testing.assert_allclose(band.get_facecolor()[0][:3], plt.matplotlib.colors.to_rgb(line.get_color()))
            assert band.get_facecolor()[0][3] < 0.5

    sed = axes["SED loss"]
    assert [line.get_label() for line in sed.get_lines()][:2] == ["MSE (train)", "MSE (validation)"]
    # Epoch 1 of MSE's sed_loss: 0.3, 0.4, 0.2 -> mean 0.3, sample std 0.1 (ddof=1; ddof=0 would give 0.082).
    np.testing.assert_allclose(band_range(sed, 0, 1), (0.2, 0.4))
    # Its validation epoch 3: 0.2, 0.25, NaN -> 0.225 +- sqrt(2 * 0.025**2).
    np.testing.assert_allclose(band_range(sed, 1, 3), (0.225 - 0.025 * np.sqrt(2), 0.225 + 0.025 * np.sqrt(2)))
    # Its validation epoch 2, NaN in every seed: a gap in the line and in the band.
    assert np.isnan(sed.get_lines()[1].get_ydata()[1])
    assert band_range(sed, 1, 2) is None
    # Beyond the shortest history there is no band either.
    assert band_range(sed, 0, 4) is None

    # One legend outside the panels, naming the lines only, saying what they are.
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    assert [text.get_text() for text in legend.get_texts()] == [
        "MSE (train)", "MSE (validation)", "CE (train)", "CE (validation)",
    ]  # fmt: skip
    assert legend.get_title().get_text() == "mean ± std over 3 seeds"


def test_one_history_draws_the_old_line_without_a_band():
    key_of = {"SED loss": "sed_loss", "DOA loss (MSE)": "doa_loss", "DOA error": "LE", "SED error": "ER", "SELD score": "seld"}
    for given in (MSE, [MSE]):
        fig = plot_loss_study({"MSE": given})
        assert [ax.get_title() for ax in fig.axes] == list(key_of)
        for ax in fig.axes:
            assert len(ax.collections) == 0
            for label, line in lines_by_label(ax).items():
                values = MSE[("val_" if label.endswith("(validation)") else "") + key_of[ax.get_title()]]
                np.testing.assert_array_equal(line.get_ydata(), values)
                np.testing.assert_array_equal(line.get_xdata(), np.arange(1, len(values) + 1))
                assert line.get_marker() == "None"
        assert fig.legends[0].get_title().get_text() == ""
        plt.close(fig)


def test_mixed_seed_counts_are_named_per_setting():
    fig = plot_loss_study({"MSE": SEEDS, "CE": CE})
    sed = next(ax for ax in fig.axes if ax.get_title() == "SED loss")
    # Bands for MSE's two curves only.
    assert len(sed.collections) == 2
    np.testing.assert_array_equal(lines_by_label(sed)["CE (train)"].get_ydata(), CE["sed_loss"])
    assert fig.legends[0].get_title().get_text() == "mean ± std over the seeds (MSE: 3, CE: 1)"


@pytest.mark.parametrize(
    "runs, match",
    [
        ([], "non-empty list or tuple"),
        ("MSE", "found str"),
        ([MSE, [1.0]], "found list"),
        ([SEEDS[0], {"sed_loss": [1.0]}], "MSE \\(validation\\): 1 of the 2 seeds' histories hold 'val_sed_loss'"),
    ],
)
def test_seed_errors(runs, match):
    with pytest.raises(ConfigError, match=match):
        plot_loss_study({"MSE": runs})
