import dataclasses
import hashlib
import json
import os

import numpy as np
import pytest
import soundfile as sf

from seld_tf import cli
from seld_tf.datasets import weak_remix as wr
from seld_tf.datasets.synth import weakmix as wm
from seld_tf.errors import ConfigError

# 5 classes x 4-5 verified clips, 40 scenes of 4 s, 10 mixtures per fold: a few seconds on one core.
SMALL = wm.WeakmixSynthConfig(
    classes=("Acoustic_guitar", "Bark", "Hi-hat", "Knock", "Telephone"), verified_per_class=(4, 5), cities=1,
    locations=2, segments=2, mixtures_per_fold=10, seed=3,
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("weakmix")
    return root, wm.synthesize_weakmix_dataset(root, SMALL, workers=1, progress=False)


def _hashes(root) -> dict[str, str]:
    return {
        os.path.relpath(os.path.join(folder, name), root): hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
        for folder, _, names in os.walk(root)
        for name in names
        if name != wm.CONFIG_FILE
    }


def test_every_class_has_a_recipe_that_sounds():
    assert set(wm.CLASS_RECIPES) == set(wr.FSD_LABELS)
    for label in wr.FSD_LABELS:
        audio = wm.synthesize_fsd_event(label, int(0.3 * wm.EVENT_SAMPLE_RATE), np.random.default_rng(0))
        assert np.isfinite(audio).all() and np.abs(audio).max() > 0.1, label


def test_readers_read_the_sources_unchanged(generated):
    root, summary = generated
    fsd = wr.read_fsdkaggle2018(root / wm.FSD_DIR)
    assert {clip.label for clip in fsd} == set(SMALL.classes) and len(fsd) == summary["events"]
    assert 0.1 < sum(not clip.manually_verified for clip in fsd) / len(fsd) < 0.35
    info = sf.info(fsd[0].path)
    assert (info.samplerate, info.channels, info.subtype) == (44100, 1, "PCM_16")
    tau = wr.read_tau2019(root / wm.TAU_DIR)
    assert len(tau) == SMALL.num_scenes and {clip.scene for clip in tau} == set(wr.TAU2019_SCENES)
    info = sf.info(tau[0].path)
    assert (info.samplerate, info.channels, info.subtype) == (48000, 2, "PCM_24")
    setup = wr.read_tau2019_setup(root / wm.TAU_DIR, tau)
    train_places = {name.rsplit("-", 2)[0] for name, _ in setup.train}
    assert setup.evaluate and not train_places & {name.rsplit("-", 2)[0] for name, _ in setup.evaluate}


def test_mixtures_for_each_snr_with_every_class_in_every_fold(generated):
    root, summary = generated
    plan = wr.read_mixture_yaml(root / wm.WORKSPACE_DIR / "mixture.yaml")
    assert len(plan) == 4 * SMALL.mixtures_per_fold == summary["mixtures_per_snr"]
    for fold in range(1, 5):
        assert {e.event_label for m in plan if m.fold == fold for e in m.events} == set(SMALL.classes)
    for snr in SMALL.snrs:
        folder = wr.mixture_dir(root / wm.WORKSPACE_DIR, snr, wm.LAYOUT)
        assert sorted(os.listdir(folder)) == [m.mixture_name for m in plan]
        info = sf.info(os.path.join(folder, plan[0].mixture_name))
        assert (info.samplerate, info.channels, info.frames) == (16000, 2, 64000)
    assert json.loads((root / wm.CONFIG_FILE).read_text())["classes"] == list(SMALL.classes)


def test_zero_db_has_a_lower_event_to_background_ratio_than_20_db(generated):
    root, _ = generated

    def ratio_db(snr):
        folder = wr.mixture_dir(root / wm.WORKSPACE_DIR, snr, wm.LAYOUT)
        ratios = []
        for name in sorted(os.listdir(folder)):
            audio, _ = sf.read(os.path.join(folder, name))
            ratios.append(20 * np.log10(wr.rms(audio[:, 0]) / wr.rms(audio[:, 1])))
        return float(np.mean(ratios))

    assert ratio_db(20) - ratio_db(0) > 15.0


def test_backgrounds_are_non_stationary():
    for scene in wr.TAU2019_SCENES:
        audio = wm.render_scene(scene, (0, 1), np.random.default_rng(0), 4 * wm.SCENE_SAMPLE_RATE)
        frames = np.sqrt(np.mean(audio[:, 0].reshape(-1, 2400).astype(np.float64) ** 2, axis=1))
        # Stationary noise gives ~0.3 dB of frame-level spread at 50 ms; these vary by decibels.
        assert np.std(20 * np.log10(frames)) > 1.0, scene


def test_same_seed_gives_identical_files(generated, tmp_path):
    root, _ = generated
    wm.synthesize_weakmix_dataset(tmp_path / "again", SMALL, workers=1, progress=False)
    assert _hashes(tmp_path / "again") == _hashes(root)


def test_presets_and_refusals(tmp_path):
    cpu, paper = wm.WeakmixSynthConfig.preset("cpu"), wm.WeakmixSynthConfig.preset("paper")
    assert len(cpu.classes) == 10 and cpu.num_scenes >= 4 * cpu.mixtures_per_fold
    assert len(paper.classes) == 41 and paper.num_scenes == 14400 and paper.mixtures_per_fold == 2000
    with pytest.raises(ConfigError):
        dataclasses.replace(SMALL, verified_per_class=(3, 5))
    with pytest.raises(ConfigError):
        dataclasses.replace(SMALL, mixtures_per_fold=11)
    (tmp_path / "x").write_text("")
    with pytest.raises(ConfigError):
        wm.synthesize_weakmix_dataset(tmp_path, SMALL, workers=1, progress=False)


def test_cli_calls_the_generator_with_the_preset(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(wm, "synthesize_weakmix_dataset", lambda out, config, progress: calls.append((out, config)) or {"ok": 1})
    assert cli.main(["--quiet", "synth", "weakmix", "--out", str(tmp_path), "--seed", "5", "--size", "cpu"]) == 0
    assert calls == [(tmp_path, wm.WeakmixSynthConfig.preset("cpu", seed=5))]
    assert json.loads(capsys.readouterr().out) == {"ok": 1}
