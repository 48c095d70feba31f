import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from seld_tf.datasets.dcase2020_seld import Dcase2020Dataset
from seld_tf.errors import AudioFileError, AudioFilesError, ConfigError
from seld_tf.features import compute_features, get_preset
from seld_tf.features import extract as extract_module
from seld_tf.features.extract import AudioRecord, extract_clips, extract_dataset
from seld_tf.audio import load_audio

CONFIG = get_preset("dcase2020")
CONFIG_16K = get_preset("desed")
QUIET = dict(backend="numpy", progress=False, log=lambda *_: None)


@pytest.fixture
def dataset_copy(tiny_seld_dataset, tmp_path):
    """A private copy (tests here damage files)."""
    root = tmp_path / "data"
    shutil.copytree(tiny_seld_dataset, root)
    return root


@pytest.mark.parametrize("array_format, channels", [("foa", 7), ("mic", 10)])
def test_cache_holds_reference_features_of_every_clip(tiny_seld_dataset, tmp_path, array_format, channels):
    cache = extract_dataset(tiny_seld_dataset, tmp_path / "cache", CONFIG, array_format, progress=False, log=lambda *_: None)
    clips = Dcase2020Dataset(tiny_seld_dataset, array_format).clips()
    assert cache.names() == [clip.name for clip in clips]
    clip = clips[1]
    audio, _ = load_audio(clip.audio_path)
    expected = compute_features(audio, CONFIG, array_format)
    cached = cache.load(clip.name)
    assert cached.shape == (150, 64, channels) and cached.dtype == np.float32
    # The cache is written by the TF path; the librosa reference agrees to float32 precision.
    np.testing.assert_allclose(cached[..., :4], expected[..., :4], atol=2e-3)
    np.testing.assert_allclose(cached[..., 4:], expected[..., 4:], atol=1e-4)


