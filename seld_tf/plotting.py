"""Figures, drawn from arrays and histories (never by hand)."""

from __future__ import annotations

import os
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seld_tf.datasets.events import EventList  # noqa: E402
from seld_tf.fileio import atomic_open  # noqa: E402

FEATURE_CHANNEL_NAMES = {
    "foa": ("log-mel W", "log-mel Y", "log-mel Z", "log-mel X", "IV x", "IV y", "IV z"),
    "mic": ("log-mel M1", "log-mel M2", "log-mel M3", "log-mel M4")
    + tuple(f"GCC-PHAT M{m + 1}-M{n + 1}" for m in range(4) for n in range(m + 1, 4)),
}


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 120) -> None:
    """Write a figure atomically (format from the file suffix) and close it."""
    suffix = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format=suffix, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def plot_clip_features(
    features: np.ndarray,
    events: EventList,
    *,
    frames_per_second: float,
    label_frame_seconds: float,
    array_format: str,
    class_names: Sequence[str],
    channels: Sequence[int] = (0, 4),
    title: str = "",
) -> plt.Figure:
    """One clip's features (chosen channels) above its labels.

    Rows: each chosen feature channel as an image (bins x time), the class
    activity as a piano roll coloured by track, and the azimuth and elevation
    of every active event over time.
    """
    names = FEATURE_CHANNEL_NAMES.get(array_format, ())
    rows = len(channels) + 3
    fig, axes = plt.subplots(rows, 1, figsize=(11, 1.9 * rows), sharex=True, constrained_layout=True)
    seconds = features.shape[0] / frames_per_second
    for ax, channel in zip(axes, channels):
        image = ax.imshow(
            features[:, :, channel].T, origin="lower", aspect="auto", extent=(0, seconds, 0, features.shape[1]), cmap="magma"
        )
        ax.set_ylabel(names[channel] if channel < len(names) else f"channel {channel}")
        fig.colorbar(image, ax=ax, pad=0.01)

    time = (events.frame + 0.5) * label_frame_seconds
    roll, azimuth, elevation = axes[len(channels) :]
    for track, marker in zip(np.unique(events.track), "os^v"):
        rows_of_track = events.track == track
        roll.scatter(time[rows_of_track], events.cls[rows_of_track], s=6, marker=marker, label=f"track {track}")
    roll.set_yticks(range(len(class_names)), class_names, fontsize=6)
    roll.set_ylim(-0.5, len(class_names) - 0.5)
    roll.legend(loc="upper right", fontsize=7, markerscale=2)
    colours = plt.get_cmap("tab20")(events.cls % 20)
    azimuth.scatter(time, events.azimuth, s=4, c=colours)
    azimuth.set_ylim(-180, 180)
    azimuth.set_ylabel("azimuth (deg)")
    elevation.scatter(time, events.elevation, s=4, c=colours)
    elevation.set_ylim(-90, 90)
    elevation.set_ylabel("elevation (deg)")
    elevation.set_xlabel("time (s)")
    elevation.set_xlim(0, seconds)
    if title:
        fig.suptitle(title)
    return fig
