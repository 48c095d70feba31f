"""Tests of the DESED stand-in generator: read back by the unchanged DesedDataset reader."""

import hashlib
import json
import re
import warnings

import numpy as np
import pytest
import soundfile as sf

from seld_tf.cli import main
from seld_tf.datasets.desed import CLASS_NAMES, SUBSETS, DesedDataset
from seld_tf.datasets.synth import desed as synth_desed
from seld_tf.datasets.synth.desed import SIZES, DesedSynthConfig, sample_clip, synthesize_desed_dataset
from seld_tf.errors import ConfigError

# Large enough for weak clip 19 and validation clips 9 and 19 (short) and 25 (no events).
SMALL = {
    "synthetic_train": 6, "weak": 20, "unlabeled": 8, "audioset_strong": 4,
    "validation": 26, "public_eval": 4, "synthetic_validation": 3,
}
SEED = 5
NAMES = {
    "number": re.compile(r"\d+\.wav"),
    "youtube": re.compile(r"Y[A-Za-z0-9_-]{11}_\d+\.000_\d+\.\d{3}\.wav"),
    "public": re.compile(r"[A-Za-z0-9_-]{11}_\d+_\d+\.wav"),
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("desed")
    summary = synthesize_desed_dataset(root, DesedSynthConfig(SMALL, seed=SEED), workers=2, progress=False)
    return root, summary


def _hash(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reader_finds_every_subset_with_the_intended_counts(generated):
    root, summary = generated
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no missing audio, no offsets past the clip end
        dataset = DesedDataset(root, strict=True)
        assert dataset.subsets == tuple(SUBSETS)
        for subset, count in SMALL.items():
            clips = dataset.clips(subset)
            assert len(clips) == count == summary["subsets"][subset]["clips"]
            naming = synth_desed._RECIPES[subset].naming
            assert all(NAMES[naming].fullmatch(clip.name) for clip in clips), subset
    assert json.loads((root / "synth_config.json").read_text())["sizes"] == SMALL


def test_audio_is_16k_mono_pcm16_with_the_listed_durations(generated):
    root, _ = generated
    dataset = DesedDataset(root)
    for subset in SUBSETS:
        for clip in dataset.clips(subset):
            info = sf.info(clip.path)
            assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
            assert info.frames == round(clip.duration * 16000)
    durations = {clip.name: clip.duration for clip in dataset.clips("validation")}
    assert sorted(d for d in durations.values() if d < 10.0) == pytest.approx(sorted(durations[n] for n in _short("validation")))
    assert all(5.0 <= durations[name] <= 9.5 for name in _short("validation"))
    weak = {clip.name: clip.duration for clip in dataset.clips("weak")}
    assert [name for name, d in weak.items() if d < 10.0] == _short("weak")
    assert all(4.0 <= weak[name] <= 9.0 for name in _short("weak"))


def _short(subset: str) -> list[str]:
    every = synth_desed._RECIPES[subset].short_every
    return [sample_clip(SEED, subset, k)[0].name for k in range(SMALL[subset]) if k % every == every - 1]


def test_strong_events_lie_in_their_clips_and_match_the_weak_labels(generated):
    root, _ = generated
    dataset = DesedDataset(root)
    for subset, layout in SUBSETS.items():
        if layout.kind != "strong":
            continue
        for clip in dataset.clips(subset):
            assert all(0.0 <= e.onset < e.offset <= clip.duration for e in clip.events), clip.name
            assert len({e.label for e in clip.events}) <= 3
    empty = [clip.name for clip in dataset.clips("validation") if not clip.events]
    assert empty == [sample_clip(SEED, "validation", 25)[0].name]
    # DesedDataset gives weak clips no events; the labels must be those of the drawn events.
    for k, clip in enumerate(dataset.clips("weak")):
        spec, _ = sample_clip(SEED, "weak", k)
        assert clip.name == spec.name and clip.weak == spec.labels and 1 <= len(clip.weak) <= 3
        assert set(clip.weak) <= set(CLASS_NAMES)
    assert all(clip.events is None and clip.weak is None for clip in dataset.clips("unlabeled"))


def test_same_seed_gives_identical_files_whatever_the_sizes_and_workers(generated, tmp_path):
    root, _ = generated
    again = tmp_path / "again"
    synthesize_desed_dataset(again, DesedSynthConfig({"validation": 12, "synthetic_train": 3}, seed=SEED), workers=1, progress=False)
    first, second = DesedDataset(root), DesedDataset(again)
    for subset, count in (("validation", 12), ("synthetic_train", 3)):
        for a, b in zip(first.clips(subset)[:count], second.clips(subset)):
            assert a.name == b.name and a.events == b.events
            assert _hash(root / SUBSETS[subset].audio / a.name) == _hash(again / SUBSETS[subset].audio / b.name)
    other = sample_clip(SEED + 1, "validation", 0)[0]
    assert other != sample_clip(SEED, "validation", 0)[0]


def _band_share(paths, low_hz: float, high_hz: float) -> float:
    """Mean share of the power spectrum between low_hz and high_hz."""
    shares = []
    for path in paths:
        audio, rate = sf.read(path)
        power = np.abs(np.fft.rfft(audio)) ** 2
        frequency = np.fft.rfftfreq(len(audio), 1.0 / rate)
        shares.append(power[(frequency >= low_hz) & (frequency < high_hz)].sum() / power.sum())
    return float(np.mean(shares))


def test_real_domain_is_band_limited_and_noisier_at_low_frequencies(generated):
    root, _ = generated
    dataset = DesedDataset(root)
    synthetic = [clip.path for clip in dataset.clips("synthetic_train")]
    real = [clip.path for clip in dataset.clips("validation")[:6]]
    # The 6 kHz low-pass: almost nothing above 6.5 kHz in the real domain.
    assert _band_share(real, 6500.0, 8000.0) < 1e-3 < _band_share(synthetic, 6500.0, 8000.0)
    # Brown noise and mains hum put more of the real clips' power below 120 Hz.
    assert _band_share(real, 0.0, 120.0) > 2.0 * _band_share(synthetic, 0.0, 120.0)


def test_sizes():
    assert all(set(sizes) == set(SUBSETS) for sizes in SIZES.values())
    # The spec's CPU ordering; in DCASE2022 itself strong_label_real (3470) outnumbers weak (1578).
    cpu = SIZES["cpu"]
    assert cpu["unlabeled"] > cpu["synthetic_train"] > cpu["weak"] > cpu["audioset_strong"]
    assert sum(cpu.values()) == 1140 and sum(SIZES["paper"].values()) == 33820


def test_refuses_a_non_empty_folder_and_bad_sizes(tmp_path):
    (tmp_path / "stale.wav").write_bytes(b"")
    with pytest.raises(ConfigError, match="not empty"):
        synthesize_desed_dataset(tmp_path, DesedSynthConfig({"weak": 1}), progress=False)
    with pytest.raises(ConfigError, match="unknown DESED subsets"):
        DesedSynthConfig({"strong": 1})
    with pytest.raises(ConfigError, match="unknown DESED size"):
        DesedSynthConfig.preset("gpu")


def test_cli_writes_the_chosen_size(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(SIZES, "cpu", {"weak": 2, "validation": 2})
    code = main(["--quiet", "synth", "desed", "--out", str(tmp_path / "d"), "--seed", "3", "--size", "cpu"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert {name: s["clips"] for name, s in summary["subsets"].items()} == {"weak": 2, "validation": 2}
    assert DesedDataset(tmp_path / "d").subsets == ("weak", "validation")
