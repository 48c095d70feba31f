"""Feature extraction of audio clip records into an on-disk cache.

Layout of a cache folder::

    CACHE_DIR/features.json   what the entries were computed with (config, array format, resampler, downmix)
    CACHE_DIR/<clip>.npy      float32 [frames, bins, channels], one per audio file
    CACHE_DIR/scaler.npz      per-(bin, channel) mean and scale, fitted on the named (training) clips only

Entries are written atomically, so an entry that exists is complete: a re-run
(after a crash or after fixing bad files) skips them. A cache made with other
parameters is cleared before anything is written, so stale features are never
mixed in.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable, Sequence

import librosa
import numpy as np
import pyloudnorm
from sklearn.preprocessing import StandardScaler

from seld_tf.audio import load_audio
from seld_tf.datasets.dcase2020_seld import CHALLENGE_SPLIT, Dcase2020Dataset
from seld_tf.errors import AudioFileError, AudioFilesError, ConfigError
from seld_tf.features import (
    FeatureConfig,
    compute_features,
    compute_features_tf,
    format_audio_channels,
    num_feature_channels,
)
from seld_tf.fileio import save_npy, save_npz, write_json

CONFIG_FILE = "features.json"
SCALER_FILE = "scaler.npz"
# Bumped when the meaning of cached arrays changes without a config change.
CACHE_FORMAT_VERSION = 1
AUDIO_CHANNELS = 4
# soxr qualities in librosa's `res_type` spelling, best first.
RESAMPLE_QUALITIES = ("soxr_vhq", "soxr_hq", "soxr_mq", "soxr_lq", "soxr_qq")
# pyloudnorm's BS.1770 channel weights cover a 5.0 layout at most.
LOUDNESS_MAX_CHANNELS = 5


@dataclasses.dataclass(frozen=True)
class AudioRecord:
    """One audio file to extract: `name` is its cache entry's file stem, `path` the audio file."""

    name: str
    path: str


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


def normalize_loudness(audio: np.ndarray, sample_rate: int, target_lufs: float) -> np.ndarray:
    """`audio` `[samples, channels]` scaled to the integrated loudness `target_lufs` (ITU-R BS.1770).

    pyloudnorm measures all channels together (its BS.1770 channel weights: the
    4th and 5th channel count 1.41) and one gain scales them all. The result
    stays float with the input's dtype: peaks above 1 are kept, not clipped
    (a -3 LUFS target puts most clips' peaks there), and pyloudnorm's warning
    about them is silenced.

    A clip shorter than one 400 ms gating block, or one whose every block is
    below the -70 LUFS absolute gate (silence), has no integrated loudness: it
    is returned unchanged, rather than raising or scaling it to inf/NaN.

    Raises:
        ConfigError: for audio of another rank, or more than `LOUDNESS_MAX_CHANNELS` channels.
    """
    audio = np.asarray(audio)
    if audio.ndim != 2:
        raise ConfigError(f"expected audio of shape [samples, channels], found shape {audio.shape}")
    if audio.shape[1] > LOUDNESS_MAX_CHANNELS:
        raise ConfigError(
            f"FeatureConfig.loudness_lufs: pyloudnorm measures at most {LOUDNESS_MAX_CHANNELS} channels, "
            f"found {audio.shape[1]}; downmix the audio or leave loudness_lufs unset"
        )
    meter = pyloudnorm.Meter(sample_rate)
    if len(audio) < meter.block_size * sample_rate:
        return audio
    loudness = meter.integrated_loudness(audio)
    if not np.isfinite(loudness):
        return audio
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Possible clipped samples", category=UserWarning)
        return pyloudnorm.normalize.loudness(audio, loudness, target_lufs).astype(audio.dtype)


def make_extractor(config: FeatureConfig, array_format: str, backend: str = "tf") -> Callable[[np.ndarray], np.ndarray]:
    """A function audio `[samples, channels]` -> features, with the chosen implementation.

    "tf" runs the in-graph features (traced once per input length), "numpy" the
    librosa reference; both are tested to agree. With `config.loudness_lufs`
    set, both first normalise each clip's loudness (`normalize_loudness`, in
    numpy: pyloudnorm has no graph form).
    """
    features = _feature_function(config, array_format, backend)
    if config.loudness_lufs is None:
        return features
    return lambda audio: features(normalize_loudness(audio, config.sample_rate, config.loudness_lufs))


def _feature_function(config: FeatureConfig, array_format: str, backend: str) -> Callable[[np.ndarray], np.ndarray]:
    if backend == "numpy":
        return lambda audio: compute_features(audio, config, array_format).astype(np.float32)
    if backend != "tf":
        raise ValueError(f"backend must be 'tf' or 'numpy', got {backend!r}")
    import tensorflow as tf

    graph = tf.function(lambda audio: compute_features_tf(audio, config, array_format), reduce_retracing=True)
    return lambda audio: graph(tf.constant(audio)).numpy()


def _resample_quality(resample: str | None) -> str | None:
    """The `RESAMPLE_QUALITIES` name of a soxr quality given as librosa ("soxr_hq") or soxr ("HQ") spells it.

    One spelling per quality, so that "hq" and "soxr_hq" share a cache.

    Raises:
        ConfigError: for anything but None or a soxr quality name.
    """
    if resample is None:
        return None
    name = resample.lower() if isinstance(resample, str) else ""
    name = name if name.startswith("soxr_") else f"soxr_{name}"
    if name not in RESAMPLE_QUALITIES:
        raise ConfigError(f"resample: expected None or one of {list(RESAMPLE_QUALITIES)}, found {resample!r}")
    return name


def _cache_identity(config: FeatureConfig, array_format: str, resample: str | None, downmix: bool = False) -> dict:
    config_dict = config.to_dict()
    for key in ("loudness_lufs", "db_clamp"):
        if config_dict[key] is None:
            # Only when set, so that caches made before the option existed stay valid.
            del config_dict[key]
    identity = {
        "version": CACHE_FORMAT_VERSION,
        "array_format": array_format,
        "resample": resample,
        "config": config_dict,
    }
    if downmix:
        # Only when set, so that caches made before the option existed stay valid.
        identity["downmix"] = True
    return identity


def open_cache(
    cache_dir: str | os.PathLike,
    config: FeatureConfig,
    array_format: str,
    log=print,
    *,
    resample: str | None = None,
    downmix: bool = False,
) -> FeatureCache:
    """Prepare `cache_dir` for `config`, `resample` and `downmix`: entries made with other parameters are removed."""
    root = Path(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    identity = _cache_identity(config, array_format, _resample_quality(resample), bool(downmix))
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


def extract_clips(
    records: Iterable[AudioRecord],
    cache_dir: str | os.PathLike,
    config: FeatureConfig,
    array_format: str,
    *,
    scaler_names: Sequence[str] | None = None,
    channels: int | None = None,
    resample: str | None = "soxr_hq",
    downmix: bool = False,
    backend: str = "tf",
    progress: bool = True,
    log=print,
) -> FeatureCache:
    """Extract features of every clip record into `cache_dir`, then fit the scaler.

    Bad files do not stop the run: every readable clip is extracted (and kept
    in the cache), then `AudioFilesError` lists every bad file with its
    reason, so one run finds them all. The scaler is then not fitted: it
    would miss the bad clips among `scaler_names`.

    Args:
        records: the clips; names must be unique.
        cache_dir: the cache folder (see the module docstring).
        config: feature parameters; `config.sample_rate` is the rate features are computed at.
        array_format: "foa", "mic" (4-channel audio) or "logmel" (any channel count, mono included).
        scaler_names: the records the scaler is fitted on (the training clips); None: all records.
        channels: the audio channel count every file must have (before any downmix); None: any
            the format takes. With "logmel" and no downmix, the `scaler_names` clips must still share one count.
        resample: soxr quality (`RESAMPLE_QUALITIES`, or soxr's "HQ", "VHQ", ...) that brings
            a file at another rate to `config.sample_rate`; None refuses such a file as bad.
            Part of the cache identity: a cache made with another choice is cleared.
        downmix: average each file's channels to one (mono) channel right after loading, before
            resampling (one channel to resample, not several), so "logmel" gives `[frames, bins, 1]`.
            Only "logmel" takes it. Part of the cache identity (recorded only when True, so
            caches made without it stay valid).
        backend: "tf" or "numpy" (`make_extractor`).
        progress: show a progress bar.
        log: receives one-line status messages.

    Raises:
        AudioFilesError: after the run, when any file was bad.
        ConfigError: for an unknown format or resampler, `channels` the format cannot take, or
            `downmix` with a format that needs several audio channels.
        ValueError: for duplicate record names or `scaler_names` that are not records.
    """
    from tqdm import tqdm

    records = list(records)
    resample = _resample_quality(resample)
    downmix = bool(downmix)
    if downmix and format_audio_channels(array_format) is not None:
        raise ConfigError(f"downmix: array format {array_format!r} needs {format_audio_channels(array_format)} audio channels, not a mono downmix")
    if channels is None:
        channels = format_audio_channels(array_format)
    else:
        num_feature_channels(array_format, channels)
    names = [record.name for record in records]
    if len(set(names)) != len(names):
        duplicates = sorted(name for name, count in collections.Counter(names).items() if count > 1)
        raise ValueError(f"clip names must be unique (they name cache entries), found duplicates {duplicates}")
    scaler_names = names if scaler_names is None else list(scaler_names)
    unknown = sorted(set(scaler_names) - set(names))
    if unknown:
        raise ValueError(f"scaler_names must name records, found {len(unknown)} unknown: {unknown[:5]}")

    cache = open_cache(cache_dir, config, array_format, log=log, resample=resample, downmix=downmix)
    todo = [record for record in records if not cache.entry_path(record.name).exists()]
    log(f"{len(records)} clips for {cache.root}: {len(records) - len(todo)} cached, {len(todo)} to extract")
    if todo:
        extract = make_extractor(config, array_format, backend)
        failures = []
        for record in tqdm(todo, desc=f"{array_format} features", disable=not progress, file=sys.stderr):
            try:
                save_npy(cache.entry_path(record.name), _clip_features(record, config, extract, channels, resample, downmix))
            except AudioFileError as error:
                failures.append(error)
        if failures:
            raise AudioFilesError(failures, total=len(records))
    fit_scaler(cache, scaler_names)
    return cache


def extract_file(path: str | os.PathLike, config: FeatureConfig, array_format: str, **options) -> np.ndarray:
    """Features of one audio file, computed exactly as `extract_clips` with `options` caches them.

    For predicting a file outside a dataset: the one code path for loading,
    checking, resampling and downmixing.
    """
    with tempfile.TemporaryDirectory() as scratch:
        record = AudioRecord("clip", os.fspath(path))
        cache = extract_clips([record], scratch, config, array_format, progress=False, log=lambda *_: None, **options)
        return cache.load("clip")


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
    """Extract features of every clip of a DCASE2020-layout dataset into `cache_dir` (`extract_clips`).

    Audio must have the config's sample rate and 4 channels: DCASE2020 is
    24 kHz throughout, so a file at another rate is a broken copy, and a
    preset at another rate would get features the data does not hold (a
    24 kHz recording upsampled has nothing above 12 kHz). Resampling is
    therefore off; call `extract_clips` with `resample` to change rates on
    purpose. The scaler is fitted on the dev clips of `train_folds` only.
    """
    clips = Dcase2020Dataset(dataset_dir, array_format=array_format).clips()
    train_folds = set(train_folds)
    return extract_clips(
        [AudioRecord(clip.name, clip.audio_path) for clip in clips],
        cache_dir,
        config,
        array_format,
        scaler_names=[clip.name for clip in clips if clip.split == "dev" and clip.fold in train_folds],
        channels=AUDIO_CHANNELS,
        resample=None,
        backend=backend,
        progress=progress,
        log=log,
    )


def _clip_features(
    record: AudioRecord,
    config: FeatureConfig,
    extract: Callable[[np.ndarray], np.ndarray],
    channels: int | None,
    resample: str | None,
    downmix: bool = False,
) -> np.ndarray:
    # Without a resampler, load_audio refuses another rate with the error naming the file.
    audio, rate = load_audio(record.path, sample_rate=None if resample else config.sample_rate, channels=channels)
    if downmix:
        # Before resampling: one channel to resample instead of several (the resampler is linear).
        audio = audio.mean(axis=1, keepdims=True)
    if rate != config.sample_rate:
        # librosa's soxr path, so the resampler is the one librosa (a declared dependency) pins.
        audio = librosa.resample(audio, orig_sr=rate, target_sr=config.sample_rate, res_type=resample, axis=0)
    return extract(audio)
