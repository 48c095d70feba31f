"""plot_loss_terms and plot_strong_predictions: the MTL-VAE study's loss-term curves and one clip's
strong predictions against its reference events."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from seld_tf.errors import ConfigError
from seld_tf.plotting import plot_loss_terms, plot_strong_predictions

HISTORIES = {
    "S_syn": {"loss": [3.0, 2.0], "strong_logits_loss": [0.7, 0.5], "kl_loss": [1.0, 0.4], "val_event_f1": [0.1, 0.2]},
    "all tasks": {
        "loss": [4.0, 3.0, 2.5],
        "strong_logits_loss": [1.4, 1.0, 0.9],
        "val_strong_logits_loss": [0.8, 0.7, math.nan],
        "reconstruction_loss": [1.2, 0.9, 0.8],
        "kl_loss": [1.1, 0.5, 0.3],
        "val_event_f1": [0.1, 0.3, 0.35],
    },
}
CLASSES = ("Dog", "Speech", "Cat")


def test_one_panel_per_present_key_each_setting_one_colour():
    fig = plot_loss_terms(HISTORIES)
    # total, strong BCE, reconstruction MSE, KL, validation event F1; no weak BCE in any history.
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 5 and not any("weak" in title for title in titles)
    strong = fig.axes[titles.index("frame BCE (strong subsets)")]
    lines = strong.get_lines()
    # S_syn training; all tasks training and its dashed validation curve (NaN kept as a gap).
    assert [line.get_linestyle() for line in lines] == ["-", "-", "--"]
    np.testing.assert_allclose(lines[1].get_ydata(), [1.4, 1.0, 0.9])
    np.testing.assert_allclose(lines[2].get_xdata(), [1, 2, 3])
    assert np.isnan(lines[2].get_ydata()[-1])
    assert lines[0].get_color() != lines[1].get_color() == lines[2].get_color()
    score = fig.axes[titles.index("validation event F1")]
    np.testing.assert_allclose(score.get_lines()[0].get_ydata(), [0.1, 0.2])
    (legend,) = fig.legends
    assert [text.get_text() for text in legend.get_texts()] == ["S_syn", "all tasks", "training", "validation"]
    plt.close(fig)


def test_loss_terms_without_any_known_key_are_refused():
    with pytest.raises(ConfigError, match="no history holds any of the keys"):
        plot_loss_terms({"a": {"other": [1.0]}})


def test_strong_predictions_show_probabilities_reference_boxes_and_detections():
    probabilities = np.zeros((50, 3))
    probabilities[10:30, 0] = 0.9
    reference = [(0.4, 1.2, "Dog"), (1.0, 1.8, "Cat")]
    fig = plot_strong_predictions(
        {"all tasks": probabilities, "S_syn": probabilities / 2},
        reference,
        class_names=CLASSES,
        frame_rate=25.0,
        detections={"all tasks": [(0.4, 1.2, "Dog")]},
    )
    first, second = (ax for ax in fig.axes if ax.get_title())
    (image,) = first.get_images()
    np.testing.assert_allclose(image.get_array(), probabilities.T)
    assert image.get_extent() == pytest.approx([0.0, 2.0, -0.5, 2.5])
    boxes = [(patch.get_x(), patch.get_width(), patch.get_y()) for patch in first.patches]
    np.testing.assert_allclose(boxes, [(0.4, 0.8, -0.45), (1.0, 0.8, 1.55)])
    (bar,) = first.get_lines()
    np.testing.assert_allclose(bar.get_xdata(), [0.4, 1.2])
    assert second.get_lines() == [] and len(second.patches) == 2
    assert [tick.get_text() for tick in first.get_yticklabels()] == list(CLASSES)
    plt.close(fig)


def test_strong_predictions_refuse_wrong_shapes_labels_and_settings():
    with pytest.raises(ConfigError, match=r"expected \[T, 3\]"):
        plot_strong_predictions({"a": np.zeros((5, 2))}, [], class_names=CLASSES, frame_rate=25.0)
    with pytest.raises(ConfigError, match="unknown classes"):
        plot_strong_predictions({"a": np.zeros((5, 3))}, [(0.0, 0.1, "Bird")], class_names=CLASSES, frame_rate=25.0)
    with pytest.raises(ConfigError, match="not settings"):
        plot_strong_predictions({"a": np.zeros((5, 3))}, [], class_names=CLASSES, frame_rate=25.0, detections={"b": []})
    with pytest.raises(ConfigError, match="at least one setting"):
        plot_strong_predictions({}, [], class_names=CLASSES, frame_rate=25.0)
