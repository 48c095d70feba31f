"""Figures, drawn from arrays and histories (never by hand)."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seld_tf.datasets.events import EventList  # noqa: E402
from seld_tf.errors import ConfigError  # noqa: E402
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

# Panel titles of the SED loss, per `LossSpec.sed` value: Phan et al.'s
# Figure 2 draws the MSE and the cross-entropy SED losses apart, their scales
# being an order of magnitude apart.
SED_LOSS_TITLES = {"mse": "SED loss (MSE)", "bce": "SED loss (CE)"}

# (history key without the "val_" prefix, panel title, y label) of the panels
# after the SED loss ones.
LOSS_STUDY_PANELS = (
    ("doa_loss", "DOA loss (MSE)", "loss"),
    ("LE", "DOA error", "LE (degrees)"),
    ("ER", "SED error", "ER"),
    ("seld", "SELD score", "SELD"),
)

# Line style and legend suffix of the training curve (`key`) and the
# validation curve (`val_key`) of a setting.
SPLITS = (("", "-", "train"), ("val_", "--", "validation"))


def plot_loss_study(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    sed_losses: Mapping[str, str] | None = None,
    title: str = "",
) -> plt.Figure:
    """Loss and error curves of several loss settings, as Figure 2 of Phan et al. (2020).

    One panel per quantity, in a row: the SED loss (`sed_loss`), the DOA loss
    (`doa_loss`), the DOA error (`LE`) and the SED error (`ER`). In each
    panel every setting has one colour, its training curve (`key`) solid and
    its validation curve (`val_key`) dashed, against the epoch (1-based, one
    value per epoch; NaN values leave gaps). A curve whose key is missing from
    a history is skipped (the DCASE scores, for instance, usually exist for
    validation only), and a panel without any curve is left out.

    Args:
        histories: setting label -> Keras-style history (`model.fit(...)
            .history`, or the columns of a `CSVLogger` file), e.g.
            `{"MSE": {...}, "CE (1) + MSE (1000)": {...}}`. The label is the
            legend text; the order is the colour order.
        sed_losses: setting label -> its SED loss, "mse" or "bce" (as in the
            recipe's `loss.sed`). Given, the SED losses are split into an "SED
            loss (MSE)" and an "SED loss (CE)" panel, as in the paper, since
            the two are on different scales; None draws them in one "SED
            loss" panel.
        title: figure title; empty for none.

    Returns:
        The figure; `save_figure` writes it.

    Raises:
        ConfigError: `sed_losses` lacks a setting or names an unknown loss,
            or no history holds any of the plotted keys.

    Example:

    ```python
    fig = plot_loss_study(
        {"MSE": mse_history, "CE (1) + MSE (1000)": ce_history},
        sed_losses={"MSE": "mse", "CE (1) + MSE (1000)": "bce"},
    )
    save_figure(fig, "figures/phan2020_loss_study.png")
    ```
    """
    if sed_losses is not None:
        missing = sorted(set(histories) - set(sed_losses))
        unknown = sorted({kind for kind in sed_losses.values() if kind not in SED_LOSS_TITLES})
        if missing or unknown:
            raise ConfigError(
                f"sed_losses must map every setting to one of {sorted(SED_LOSS_TITLES)}; "
                f"settings without a loss: {missing}, unknown losses: {unknown}"
            )

    # (title, y label, {setting: history}, key) of every candidate panel.
    panels = []
    if sed_losses is None:
        panels.append(("SED loss", "loss", histories, "sed_loss"))
    else:
        for kind, panel_title in SED_LOSS_TITLES.items():
            of_kind = {label: history for label, history in histories.items() if sed_losses[label] == kind}
            panels.append((panel_title, "loss", of_kind, "sed_loss"))
    panels.extend((panel_title, ylabel, histories, key) for key, panel_title, ylabel in LOSS_STUDY_PANELS)
    panels = [panel for panel in panels if any(_curves(panel[2], panel[3]))]
    if not panels:
        keys = ["sed_loss"] + [key for key, _, _ in LOSS_STUDY_PANELS]
        raise ConfigError(f"no history holds any of the keys {keys} (or their 'val_' forms)")

    colours = _setting_colours(histories)
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows + 0.8), squeeze=False, constrained_layout=True)
    legend = {}
    for ax, (panel_title, ylabel, settings, key) in zip(axes.flat, panels):
        for label, values, linestyle, split in _curves(settings, key):
            epochs = range(1, len(values) + 1)
            (line,) = ax.plot(epochs, values, linestyle, color=colours[label], label=f"{label} ({split})")
            legend.setdefault(line.get_label(), line)
        ax.set_title(panel_title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
    for ax in axes.flat[len(panels) :]:
        ax.remove()
    # One legend for all panels: the settings are the same everywhere, and per-panel legends hide the curves.
    fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncols=2, fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _setting_colours(histories: Mapping) -> dict:
    """One colour per setting, in the order given, the same in every panel."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {label: cycle[index % len(cycle)] for index, label in enumerate(histories)}


def _curves(histories: Mapping[str, Mapping[str, Sequence[float]]], key: str):
    """(setting, values, line style, split name) of each curve of `key` present in `histories`."""
    for label, history in histories.items():
        for prefix, linestyle, split in SPLITS:
            if prefix + key in history:
                yield label, list(history[prefix + key]), linestyle, split


def plot_doa_error_convergence(
    histories: Mapping[str, Mapping[str, Sequence[float]]], *, key: str = "val_LE", title: str = ""
) -> plt.Figure:
    """DOA error against epoch, one line per setting, as Figure 3 of Cao et al. (2021).

    The paper draws the convergence of the location error of the trackwise
    output without PIT, with chunk-level and with frame-level PIT, and of the
    SELDnet format. Each setting is one line of `histories[label][key]`
    against the epoch (1-based; NaN values leave gaps). A setting whose
    history lacks `key` is skipped, keeping its colour free, so a setting has
    the same colour as in `plot_loss_study` for the same `histories` order.

    Args:
        histories: setting label -> Keras-style history (`load_history(run)`),
            e.g. `{"noPIT": {...}, "cPIT": {...}, "tPIT": {...}}`. The label
            is the legend text; the order is the colour order.
        key: the history key to draw, the validation `LE_CD` by default.
        title: figure title; empty for none.

    Returns:
        The figure; `save_figure` writes it.

    Raises:
        ConfigError: no history holds `key`.

    Example:

    ```python
    runs = {"noPIT": "runs/einv2_nopit", "cPIT": "runs/einv2_cpit", "tPIT": "runs/einv2_tpit"}
    fig = plot_doa_error_convergence({label: load_history(run) for label, run in runs.items()})
    save_figure(fig, "figures/einv2_pit_convergence.png")
    ```
    """
    if not any(key in history for history in histories.values()):
        found = sorted({name for history in histories.values() for name in history})
        raise ConfigError(f"no history holds the key {key!r}; keys found: {found}")
    colours = _setting_colours(histories)
    fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
    for label, history in histories.items():
        if key in history:
            values = list(history[key])
            # Markers: a short CPU run has few epochs, a one-epoch run a single point.
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, color=colours[label], label=label)
    ax.set_title("DOA error")
    ax.set_xlabel("epoch")
    ax.set_ylabel("LE (degrees)" if key.endswith("LE") else key)
    ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def plot_weight_sweep(
    sweeps: Mapping[str, Mapping[float, Sequence[Mapping[str, float]]]],
    panels: Mapping[str, str],
    *,
    xlabel: str = "scene weight alpha",
    ylabel: str = "F-score (%)",
    scale: float = 100.0,
    title: str = "",
) -> plt.Figure:
    """Scores against a loss weight on a log axis, one line per method, as Fig. 2 of Nada et al. (2022).

    Each line is the mean over the seeds at each weight, with a band of plus
    and minus one sample standard deviation (none where a weight has a
    single seed).

    Args:
        sweeps: method label -> weight -> one score mapping per seed, e.g.
            `{"Conventional MTL": {0.001: [{"scene_accuracy": 0.52, ...}, ...]}}`.
            The label is the legend text; the order is the colour order.
        panels: score key -> panel title, e.g. `{"scene_accuracy": "Scene micro-F"}`,
            one panel per key in a row.
        scale: factor applied to every score (100: fractions drawn as %).
        title: figure title; empty for none.

    Raises:
        ConfigError: a weight is not positive (no log axis), or a seed lacks a panel's key.
    """
    weights = {weight for sweep in sweeps.values() for weight in sweep}
    if not weights or min(weights) <= 0:
        raise ConfigError(f"weights must be positive for a log axis, found {sorted(weights)}")
    colours = _setting_colours(sweeps)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, constrained_layout=True)
    legend = {}
    for ax, (key, panel_title) in zip(axes.flat, panels.items()):
        for label, sweep in sweeps.items():
            xs = sorted(sweep)
            try:
                values = [scale * np.array([seed[key] for seed in sweep[x]], dtype=np.float64) for x in xs]
            except KeyError:
                raise ConfigError(f"{label}: a seed has no score {key!r}") from None
            mean = np.array([v.mean() for v in values])
            std = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for v in values])
            (line,) = ax.plot(xs, mean, "o-", color=colours[label], label=label)
            ax.fill_between(xs, mean - std, mean + std, color=colours[label], alpha=0.2, linewidth=0)
            legend.setdefault(label, line)
        ax.set_xscale("log")
        ax.set_title(panel_title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    # One legend below the panels: the methods are the same in each, and a legend inside hides the bands.
    fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncols=len(legend), fontsize=9)
    if title:
        fig.suptitle(title)
    return fig
