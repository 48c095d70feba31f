"""Figures, drawn from arrays and histories (never by hand)."""

from __future__ import annotations

import os
import warnings
from typing import Mapping, Sequence, Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seld_tf.datasets.events import EventList  # noqa: E402
from seld_tf.errors import ConfigError  # noqa: E402
from seld_tf.fileio import atomic_open  # noqa: E402

# A Keras-style history: key -> one value per epoch.
History = Mapping[str, Sequence[float]]
# What a study figure takes per setting: one history, or one history per seed.
SeedHistories = Union[History, Sequence[History]]

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
    histories: Mapping[str, SeedHistories],
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
    a setting's histories is skipped (the DCASE scores, for instance, usually
    exist for validation only), and a panel without any curve is left out.

    A setting given as several histories (one per seed) is drawn as the mean
    over the seeds at each epoch, in a band of plus and minus one sample
    standard deviation (ddof=1) of the same colour, and the legend's title
    says over how many seeds. Histories of different lengths are truncated
    to the shortest. NaN values are ignored per epoch: an epoch where every
    seed is NaN is a gap in the line, one where fewer than two seeds have a
    value a gap in the band.

    Args:
        histories: setting label -> Keras-style history (`model.fit(...)
            .history`, or the columns of a `CSVLogger` file), or a list or
            tuple of such histories, one per seed, e.g.
            `{"MSE": [seed0, seed1, seed2], "CE (1) + MSE (1000)": {...}}`.
            The label is the legend text; the order is the colour order.
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
            no history holds any of the plotted keys, a setting has no
            history or something other than histories, or some but not all
            seeds of a setting hold a plotted key.

    Example:

    ```python
    fig = plot_loss_study(
        {"MSE": [load_history(run) for run in mse_runs], "CE (1) + MSE (1000)": ce_history},
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
    seeds = {label: _seed_list(label, runs) for label, runs in histories.items()}

    # (title, y label, {setting: its seeds' histories}, key) of every candidate panel.
    panels = []
    if sed_losses is None:
        panels.append(("SED loss", "loss", seeds, "sed_loss"))
    else:
        for kind, panel_title in SED_LOSS_TITLES.items():
            of_kind = {label: runs for label, runs in seeds.items() if sed_losses[label] == kind}
            panels.append((panel_title, "loss", of_kind, "sed_loss"))
    panels.extend((panel_title, ylabel, seeds, key) for key, panel_title, ylabel in LOSS_STUDY_PANELS)
    panels = [panel for panel in panels if any(_curves(panel[2], panel[3]))]
    if not panels:
        keys = ["sed_loss"] + [key for key, _, _ in LOSS_STUDY_PANELS]
        raise ConfigError(f"no history holds any of the keys {keys} (or their 'val_' forms)")

    colours = _setting_colours(histories)
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows + 0.8), squeeze=False, constrained_layout=True)
    legend, drawn = {}, {}
    for ax, (panel_title, ylabel, settings, key) in zip(axes.flat, panels):
        for label, runs, name, linestyle, split in _curves(settings, key):
            line = _plot_over_seeds(ax, runs, name, linestyle, colours[label], f"{label} ({split})")
            legend.setdefault(line.get_label(), line)
            drawn[label] = len(runs)
        ax.set_title(panel_title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
    for ax in axes.flat[len(panels) :]:
        ax.remove()
    # One legend for all panels: the settings are the same everywhere, and per-panel legends hide the curves.
    fig.legend(
        legend.values(), legend.keys(), loc="outside lower center", ncols=2, fontsize=8,
        title=_seed_note(drawn), title_fontsize=8,
    )  # fmt: skip
    if title:
        fig.suptitle(title)
    return fig


def _setting_colours(histories: Mapping) -> dict:
    """One colour per setting, in the order given, the same in every panel."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {label: cycle[index % len(cycle)] for index, label in enumerate(histories)}


def _curves(settings: Mapping[str, list[History]], key: str):
    """(setting, its seeds' histories, history key, line style, split name) of each curve of `key` in `settings`."""
    for label, runs in settings.items():
        for prefix, linestyle, split in SPLITS:
            if any(prefix + key in history for history in runs):
                yield label, runs, prefix + key, linestyle, split


def _seed_list(label: str, runs: SeedHistories) -> list[History]:
    """The histories of a setting's seeds: `[runs]` for one history, else the list or tuple `runs` itself."""
    if isinstance(runs, Mapping):
        return [runs]
    # A str is a Sequence too, and a generator would be used up by the first panel.
    if not isinstance(runs, (list, tuple)) or not runs or not all(isinstance(history, Mapping) for history in runs):
        raise ConfigError(
            f"{label}: expected a history (key -> per-epoch values) or a non-empty list or tuple of them, "
            f"found {type(runs).__name__}"
        )
    return list(runs)


def _seed_statistics(runs: Sequence[History], key: str, label: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-epoch mean of `runs[i][key]` over the seeds `i`, and its sample standard deviation (ddof=1).

    The std is None for a single seed. Histories of different lengths are
    truncated to the shortest, so every epoch drawn has every seed. NaN
    values (epochs without validation, say) are ignored per epoch; an epoch
    where every seed is NaN is NaN in the mean (a gap in the line), and one
    where fewer than two seeds have a value is NaN in the std (a gap in the
    band).

    Raises:
        ConfigError: some but not all seeds hold `key` (runs of different
            recipes mixed in one setting); the message starts with `label`.
    """
    holders = sum(key in history for history in runs)
    if holders != len(runs):
        raise ConfigError(
            f"{label}: {holders} of the {len(runs)} seeds' histories hold {key!r}; the seeds of a setting must log the same keys"
        )
    length = min(len(history[key]) for history in runs)
    values = np.array([np.asarray(history[key], dtype=np.float64)[:length] for history in runs])
    if len(runs) == 1:
        return values[0], None
    with warnings.catch_warnings():
        # "Mean of empty slice" and "Degrees of freedom <= 0": the NaN they come with is the intended gap.
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=0), np.nanstd(values, axis=0, ddof=1)


def _plot_over_seeds(ax, runs: Sequence[History], key: str, fmt: str, colour, label: str, **line_options):
    """The line of `_seed_statistics(runs, key, label)` against the 1-based epoch, in its std band for several seeds."""
    mean, std = _seed_statistics(runs, key, label)
    epochs = np.arange(1, len(mean) + 1)
    (line,) = ax.plot(epochs, mean, fmt, color=colour, label=label, **line_options)
    if std is not None:
        ax.fill_between(epochs, mean - std, mean + std, color=colour, alpha=0.2, linewidth=0)
    return line


def _seed_note(counts: Mapping[str, int]) -> str | None:
    """What the lines of settings drawn over `counts[label]` seeds are: None when all are single runs."""
    distinct = set(counts.values())
    if distinct <= {1}:
        return None
    if len(distinct) == 1:
        return f"mean ± std over {distinct.pop()} seeds"
    return "mean ± std over the seeds (" + ", ".join(f"{label}: {count}" for label, count in counts.items()) + ")"


def plot_doa_error_convergence(
    histories: Mapping[str, SeedHistories], *, key: str = "val_LE", title: str = ""
) -> plt.Figure:
    """DOA error against epoch, one line per setting, as Figure 3 of Cao et al. (2021).

    The paper draws the convergence of the location error of the trackwise
    output without PIT, with chunk-level and with frame-level PIT, and of the
    SELDnet format. Each setting is one line of `histories[label][key]`
    against the epoch (1-based; NaN values leave gaps). A setting whose
    histories lack `key` is skipped, keeping its colour free, so a setting
    has the same colour as in `plot_loss_study` for the same `histories`
    order. The legend is below the axes, off the curves. A setting given as
    several histories (one per seed) is drawn as in `plot_loss_study`: the
    mean over the seeds in a band of plus and minus one standard deviation.

    Args:
        histories: setting label -> Keras-style history (`load_history(run)`),
            or a list or tuple of such histories, one per seed, e.g.
            `{"noPIT": [...], "cPIT": [...], "tPIT": [...]}`. The label is
            the legend text; the order is the colour order.
        key: the history key to draw, the validation `LE_CD` by default.
        title: figure title; empty for none.

    Returns:
        The figure; `save_figure` writes it.

    Raises:
        ConfigError: no history holds `key`, a setting has no history or
            something other than histories, or some but not all seeds of a
            setting hold `key`.

    Example:

    ```python
    runs = {"noPIT": nopit_runs, "cPIT": cpit_runs, "tPIT": tpit_runs}  # one run folder per seed
    fig = plot_doa_error_convergence({label: [load_history(run) for run in seeds] for label, seeds in runs.items()})
    save_figure(fig, "figures/einv2_pit_convergence.png")
    ```
    """
    seeds = {label: _seed_list(label, runs) for label, runs in histories.items()}
    if not any(key in history for runs in seeds.values() for history in runs):
        found = sorted({name for runs in seeds.values() for history in runs for name in history})
        raise ConfigError(f"no history holds the key {key!r}; keys found: {found}")
    colours = _setting_colours(histories)
    fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
    handles, drawn = [], {}
    for label, runs in seeds.items():
        if any(key in history for history in runs):
            # Markers: a short CPU run has few epochs, a one-epoch run a single point.
            handles.append(_plot_over_seeds(ax, runs, key, "-", colours[label], label, marker="o", markersize=3))
            drawn[label] = len(runs)
    ax.set_title("DOA error")
    ax.set_xlabel("epoch")
    ax.set_ylabel("LE (degrees)" if key.endswith("LE") else key)
    # Below the axes: inside, the legend would hide the early epochs' curves or the bands.
    fig.legend(
        handles=handles, loc="outside lower center", ncols=min(3, len(handles)), fontsize=7,
        title=_seed_note(drawn), title_fontsize=7,
    )  # fmt: skip
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


def plot_attention_maps(
    features: np.ndarray,
    clip_probabilities: np.ndarray,
    step1_attention: np.ndarray,
    step1_probabilities: np.ndarray,
    step2_attention: np.ndarray,
    *,
    class_names: Sequence[str],
    reconstruction: np.ndarray | None = None,
    present: Sequence[str] = (),
    top: int = 3,
    frames_per_second: float | None = None,
    title: str = "",
) -> plt.Figure:
    """The two-step attention of one clip, as Fig. 3 of Deshmukh et al. (2021, 2APAE).

    Panels, row by row, two per row (the eight of spec `apae.md` §4):
    the z-scored input log-mel; the decoder's reconstruction (when given);
    the step-1 weights (over the mel bins) of the `top` classes with the
    highest clip probability, highest first; the step-1 probabilities `Z_p1`
    (class x time); the step-2 weights (over the frames, class x time); and
    the clip probabilities `Z_p2` against the class, the `present` classes
    in another colour. Time-frequency images are mel bin (or class) against
    time, `origin="lower"`, colour map "jet" as the authors' figures, each
    with its own colour bar; the values are drawn as given (no thresholds).

    Args:
        features: `[T, F]` (or `[T, F, 1]`) z-scored log-mel, the model's input.
        clip_probabilities: `[K]`, the clip output.
        step1_attention: `[T, F, K]`, the step-1 weights (they sum to 1 over `F`).
        step1_probabilities: `[T, K]`, `Z_p1`.
        step2_attention: `[T, K]`, the step-2 weights (they sum to 1 over `T`).
        class_names: the `K` class names, in output order.
        reconstruction: `[T, F]` (or `[T, F, 1]`), the decoder's output; None
            leaves its panel out.
        present: names of the classes in the clip (the reference), marked in
            the top-class titles and the probability panel.
        top: how many classes get a step-1 weight panel (the paper: 3).
        frames_per_second: the frame rate, for a time axis in seconds; None
            for frame indices.
        title: figure title; empty for none.

    Returns:
        The figure; `save_figure` writes it.

    Raises:
        ConfigError: the arrays disagree on `T`, `F` or `K`, `class_names`
            is not `K` long, `present` names an unknown class, or `top` is
            not in `1..K`.

    Example:

    ```python
    analysis = apae2021_analysis_model(core_model)
    out = {name: np.asarray(value)[0] for name, value in analysis(scaled[None]).items()}
    fig = plot_attention_maps(
        scaled[..., 0], out["clip"], out["step1_attention"], out["step1_probabilities"],
        out["step2_attention"], class_names=labels, reconstruction=out["reconstruction"],
        present=["Telephone", "Cello", "Meow"], frames_per_second=31.25,
    )
    save_figure(fig, "figures/apae2021_attention_maps.png")
    ```
    """
    features = _squeeze_channel(np.asarray(features, dtype=np.float64), "features")
    if reconstruction is not None:
        reconstruction = _squeeze_channel(np.asarray(reconstruction, dtype=np.float64), "reconstruction")
    clip_probabilities = np.asarray(clip_probabilities, dtype=np.float64)
    step1_attention = np.asarray(step1_attention, dtype=np.float64)
    step1_probabilities = np.asarray(step1_probabilities, dtype=np.float64)
    step2_attention = np.asarray(step2_attention, dtype=np.float64)
    frames, bins = features.shape
    classes = len(class_names)
    expected = {
        "clip_probabilities": (clip_probabilities, (classes,)),
        "step1_attention": (step1_attention, (frames, bins, classes)),
        "step1_probabilities": (step1_probabilities, (frames, classes)),
        "step2_attention": (step2_attention, (frames, classes)),
    }
    if reconstruction is not None:
        expected["reconstruction"] = (reconstruction, (frames, bins))
    wrong = [f"{name} {value.shape} (expected {shape})" for name, (value, shape) in expected.items() if value.shape != shape]
    if wrong:
        raise ConfigError(
            f"features [T, F] = {features.shape} and {classes} class names need: {', '.join(wrong)}"
        )
    unknown = sorted(set(present) - set(class_names))
    if unknown:
        raise ConfigError(f"present: {unknown} are not among class_names")
    if not 1 <= top <= classes:
        raise ConfigError(f"top must be in 1..{classes} (the number of classes), found {top}")

    duration = frames / frames_per_second if frames_per_second else frames
    time_label = "time (s)" if frames_per_second else "frame"
    # Stable: equal probabilities keep the class order.
    ranked = np.argsort(-clip_probabilities, kind="stable")[:top]

    def mark(index: int) -> str:
        return f"{class_names[index]}{' (present)' if class_names[index] in present else ''}"

    # (title, image [rows, T], y label, row labels or None) of every image panel.
    panels = [("input log-mel (z-scored)", features.T, "mel bin", None)]
    if reconstruction is not None:
        panels.append(("decoder reconstruction", reconstruction.T, "mel bin", None))
    for index in ranked:
        panels.append(
            (f"step-1 weights, {mark(index)}: p = {clip_probabilities[index]:.2f}", step1_attention[:, :, index].T, "mel bin", None)
        )
    panels.append(("step-1 probabilities Z_p1", step1_probabilities.T, "class", class_names))
    panels.append(("step-2 weights", step2_attention.T, "class", class_names))

    count = len(panels) + 1
    rows = -(-count // 2)
    fig, axes = plt.subplots(rows, 2, figsize=(12, 2.8 * rows + 0.6), squeeze=False, constrained_layout=True)
    for ax, (panel_title, image, ylabel, row_labels) in zip(axes.flat, panels):
        shown = ax.imshow(
            image, origin="lower", aspect="auto", cmap="jet", interpolation="nearest",
            extent=(0, duration, -0.5, image.shape[0] - 0.5),
        )  # fmt: skip
        fig.colorbar(shown, ax=ax, pad=0.01)
        if row_labels is not None:
            ax.set_yticks(range(len(row_labels)), row_labels, fontsize=max(4, min(8, 240 // len(row_labels))))
        ax.set_title(panel_title, fontsize=9)
        ax.set_xlabel(time_label)
        ax.set_ylabel(ylabel)

    ax = axes.flat[len(panels)]
    colours = ["tab:red" if name in present else "tab:blue" for name in class_names]
    ax.bar(range(classes), clip_probabilities, color=colours)
    ax.set_xticks(range(classes), class_names, rotation=90, fontsize=max(4, min(8, 240 // classes)))
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title("clip probabilities Z_p2" + (" (red: present)" if present else ""), fontsize=9)
    for ax in axes.flat[count:]:
        ax.remove()
    if title:
        fig.suptitle(title)
    return fig


def _squeeze_channel(array: np.ndarray, name: str) -> np.ndarray:
    """`[T, F]` from `[T, F]` or a one-channel `[T, F, 1]`."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ConfigError(f"{name}: expected [T, F] or [T, F, 1], found shape {array.shape}")
    return array


# (panel title, y label) of the MTL-VAE history keys (`seld_tf.tasks.desed_sed`: Keras logs each
# loss term under its output's name, before the loss weights); `plot_loss_terms` draws these by default.
MTL_VAE_LOSS_PANELS = {
    "loss": ("total loss (weighted)", "loss"),
    "strong_logits_loss": ("frame BCE (strong subsets)", "loss"),
    "weak_logits_loss": ("clip BCE (weak subset)", "loss"),
    "reconstruction_loss": ("reconstruction MSE (unlabeled subset)", "loss"),
    "kl_loss": ("KL (all clips, before beta)", "KL"),
    "val_event_f1": ("validation event F1", "macro F1"),
}


def plot_loss_terms(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    panels: Mapping[str, tuple[str, str]] = MTL_VAE_LOSS_PANELS,
    *,
    title: str = "",
) -> plt.Figure:
    """Every loss term and a validation score against the epoch, one panel per history key, one colour per setting.

    Each panel draws `history[key]` of every setting that has it, solid, and,
    for a key without the "val_" prefix, its validation curve `val_<key>`
    dashed where the history has one. Epochs are 1-based; NaN values leave
    gaps. A panel no setting has is left out (e.g. the reconstruction MSE
    when no setting reconstructs), so settings with different loss terms
    share one figure.

    Args:
        histories: setting label -> Keras-style history (`load_history(run)`),
            e.g. `{"S_syn": {...}, "S_syn + W + U + S_real": {...}}`. The label
            is the legend text; the order is the colour order.
        panels: history key -> (panel title, y label), in panel order.
        title: figure title; empty for none.

    Returns:
        The figure; `save_figure` writes it.

    Raises:
        ConfigError: no history holds any of the keys of `panels`.

    Example:

    ```python
    fig = plot_loss_terms({label: load_history(run) for label, run in runs.items()})
    save_figure(fig, "figures/mtl_vae2022_loss_curves.png")
    ```
    """
    shown = [key for key in panels if any(key in history for history in histories.values())]
    if not shown:
        found = sorted({name for history in histories.values() for name in history})
        raise ConfigError(f"no history holds any of the keys {list(panels)}; keys found: {found}")
    colours = _setting_colours(histories)
    columns = min(3, len(shown))
    rows = -(-len(shown) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows + 0.8), squeeze=False, constrained_layout=True)
    legend, dashed = {}, False
    for ax, key in zip(axes.flat, shown):
        for label, history in histories.items():
            curves = [(key, "-")]
            if not key.startswith("val_"):
                curves.append((f"val_{key}", "--"))
            for name, linestyle in curves:
                if name not in history:
                    continue
                values = np.asarray(history[name], dtype=np.float64)
                # Markers: a short CPU run has few epochs, a one-epoch run a single point.
                (line,) = ax.plot(
                    range(1, len(values) + 1), values, linestyle, marker="o", markersize=2.5, color=colours[label], label=label
                )
                if linestyle == "-":
                    legend.setdefault(label, line)
                dashed |= linestyle == "--"
        panel_title, ylabel = panels[key]
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[len(shown) :]:
        ax.remove()
    handles, labels = list(legend.values()), list(legend)
    if dashed:
        handles += [plt.Line2D([], [], color="black"), plt.Line2D([], [], color="black", linestyle="--")]
        labels += ["training", "validation"]
    # One legend for all panels: the settings are the same everywhere.
    fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_strong_predictions(
    probabilities: Mapping[str, np.ndarray],
    reference: Sequence[tuple[float, float, str]],
    *,
    class_names: Sequence[str],
    frame_rate: float,
    detections: Mapping[str, Sequence[tuple[float, float, str]]] | None = None,
    title: str = "",
) -> plt.Figure:
    """One clip's frame probabilities against its reference events, one panel per setting.

    Each panel is the `[T, K]` probabilities as an image (class against time
    in seconds, 0 to 1, one colour bar), the reference events outlined in
    red on their class rows and, when given, the setting's decoded events as
    white bars across the middle of their rows.

    Args:
        probabilities: setting label -> `[T, K]` sigmoid outputs of the clip
            (all settings at the same frame rate).
        reference: the clip's events `(onset, offset, label)`, seconds.
        class_names: the `K` class names, in output order.
        frame_rate: frames per second of the probabilities.
        detections: setting label -> its decoded events; None draws none.
        title: figure title; empty for none.

    Returns:
        The figure; `save_figure` writes it.

    Raises:
        ConfigError: no setting, an array that is not `[T, K]`, a `detections`
            label that is not a setting, or an event of an unknown class.

    Example:

    ```python
    fig = plot_strong_predictions(
        {"all tasks": outputs["strong"]}, clip.events, class_names=CLASS_NAMES, frame_rate=25.0
    )
    save_figure(fig, "figures/mtl_vae2022_strong_predictions.png")
    ```
    """
    if not probabilities:
        raise ConfigError("probabilities: expected at least one setting, found none")
    classes = len(class_names)
    arrays = {label: np.asarray(value, dtype=np.float64) for label, value in probabilities.items()}
    wrong = [f"{label} {value.shape}" for label, value in arrays.items() if value.ndim != 2 or value.shape[1] != classes]
    if wrong:
        raise ConfigError(f"probabilities: expected [T, {classes}] arrays, found {', '.join(wrong)}")
    detections = dict(detections or {})
    unknown = sorted(set(detections) - set(arrays))
    if unknown:
        raise ConfigError(f"detections: {unknown} are not settings of probabilities ({list(arrays)})")
    index = {name: row for row, name in enumerate(class_names)}
    events = list(reference) + [event for found in detections.values() for event in found]
    unknown = sorted({label for _, _, label in events if label not in index})
    if unknown:
        raise ConfigError(f"events of unknown classes {unknown}; expected some of {list(class_names)}")

    fig, axes = plt.subplots(len(arrays), 1, figsize=(11, 2.6 * len(arrays) + 0.6), squeeze=False, constrained_layout=True)
    for ax, (label, values) in zip(axes[:, 0], arrays.items()):
        duration = values.shape[0] / frame_rate
        image = ax.imshow(
            values.T, origin="lower", aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest",
            extent=(0, duration, -0.5, classes - 0.5),
        )  # fmt: skip
        fig.colorbar(image, ax=ax, pad=0.01, label="probability")
        for onset, offset, name in reference:
            ax.add_patch(
                plt.Rectangle(
                    (onset, index[name] - 0.45), offset - onset, 0.9, fill=False, edgecolor="red", linewidth=1.5
                )
            )
        for onset, offset, name in detections.get(label, ()):
            ax.plot([onset, offset], [index[name], index[name]], color="white", linewidth=2.5, solid_capstyle="butt")
        ax.set_yticks(range(classes), class_names, fontsize=max(5, min(8, 240 // classes)))
        ax.set_xlim(0, duration)
        ax.set_ylim(-0.5, classes - 0.5)
        ax.set_xlabel("time (s)")
        extra = ", white: detected" if label in detections else ""
        ax.set_title(f"{label} (red: reference{extra})", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig
