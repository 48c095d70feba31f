"""`FeatureConfig.loudness_lufs`: per-clip ITU-R BS.1770 loudness normalisation with pyloudnorm
(the MTL-VAE authors' -3 LUFS, specs/mtl_vae.md §3), in the extraction, the cache and the export."""

import json
import warnings
from pathlib import Path

import librosa
import numpy as np
import pyloudnorm
import pytest

from seld_tf.audio import write_audio
from seld_tf.errors import ConfigError
from seld_tf.features import PRESETS, FeatureConfig, get_preset
from seld_tf.features.extract import AudioRecord, extract_clips, make_extractor, normalize_loudness
from seld_tf.recipes import load_recipe, save_recipe
from seld_tf.tasks.desed_sed import DesedSedTask

RATE = 16000
RECIPES = Path(__file__).resolve().parents[1] / "experiments" / "mtl_vae2022"
# 64 mels, n_fft 1024, hop 640: the CPU size, quick to extract.
CPU_SIZE = dict(n_mels=64, n_fft=1024, win_length=1024, hop_length=640)
QUIET = dict(progress=False, log=lambda *_: None)


def noise_clip(seconds=2.0, channels=1, gain=0.05, seed=0, rate=RATE):
    """Float32 noise with a slow envelope, so that the BS.1770 gating has quiet blocks to drop."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    envelope = 0.3 + np.abs(np.sin(2 * np.pi * 0.7 * t))[:, None]
    return (gain * envelope * rng.standard_normal((len(t), channels))).astype(np.float32)


def by_hand(audio, target, rate=RATE):
    """pyloudnorm used directly, as its README shows."""
    meter = pyloudnorm.Meter(rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its clipping warning: -3 LUFS noise peaks above 1
        return pyloudnorm.normalize.loudness(audio, meter.integrated_loudness(audio), target)


@pytest.mark.parametrize("target, channels", [(-3.0, 1), (-23.0, 1), (-3.0, 2)])
def test_the_normalised_clip_measures_the_target_loudness(target, channels):
    audio = noise_clip(channels=channels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the clipping warning is silenced inside
        normalised = normalize_loudness(audio, RATE, target)
    assert normalised.dtype == np.float32 and normalised.shape == audio.shape
    assert pyloudnorm.Meter(RATE).integrated_loudness(normalised.astype(np.float64)) == pytest.approx(target, abs=0.1)
    if target == -3.0:
        assert np.abs(normalised).max() > 1  # kept, not clipped
    # One gain for the whole clip, all channels.
    gain = normalised / audio
    np.testing.assert_allclose(gain, gain.flat[0], rtol=1e-5)


@pytest.mark.parametrize(
    "audio",
    [np.zeros((2 * RATE, 1), np.float32), noise_clip(seconds=0.2), noise_clip(seconds=0.2, gain=0.0)],
    ids=["silent", "0.2 s", "0.2 s silent"],
)
def test_a_silent_or_too_short_clip_passes_unchanged(audio):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        normalised = normalize_loudness(audio, RATE, -3.0)
        features = make_extractor(get_preset("mtl_vae2022", loudness_lufs=-3.0, **CPU_SIZE), "logmel", "numpy")(audio)
    np.testing.assert_array_equal(normalised, audio)
    assert np.isfinite(features).all()


def test_more_channels_than_bs1770_weights_are_refused():
    with pytest.raises(ConfigError, match="loudness_lufs: pyloudnorm measures at most 5 channels, found 6"):
        normalize_loudness(noise_clip(channels=6), RATE, -3.0)


@pytest.mark.parametrize("backend", ["numpy", "tf"])
def test_features_are_those_of_the_clip_normalised_by_hand(backend):
    audio = noise_clip(seconds=3.0, seed=1)
    config = get_preset("mtl_vae2022", loudness_lufs=-3.0, **CPU_SIZE)
    plain = get_preset("mtl_vae2022", **CPU_SIZE)
    features = make_extractor(config, "logmel", backend)(audio)
    expected = make_extractor(plain, "logmel", backend)(by_hand(audio, -3.0))
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-4)
    # -3 LUFS is ~ +26 dB on this clip: a per-clip shift the per-bin scaler would not remove.
    assert np.mean(features - make_extractor(plain, "logmel", backend)(audio)) > 10


def test_the_cache_normalises_after_resampling_and_records_the_option(tmp_path):
    """A 32 kHz file for a 16 kHz preset: resampled (soxr_hq, as the cache does), then normalised, then featurised."""
    audio = noise_clip(seconds=3.0, seed=2, rate=32000)
    write_audio(tmp_path / "a.wav", audio, 32000, subtype="FLOAT")
    config = get_preset("mtl_vae2022", loudness_lufs=-3.0, **CPU_SIZE)
    plain = get_preset("mtl_vae2022", **CPU_SIZE)
    cache_dir = tmp_path / "cache"
    cache = extract_clips([AudioRecord("a", str(tmp_path / "a.wav"))], cache_dir, config, "logmel", backend="numpy", **QUIET)

    resampled = librosa.resample(audio, orig_sr=32000, target_sr=RATE, res_type="soxr_hq", axis=0)
    expected = make_extractor(plain, "logmel", "numpy")(by_hand(resampled, -3.0))
    np.testing.assert_allclose(cache.load("a"), expected, rtol=1e-5, atol=1e-4)
    assert json.loads((cache_dir / "features.json").read_text())["config"]["loudness_lufs"] == -3.0

    # Off, the identity is what it was before the option existed (old caches stay valid), and the entry is redone.
    cache = extract_clips([AudioRecord("a", str(tmp_path / "a.wav"))], cache_dir, plain, "logmel", backend="numpy", **QUIET)
    assert "loudness_lufs" not in json.loads((cache_dir / "features.json").read_text())["config"]
    np.testing.assert_allclose(cache.load("a"), make_extractor(plain, "logmel", "numpy")(resampled), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("value", [1.0, 0.5, -70.5, -120.0, float("nan"), float("inf"), float("-inf"), True, "-3", [-3.0]])
def test_bad_loudness_values_are_config_errors(value):
    with pytest.raises(ConfigError, match=r"FeatureConfig.loudness_lufs: expected None or a number in \[-70, 0\] LUFS"):
        get_preset("mtl_vae2022", loudness_lufs=value)


def test_loudness_is_off_in_every_preset_and_takes_the_whole_range():
    assert [name for name, config in PRESETS.items() if config.loudness_lufs is not None] == []
    assert FeatureConfig().loudness_lufs is None
    for value in (-70, -23, -3.0, 0):
        assert get_preset("mtl_vae2022", loudness_lufs=value).loudness_lufs == value


def test_the_option_round_trips_through_a_recipe_and_a_run_record(tmp_path):
    recipe = load_recipe(RECIPES / "option_loudness.yaml")
    assert recipe.data.feature_overrides == {"loudness_lufs": -3.0}
    save_recipe(recipe, tmp_path / "recipe.yaml")
    again = load_recipe(tmp_path / "recipe.yaml")
    assert again.to_dict() == recipe.to_dict()
    config = get_preset(again.data.features, **again.data.feature_overrides)
    assert config.loudness_lufs == -3.0 and config == get_preset("mtl_vae2022", loudness_lufs=-3.0)
    # run.json holds `to_dict()`; evaluation, prediction and export rebuild the config from it.
    task = DesedSedTask(again)
    front_end = task.feature_front_end({"feature_config": json.loads(json.dumps(config.to_dict())), "frames_per_label": 1})
    assert front_end.config == config
    # A record written before the option existed has no key: off.
    old = {key: value for key, value in get_preset("mtl_vae2022").to_dict().items() if key != "loudness_lufs"}
    assert task.feature_front_end({"feature_config": old, "frames_per_label": 1}).config.loudness_lufs is None

    # The CPU file: the same option over its CPU-size overrides.
    cpu = load_recipe(RECIPES / "cpu" / "option_loudness.yaml")
    assert cpu.data.feature_overrides == {**CPU_SIZE, "loudness_lufs": -3.0}


def test_the_recipe_option_is_validated(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        f"extends: {RECIPES / 'option_loudness.yaml'}\nname: bad\ndata:\n  feature_overrides:\n    loudness_lufs: 3.0\n"
    )
    recipe = load_recipe(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="loudness_lufs"):
        get_preset(recipe.data.features, **recipe.data.feature_overrides)


def test_the_export_records_the_loudness_its_audio_signature_expects(tmp_path):
    """serving_audio cannot run pyloudnorm: export.json names the loudness, and audio normalised to it
    gives what the cached (normalised) features give through serving_default."""
    import tensorflow as tf

    from seld_tf.export import export_run
    from seld_tf.models.mtl_vae2022 import build_mtl_vae2022

    recipe = load_recipe(RECIPES / "cpu" / "option_loudness.yaml")
    config = get_preset(recipe.data.features, **recipe.data.feature_overrides)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_recipe(recipe, run_dir / "recipe.yaml")
    (run_dir / "run.json").write_text(json.dumps({"feature_config": config.to_dict(), "frames_per_label": 1}))
    model = build_mtl_vae2022((None, config.n_mels, 1), num_classes=10, units=4, latent_dim=3, heads=("strong", "weak"), seed=0)
    model.save(run_dir / "best.keras")

    out = export_run(run_dir, tmp_path / "exported")
    assert json.loads((out / "seld_tf" / "export.json").read_text())["loudness_lufs"] == -3.0
    signatures = tf.saved_model.load(str(out)).signatures
    audio = noise_clip(seconds=2.0, seed=3)
    features = make_extractor(config, "logmel", "tf")(audio)
    from_features = signatures["serving_default"](features=tf.constant(features[None]))
    from_audio = signatures["serving_audio"](audio=tf.constant(normalize_loudness(audio, RATE, -3.0)[None]))
    for name in ("strong", "weak"):
        np.testing.assert_allclose(from_audio[name].numpy(), from_features[name].numpy(), atol=1e-4)
