"""`make demo`: the package's main job end to end on built-in synthetic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seld_tf.datasets.dcase2020_seld import CLASS_NAMES, LABEL_FRAME_SECONDS, Dcase2020Dataset
from seld_tf.features import get_preset
from seld_tf.features.extract import extract_dataset
from seld_tf.plotting import plot_clip_features, save_figure


def run_demo(out: Path, figures: Path, *, clips: int = 12, duration: float = 30.0, seed: int = 0) -> dict:
    """Synthesize FOA + MIC scenes, extract the DCASE2020 features, summarise, and plot one clip."""
    from seld_tf.datasets.synth.seld import SeldSynthConfig, synthesize_seld_dataset

    data_dir = out / "data"
    print(f"== synthesizing {clips} clips x {duration:g} s (FOA + MIC) into {data_dir}")
    synth = synthesize_seld_dataset(
        data_dir, SeldSynthConfig(num_clips=clips, duration=duration, seed=seed), formats=("foa", "mic")
    )
    config = get_preset("dcase2020")
    summary = {"synthesis": synth}
    for array_format in ("foa", "mic"):
        print(f"== extracting {array_format.upper()} features")
        cache = extract_dataset(data_dir, out / "features" / array_format, config, array_format)
        mean, scale = cache.scaler()
        shape = cache.load(cache.names()[0], mmap=True).shape
        summary[array_format] = {"clips": len(cache.names()), "feature_shape": shape, "scaler_shape": mean.shape}
        print(f"   {len(cache.names())} clips, features [frames, bins, channels] = {shape}, scaler {mean.shape}")

    dataset = Dcase2020Dataset(data_dir, array_format="foa")
    clip = next(c for c in dataset.clips() if c.overlap == 2)
    events = dataset.read_events(clip)
    features = np.load(out / "features" / "foa" / f"{clip.name}.npy")
    per_class = np.bincount(events.cls, minlength=len(CLASS_NAMES))
    print(f"== {clip.name}: {len(events)} active (frame, event) rows; classes present: "
          + ", ".join(f"{CLASS_NAMES[k]}" for k in np.flatnonzero(per_class)))
    figure = plot_clip_features(
        features,
        events,
        frames_per_second=config.frames_per_second,
        label_frame_seconds=LABEL_FRAME_SECONDS,
        array_format="foa",
        class_names=CLASS_NAMES,
        channels=(0, 4, 5),
        title=f"{clip.name}: FOA log-mel (W), intensity vector x, y and the labels",
    )
    path = figures / "demo_foa_features.png"
    save_figure(figure, path)
    print(f"== wrote {path}")
    return summary
