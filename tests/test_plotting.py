import numpy as np
from PIL import Image

from seld_tf.datasets.events import EventList
from seld_tf.plotting import plot_clip_features, save_figure


def test_clip_figure_shows_features_and_labels(tmp_path):
    features = np.random.default_rng(0).normal(size=(100, 64, 7)).astype(np.float32)
    events = EventList.from_rows([(f, 3, 0, 40.0 + f, 10.0) for f in range(5, 15)] + [(8, 5, 1, -90.0, -20.0)], num_frames=20)
    figure = plot_clip_features(
        features, events, frames_per_second=50, label_frame_seconds=0.1, array_format="foa",
        class_names=[f"c{k}" for k in range(14)], channels=(0, 4),
    )
    axes = figure.axes
    labels = [ax.get_ylabel() for ax in axes]
    assert labels[:2] == ["log-mel W", "IV x"]
    assert "azimuth (deg)" in labels and "elevation (deg)" in labels
    azimuth_axis = axes[labels.index("azimuth (deg)")]
    plotted = azimuth_axis.collections[0].get_offsets()
    np.testing.assert_allclose(sorted(plotted[:, 1]), sorted(events.azimuth))
    np.testing.assert_allclose(azimuth_axis.get_xlim(), (0, 2.0))
    path = tmp_path / "clip.png"
    save_figure(figure, path)
    assert Image.open(path).size[0] > 500
    assert [p.name for p in tmp_path.iterdir()] == ["clip.png"]
