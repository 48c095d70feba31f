"""Tests of seld_tf.plotting.plot_attention_maps: the Fig. 3 panels of 2APAE draw exactly the arrays given."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from seld_tf.errors import ConfigError
from seld_tf.plotting import plot_attention_maps, save_figure

T, F, K = 12, 6, 5
NAMES = ("Bark", "Cello", "Meow", "Telephone", "Trumpet")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def arrays(seed=0):
    rng = np.random.default_rng(seed)
    step1 = rng.random((T, F, K))
    step2 = rng.random((T, K))
    return {
        "features": rng.normal(size=(T, F, 1)),
        # Telephone, Bark, Meow: the top 3, in that order.
        "clip_probabilities": np.array([0.8, 0.1, 0.6, 0.9, 0.3]),
        "step1_attention": step1 / step1.sum(axis=1, keepdims=True),
        "step1_probabilities": rng.random((T, K)),
        "step2_attention": step2 / step2.sum(axis=0, keepdims=True),
    }


def panels(fig):
    """The figure's panels (colour bars have no title) by title."""
    return {ax.get_title(): ax for ax in fig.axes if ax.get_title()}


def test_panels_draw_the_arrays_top_classes_first(tmp_path):
    given = arrays()
    reconstruction = np.random.default_rng(1).normal(size=(T, F))
    fig = plot_attention_maps(
        **given, class_names=NAMES, reconstruction=reconstruction, present=("Telephone", "Meow"), frames_per_second=4.0
    )
    shown = panels(fig)
    assert list(shown) == [
        "input log-mel (z-scored)",
        "decoder reconstruction",
        "step-1 weights, Telephone (present): p = 0.90",
        "step-1 weights, Bark: p = 0.80",
        "step-1 weights, Meow (present): p = 0.60",
        "step-1 probabilities Z_p1",
        "step-2 weights",
        "clip probabilities Z_p2 (red: present)",
    ]
    images = {title: np.asarray(ax.images[0].get_array()) for title, ax in shown.items() if ax.images}
    # Mel bin (or class) against time: the arrays transposed.
    np.testing.assert_allclose(images["input log-mel (z-scored)"], given["features"][..., 0].T)
    np.testing.assert_allclose(images["decoder reconstruction"], reconstruction.T)
    np.testing.assert_allclose(images["step-1 weights, Telephone (present): p = 0.90"], given["step1_attention"][:, :, 3].T)
    np.testing.assert_allclose(images["step-1 weights, Bark: p = 0.80"], given["step1_attention"][:, :, 0].T)
    np.testing.assert_allclose(images["step-1 probabilities Z_p1"], given["step1_probabilities"].T)
    np.testing.assert_allclose(images["step-2 weights"], given["step2_attention"].T)
    # The time axis is in seconds: 12 frames at 4 per second.
    assert shown["step-2 weights"].images[0].get_extent()[:2] == [0, 3.0]
    assert [label.get_text() for label in shown["step-2 weights"].get_yticklabels()] == list(NAMES)

    bars = shown["clip probabilities Z_p2 (red: present)"].patches
    np.testing.assert_allclose([bar.get_height() for bar in bars], given["clip_probabilities"])
    red = [NAMES[index] for index, bar in enumerate(bars) if bar.get_facecolor() == plt.matplotlib.colors.to_rgba("tab:red")]
    assert red == ["Meow", "Telephone"]

    save_figure(fig, tmp_path / "fig3.png")
    assert (tmp_path / "fig3.png").stat().st_size > 0


def test_without_a_reconstruction_its_panel_is_left_out():
    fig = plot_attention_maps(**arrays(), class_names=NAMES, top=1)
    assert list(panels(fig)) == [
        "input log-mel (z-scored)",
        "step-1 weights, Telephone: p = 0.90",
        "step-1 probabilities Z_p1",
        "step-2 weights",
        "clip probabilities Z_p2",
    ]
    assert panels(fig)["step-2 weights"].get_xlabel() == "frame"


@pytest.mark.parametrize(
    "change, match",
    [
        ({"step2_attention": np.ones((T + 1, K))}, r"step2_attention \(13, 5\) \(expected \(12, 5\)\)"),
        ({"step1_attention": np.ones((T, F, K - 1))}, r"step1_attention"),
        ({"reconstruction": np.ones((T, F + 1))}, r"reconstruction"),
        ({"present": ("Dog",)}, r"\['Dog'\] are not among class_names"),
        ({"top": 6}, r"top must be in 1\.\.5"),
        ({"features": np.ones((T, F, 2))}, r"features: expected \[T, F\] or \[T, F, 1\]"),
    ],
)
def test_inconsistent_inputs_are_refused(change, match):
    with pytest.raises(ConfigError, match=match):
        plot_attention_maps(**{**arrays(), **change}, class_names=NAMES)
