"""Feature extraction over a DCASE-layout dataset into an on-disk cache.

Layout of a cache folder::

    CACHE_DIR/features.json   what the entries were computed with (config, array format)
    CACHE_DIR/<clip>.npy      float32 [frames, bins, channels], one per audio file
    CACHE_DIR/scaler.npz      per-(bin, channel) mean and scale, fitted on training folds only

Entries are written atomically, so an entry that exists is complete: a re-run
(after a crash or after fixing bad files) skips them. A cache made with other
parameters is cleared before anything is written, so stale features are never
mixed in.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from sklearn.preprocessing import StandardScaler

from seld_tf.audio import load_audio
from seld_tf.datasets.dcase2020_seld import CHALLENGE_SPLIT, Clip, Dcase2020Dataset
from seld_tf.errors import AudioFileError, AudioFilesError
from seld_tf.features import FeatureConfig, compute_features, compute_features_tf
from seld_tf.fileio import save_npy, save_npz, write_json

CONFIG_FILE = "features.json"
SCALER_FILE = "scaler.npz"
# Bumped when the meaning of cached arrays changes without a config change.
CACHE_FORMAT_VERSION = 1
AUDIO_CHANNELS = 4


@dataclasses.dataclass(frozen=True)
class FeatureCache:
    """A finished cache folder: features per clip name and the fitted scaler."""

    root: Path

    def entry_path(self, name: str) -> Path:
        return self.root / f"{name}.npy"

    def names(self) -> list[str]:
        return sorted(Path(p).stem for p in glob.glob(str(self.root / "*.npy")))

    def load(self, name: str, mmap: bool = False) -> np.ndarray:
        return np.load(self.entry_path(name), mmap_mode="r" if mmap else None)

    def scaler(self) -> tuple[np.ndarray, np.ndarray]:
        """`(mean, scale)`, each `[bins, channels]`: normalise with `(x - mean) / scale`."""
        with np.load(self.root / SCALER_FILE) as data:
            return data["mean"], data["scale"]


def make_extractor(config: FeatureConfig, array_format: str, backend: str = "tf") -> Callable[[np.ndarray], np.ndarray]:
    """A function audio `[samples, channels]` -> features, with the chosen implementation.

    "tf" runs the in-graph features (traced once per input length), "numpy" the
    librosa reference; both are tested to agree.
    """
    if backend == "numpy":
        return lambda audio: compute_features(audio, config, array_format).astype(np.float32)
    if backend != "tf":
        raise ValueError(f"backend must be 'tf' or 'numpy', got {backend!r}")
    import tensorflow as tf

    graph = tf.function(lambda audio: compute_features_tf(audio, config, array_format), reduce_retracing=True)
    return lambda audio: graph(tf.constant(audio)).numpy()


def _cache_identity(config: FeatureConfig, array_format: str) -> dict:
    return {"version": CACHE_FORMAT_VERSION, "array_format": array_format, "config": config.to_dict()}


def open_cache(cache_dir: str | os.PathLike, config: FeatureConfig, array_format: str, log=print) -> FeatureCache:
    """Prepare `cache_dir` for `config`: entries made with other parameters are removed."""
    root = Path(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    identity = _cache_identity(config, array_format)
    config_path = root / CONFIG_FILE
    if config_path.exists():
        with open(config_path, encoding="utf-8") as handle:
            previous = json.load(handle)
        if previous != identity:
            stale = glob.glob(str(root / "*.npy")) + glob.glob(str(root / SCALER_FILE))
            log(f"feature parameters changed: removing {len(stale)} stale cache files from {root}")
            for path in stale:
                os.remove(path)
    write_json(config_path, identity)
    return FeatureCache(root)


def fit_scaler(cache: FeatureCache, train_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Fit a per-(bin, channel) standard scaler on the named entries and save it.

    Reuses the saved scaler when it was fitted on exactly these entries.
    """
    train_names = sorted(train_names)
    if not train_names:
        raise ValueError("no training clips to fit the feature scaler on")
    scaler_path = cache.root / SCALER_FILE
    if scaler_path.exists():
        with np.load(scaler_path) as data:
            if list(data["train_names"]) == train_names:
                return data["mean"], data["scale"]
    scaler = StandardScaler()
    shape = None
    for name in train_names:
        features = cache.load(name, mmap=True)
        shape = features.shape[1:]
        scaler.partial_fit(features.reshape(len(features), -1))
    mean = scaler.mean_.reshape(shape).astype(np.float32)
    scale = scaler.scale_.reshape(shape).astype(np.float32)
    save_npz(scaler_path, mean=mean, scale=scale, train_names=np.array(train_names))
    return mean, scale


def extract_dataset(
    dataset_dir: str | os.PathLike,
    cache_dir: str | os.PathLike,
    config: FeatureConfig,
    array_format: str = "foa",
    *,
    train_folds: Sequence[int] = CHALLENGE_SPLIT["train"],
    backend: str = "tf",
    progress: bool = True,
    log=print,
) -> FeatureCache:
    """Extract features of every clip of a DCASE2020-layout dataset into `cache_dir`.

    Audio must have the config's sample rate and 4 channels. Bad files do not
    stop the run: every readable clip is extracted (and kept in the cache),
    then `AudioFilesError` lists every bad file with its reason, so one run
    finds them all. The scaler, fitted on the dev clips of `train_folds` only,
    is then not fitted: it would miss the bad training clips.
    """
    from tqdm import tqdm

    dataset = Dcase2020Dataset(dataset_dir, array_format=array_format)
    clips = dataset.clips()
    cache = open_cache(cache_dir, config, array_format, log=log)
    todo = [clip for clip in clips if not cache.entry_path(clip.name).exists()]
    log(f"{len(clips)} clips in {dataset_dir}: {len(clips) - len(todo)} cached, {len(todo)} to extract")
    if todo:
        extract = make_extractor(config, array_format, backend)
        failures = []
        for clip in tqdm(todo, desc=f"{array_format} features", disable=not progress, file=sys.stderr):
            try:
                save_npy(cache.entry_path(clip.name), _clip_features(clip, config, extract))
            except AudioFileError as error:
                failures.append(error)
        if failures:
            raise AudioFilesError(failures, total=len(clips))
    train = [clip.name for clip in clips if clip.split == "dev" and clip.fold in set(train_folds)]
    fit_scaler(cache, train)
    return cache


def _clip_features(clip: Clip, config: FeatureConfig, extract: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    audio, _ = load_audio(clip.audio_path, sample_rate=config.sample_rate, channels=AUDIO_CHANNELS)
    return extract(audio)
