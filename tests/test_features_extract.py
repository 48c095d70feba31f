import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from seld_tf.datasets.dcase2020_seld import Dcase2020Dataset
from seld_tf.errors import AudioFileError, AudioFilesError
from seld_tf.features import compute_features, get_preset
from seld_tf.features import extract as extract_module
from seld_tf.features.extract import extract_dataset
from seld_tf.audio import load_audio

CONFIG = get_preset("dcase2020")


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
    with pytest.raises(AudioFilesError, match="^12 of 12 audio files could not be read:") as caught:
        extract_dataset(dataset_copy, tmp_path / "c", get_preset("dcase2020", sample_rate=16000), "foa", progress=False)
    assert all(isinstance(error, AudioFileError) and "found 24000 Hz" in error.problem for error in caught.value.errors)