def test_scaler_is_fitted_on_training_folds_only(tiny_seld_dataset, tmp_path):
    cache = extract_dataset(
        tiny_seld_dataset, tmp_path / "cache", CONFIG, "foa", train_folds=(3, 4), progress=False, log=lambda *_: None
    )
    train = [c.name for c in Dcase2020Dataset(tiny_seld_dataset, "foa").clips(folds=(3, 4))]
    stacked = np.concatenate([cache.load(name) for name in train])
    mean, scale = cache.scaler()
    np.testing.assert_allclose(mean, stacked.mean(axis=0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(scale, stacked.std(axis=0), rtol=1e-3, atol=1e-5)
    everything = np.concatenate([cache.load(name) for name in cache.names()])
    assert not np.allclose(mean, everything.mean(axis=0), atol=1e-3)


def test_rerun_skips_finished_entries_and_parameter_change_invalidates(tiny_seld_dataset, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    extract_dataset(tiny_seld_dataset, cache_dir, CONFIG, "foa", backend="numpy", progress=False, log=lambda *_: None)
    calls = []
    real = extract_module._clip_features
    monkeypatch.setattr(extract_module, "_clip_features", lambda *a: calls.append(a[0].name) or real(*a))

    extract_dataset(tiny_seld_dataset, cache_dir, CONFIG, "foa", backend="numpy", progress=False, log=lambda *_: None)
    assert calls == []

    changed = get_preset("dcase2020", n_mels=32, gcc_lags=32)
    cache = extract_dataset(tiny_seld_dataset, cache_dir, changed, "foa", backend="numpy", progress=False, log=lambda *_: None)
    assert len(calls) == 12
    assert cache.load(cache.names()[0]).shape[1] == 32
    assert json.loads((cache_dir / "features.json").read_text())["config"]["n_mels"] == 32
    assert cache.scaler()[0].shape == (32, 7)


def test_every_bad_file_is_listed_after_the_good_ones_are_extracted(dataset_copy, tmp_path, capsys, monkeypatch):
    from seld_tf.cli import main

    clips = Dcase2020Dataset(dataset_copy, "foa").clips()
    paths = [Path(clip.audio_path) for clip in clips]
    originals = {index: paths[index].read_bytes() for index in (2, 5, 9)}
    paths[2].write_bytes(originals[2][: len(originals[2]) // 2])
    paths[5].write_bytes(b"")
    paths[9].write_text("not audio")
    cache_dir = tmp_path / "cache"
    args = ["--quiet", "features", str(dataset_copy), "--format", "foa", "--out", str(cache_dir), "--backend", "numpy"]

    assert main(args) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "seld-tf: error: 3 of 12 audio files could not be read:"
    assert [line.split(": ")[0].strip() for line in lines[1:]] == [str(paths[i]) for i in (2, 5, 9)]
    assert "data cut short" in lines[1] and "empty file" in lines[2] and "unreadable" in lines[3]
    good = [clip.name for i, clip in enumerate(clips) if i not in originals]
    assert sorted(p.stem for p in cache_dir.glob("*.npy")) == good
    assert not (cache_dir / "scaler.npz").exists(), "a scaler fitted without the bad training clips"
    assert not list(cache_dir.glob("*.tmp")), "a partial entry was left behind"

    for index, data in originals.items():
        paths[index].write_bytes(data)
    extracted = []
    real = extract_module._clip_features
    monkeypatch.setattr(extract_module, "_clip_features", lambda *a: extracted.append(a[0].name) or real(*a))
    assert main(args) == 0
    assert extracted == [clips[i].name for i in (2, 5, 9)]
    assert (cache_dir / "scaler.npz").exists()


def test_wrong_rate_is_an_audio_error(dataset_copy, tmp_path):
    # DCASE2020 extraction never resamples: a preset at another rate is refused file by file.
    with pytest.raises(AudioFilesError, match="^12 of 12 audio files could not be read:") as caught:
        extract_dataset(dataset_copy, tmp_path / "c", get_preset("dcase2020", sample_rate=16000), "foa", progress=False)
    assert all(isinstance(error, AudioFileError) and "found 24000 Hz" in error.problem for error in caught.value.errors)


def _clip(folder, name, rate, channels, seconds=0.25, seed=0):
    """A noise clip written as a float WAV, and its record."""
    audio = 0.1 * np.random.default_rng(seed).standard_normal((int(rate * seconds), channels))
    path = Path(folder) / f"{name}.wav"
    sf.write(path, audio, rate, subtype="FLOAT")
    return AudioRecord(name, str(path))


def _reference(record, config, array_format, quality="soxr_hq"):
    audio, rate = load_audio(record.path)
    if rate != config.sample_rate:
        audio = soxr.resample(audio, rate, config.sample_rate, quality=quality)
    return compute_features(audio, config, array_format)


@pytest.mark.parametrize(
    "channels, rate, config, array_format, feature_channels",
    [(1, 44100, CONFIG_16K, "logmel", 1), (3, 22050, CONFIG_16K, "logmel", 3), (4, 48000, CONFIG, "foa", 7)],
)
def test_clips_at_other_rates_are_soxr_resampled_then_featurised(
    tmp_path, channels, rate, config, array_format, feature_channels
):
    records = [
        _clip(tmp_path, "resampled", rate, channels),
        _clip(tmp_path, "native", config.sample_rate, channels, seed=1),
    ]
    cache = extract_clips(records, tmp_path / "cache", config, array_format, **QUIET)
    assert cache.names() == ["native", "resampled"]
    for record in records:
        cached = cache.load(record.name)
        assert cached.shape[1:] == (config.n_mels, feature_channels) and cached.dtype == np.float32
        np.testing.assert_allclose(cached, _reference(record, config, array_format), rtol=1e-6, atol=1e-5)
    assert json.loads((tmp_path / "cache" / "features.json").read_text())["resample"] == "soxr_hq"


def test_the_resampler_is_part_of_the_cache_identity(tmp_path, monkeypatch):
    records = [_clip(tmp_path, "a", 44100, 1), _clip(tmp_path, "b", 16000, 1, seed=1)]
    cache_dir = tmp_path / "cache"
    extract_clips(records, cache_dir, CONFIG_16K, "logmel", **QUIET)
    calls = []
    real = extract_module._clip_features
    monkeypatch.setattr(extract_module, "_clip_features", lambda *a: calls.append(a[0].name) or real(*a))

    # soxr's own spelling of the same quality shares the cache.
    extract_clips(records, cache_dir, CONFIG_16K, "logmel", resample="HQ", **QUIET)
    assert calls == []

    cache = extract_clips(records, cache_dir, CONFIG_16K, "logmel", resample="soxr_vhq", **QUIET)
    assert calls == ["a", "b"]
    assert json.loads((cache_dir / "features.json").read_text())["resample"] == "soxr_vhq"
    np.testing.assert_allclose(
        cache.load("a"), _reference(records[0], CONFIG_16K, "logmel", "soxr_vhq"), rtol=1e-6, atol=1e-5
    )


@pytest.mark.parametrize("rate, backend", [(16000, "numpy"), (16000, "tf"), (44100, "numpy")])
def test_downmix_featurises_the_channel_mean(tmp_path, rate, backend):
    record = _clip(tmp_path, "stereo", rate, 2)
    audio, _ = load_audio(record.path)
    assert not np.allclose(audio[:, 0], audio[:, 1])
    quiet = {**QUIET, "backend": backend}
    cache = extract_clips([record], tmp_path / "cache", CONFIG_16K, "logmel", downmix=True, **quiet)
    cached = cache.load("stereo")
    mono = audio.mean(axis=1, keepdims=True)
    if rate != CONFIG_16K.sample_rate:
        # The downmix comes first: the mean is what gets resampled.
        mono = soxr.resample(mono, rate, CONFIG_16K.sample_rate, quality="soxr_hq")
        audio = soxr.resample(audio, rate, CONFIG_16K.sample_rate, quality="soxr_hq")
    expected = compute_features(mono, CONFIG_16K, "logmel")
    assert cached.shape == (expected.shape[0], CONFIG_16K.n_mels, 1) and cached.dtype == np.float32
    np.testing.assert_allclose(cached, expected, rtol=1e-6, atol=1e-5 if backend == "numpy" else 2e-3)
    # Not the features of either channel alone.
    per_channel = compute_features(audio, CONFIG_16K, "logmel")
    assert not any(np.allclose(cached[..., 0], per_channel[..., c], atol=1e-2) for c in range(2))
    assert cache.scaler()[0].shape == (CONFIG_16K.n_mels, 1)


def test_downmix_is_part_of_the_cache_identity(tmp_path, monkeypatch):
    records = [_clip(tmp_path, "a", 16000, 2), _clip(tmp_path, "b", 16000, 2, seed=1)]
    cache_dir = tmp_path / "cache"
    extract_clips(records, cache_dir, CONFIG_16K, "logmel", **QUIET)
    # Without downmix the identity is what it was before the option existed.
    assert "downmix" not in json.loads((cache_dir / "features.json").read_text())
    calls = []
    real = extract_module._clip_features
    monkeypatch.setattr(extract_module, "_clip_features", lambda *a: calls.append(a[0].name) or real(*a))

    cache = extract_clips(records, cache_dir, CONFIG_16K, "logmel", downmix=True, **QUIET)
    assert calls == ["a", "b"]
    assert json.loads((cache_dir / "features.json").read_text())["downmix"] is True
    assert cache.load("a").shape[-1] == 1 and cache.scaler()[0].shape == (CONFIG_16K.n_mels, 1)

    extract_clips(records, cache_dir, CONFIG_16K, "logmel", downmix=True, **QUIET)
    assert calls == ["a", "b"]

    cache = extract_clips(records, cache_dir, CONFIG_16K, "logmel", **QUIET)
    assert calls == ["a", "b", "a", "b"]
    assert cache.load("a").shape[-1] == 2 and cache.scaler()[0].shape == (CONFIG_16K.n_mels, 2)


def test_without_a_resampler_another_rate_is_refused_naming_the_file(tmp_path):
    records = [_clip(tmp_path, "a", 44100, 1), _clip(tmp_path, "b", 16000, 1)]
    with pytest.raises(AudioFilesError, match="^1 of 2 audio files could not be read:") as caught:
        extract_clips(records, tmp_path / "cache", CONFIG_16K, "logmel", resample=None, **QUIET)
    [error] = caught.value.errors
    assert error.path == records[0].path and error.problem == "expected sample rate 16000 Hz, found 44100 Hz"
    assert extract_module.FeatureCache(tmp_path / "cache").names() == ["b"]


def test_scaler_is_fitted_on_scaler_names_only(tmp_path):
    records = [_clip(tmp_path, f"clip{i}", 44100, 2, seed=i) for i in range(3)]
    # A louder clip outside the scaler set, so fitting on everything would show.
    records.append(_clip(tmp_path, "loud", 16000, 2, seed=9))
    sf.write(records[-1].path, 10 * sf.read(records[-1].path)[0], 16000, subtype="FLOAT")
    cache = extract_clips(records, tmp_path / "cache", CONFIG_16K, "logmel", scaler_names=["clip0", "clip2"], **QUIET)
    stacked = np.concatenate([cache.load("clip0"), cache.load("clip2")])
    mean, scale = cache.scaler()
    np.testing.assert_allclose(mean, stacked.mean(axis=0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(scale, stacked.std(axis=0), rtol=1e-3, atol=1e-5)
    everything = np.concatenate([cache.load(name) for name in cache.names()])
    assert not np.allclose(mean, everything.mean(axis=0), atol=1e-3)

    mean, _ = extract_clips(records, tmp_path / "cache", CONFIG_16K, "logmel", **QUIET).scaler()
    np.testing.assert_allclose(mean, everything.mean(axis=0), rtol=1e-4, atol=1e-4)


def test_bad_files_among_good_ones_are_reported_together(tmp_path, monkeypatch):
    good = [_clip(tmp_path, f"good{i}", 48000, 4, seed=i) for i in range(2)]
    mono = _clip(tmp_path, "mono", 48000, 1)
    empty = _clip(tmp_path, "empty", 48000, 4)
    content = Path(empty.path).read_bytes()
    Path(empty.path).write_bytes(b"")
    missing = AudioRecord("missing", str(tmp_path / "missing.wav"))
    records = [good[0], mono, empty, good[1], missing]
    cache_dir = tmp_path / "cache"

    with pytest.raises(AudioFilesError, match="^3 of 5 audio files could not be read:") as caught:
        extract_clips(records, cache_dir, CONFIG, "foa", **QUIET)
    errors = caught.value.errors
    assert [error.path for error in errors] == [mono.path, empty.path, missing.path]
    assert "expected 4 channels, found 1" in errors[0].problem
    assert "empty file" in errors[1].problem and "no such file" in errors[2].problem
    assert sorted(p.stem for p in cache_dir.glob("*.npy")) == ["good0", "good1"]
    assert not (cache_dir / "scaler.npz").exists()

    Path(empty.path).write_bytes(content)
    calls = []
    real = extract_module._clip_features
    monkeypatch.setattr(extract_module, "_clip_features", lambda *a: calls.append(a[0].name) or real(*a))
    cache = extract_clips([good[0], empty, good[1]], cache_dir, CONFIG, "foa", **QUIET)
    assert calls == ["empty"] and cache.scaler()[0].shape == (64, 7)


@pytest.mark.parametrize(
    "kwargs, records, error, message",
    [
        (dict(channels=1), ["a"], ConfigError, "expects 4 audio channels, found 1"),
        (dict(resample="kaiser_best"), ["a"], ConfigError, "expected None or one of"),
        (dict(downmix=True), ["a"], ConfigError, "needs 4 audio channels, not a mono downmix"),
        ({}, ["a", "a"], ValueError, r"found duplicates \['a'\]"),
        (dict(scaler_names=["b"]), ["a"], ValueError, r"1 unknown: \['b'\]"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, kwargs, records, error, message):
    records = [AudioRecord(name, str(tmp_path / f"{name}.wav")) for name in records]
    with pytest.raises(error, match=message):
        extract_clips(records, tmp_path / "cache", CONFIG, "foa", **{**QUIET, **kwargs})
    assert not (tmp_path / "cache").exists()
