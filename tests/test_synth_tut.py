"""Tests of the TUT / Imoto SED+ASC stand-in: read back by the unchanged ImotoDataset reader."""

import hashlib
import json
import warnings
from collections import Counter

import pytest
import soundfile as sf

from seld_tf.cli import main
from seld_tf.datasets.synth.tut import GROUPS, SIZES, TABLE_I, TutSynthConfig, synthesize_tut_dataset
from seld_tf.datasets.tut import EVENT_CLASSES, FOLDS, SCENE_CLASSES, ImotoDataset
from seld_tf.errors import ConfigError

# Every scene in every fold (4 recordings per sound-event scene), short recordings.
SMALL = {
    "dev_home": 4, "dev_residential_area": 4, "dev_city_center": 4, "dev_office": 4,
    "eval_home": 1, "eval_residential_area": 1, "eval_city_center": 1, "eval_office": 1, "eval_city_center_10s": 2,
}
SE_SECONDS = (10.0, 12.0)
SEED = 3


def _generate(root):
    return synthesize_tut_dataset(root, TutSynthConfig(SMALL, se_seconds=SE_SECONDS, seed=SEED), workers=2, progress=False)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("tut")
    return root, _generate(root)


@pytest.fixture(scope="module")
def dataset(generated):
    root, _ = generated
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no zero-length events, same-class merges or offsets past the end
        reader = ImotoDataset(root, root)
        for split in ("development", "evaluation"):
            reader.clips(split)
        return reader


def _tree_hashes(root) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "synth_config.json"
    }


def _counts(clips) -> Counter:
    return Counter(event.label for clip in clips for event in clip.events)


def test_splits_hold_the_intended_recordings_scenes_and_folders(generated, dataset):
    root, summary = generated
    for split in ("development", "evaluation"):
        groups = {name: n for name, n in SMALL.items() if GROUPS[name].split == split}
        clips = dataset.clips(split)
        assert len(clips) == sum(groups.values()) == summary["splits"][split]["recordings"]
        assert Counter((clip.name.rsplit("/", 1)[0], clip.scene) for clip in clips) == Counter(
            {(GROUPS[name].folder, GROUPS[name].scene): n for name, n in groups.items()}
        )
    names = {clip.name.rsplit("/", 1)[1] for clip in dataset.clips("development") if clip.scene == "office"}
    assert names == {"a001_0_30.wav", "a001_30_60.wav", "a001_60_90.wav", "a001_90_120.wav"}
    assert json.loads((root / "synth_config.json").read_text())["recordings"] == SMALL


def test_folds_partition_development_row_for_row_with_every_scene(generated, dataset):
    root, _ = generated
    development = [clip.name for clip in dataset.clips("development")]
    held_out = []
    for fold in FOLDS:
        train = dataset.clips("development", fold=fold, part="train")
        test = dataset.clips("development", fold=fold, part="test")
        assert {clip.scene for clip in test} == set(SCENE_CLASSES)
        assert sorted(clip.name for clip in train + test) == sorted(development)
        held_out += [clip.name for clip in test]
        rows = lambda path: (root / path).read_text().splitlines()[1:]  # noqa: E731
        files = [f"crossvaridation/meta_fold0{fold}_{part}.txt" for part in ("development", "evaluation")]
        assert sorted(rows(files[0]) + rows(files[1])) == sorted(rows("meta/meta_development.txt"))
    assert sorted(held_out) == sorted(development)


def test_audio_is_44k_24bit_stereo_and_events_lie_within_it(dataset):
    for split in ("development", "evaluation"):
        for clip in dataset.clips(split):
            info = sf.info(clip.path)
            assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_24")
            if clip.name.startswith("TUT-acoustic-scenes"):
                assert clip.duration == (30.0 if clip.scene == "office" else 10.0)
            else:
                assert SE_SECONDS[0] <= clip.duration <= SE_SECONDS[1]
            assert clip.events and all(0 <= e.onset < e.offset <= clip.duration for e in clip.events)
            assert all(e.label in EVENT_CLASSES for e in clip.events)
    audio, _ = sf.read(dataset.clips("development")[0].path)
    assert 0.05 < abs(audio).max() < 1.0


def test_classes_follow_table_one_scene_support_with_heavy_imbalance(dataset):
    for split_index, split in enumerate(("development", "evaluation")):
        for clip in dataset.clips(split):
            for event in clip.events:
                assert TABLE_I[event.label].get(clip.scene, (0, 0))[split_index] > 0, (split, clip.scene, event.label)
    clips = dataset.clips("development")
    counts = _counts(clips)
    assert max(counts.values()) / min(counts.values()) >= 50
    # Scene-dependent statistics: a class frequent in one scene is absent or rare in the others.
    by_scene = {scene: _counts(clip for clip in clips if clip.scene == scene) for scene in SCENE_CLASSES}
    assert by_scene["office"]["keyboard typing"] >= 30
    assert sum(by_scene[scene]["keyboard typing"] for scene in ("city_center", "home", "residential_area")) == 0
    assert by_scene["office"]["fan"] == SMALL["dev_office"]
    assert by_scene["residential_area"]["bird singing"] > 0 == by_scene["city_center"]["bird singing"]
    # Office (object) impact outnumbers home's per minute, as in Table I (650 / 39 min vs 155 / 36 min).
    minutes = {scene: sum(clip.duration for clip in clips if clip.scene == scene) / 60 for scene in SCENE_CLASSES}
    assert by_scene["office"]["(object) impact"] / minutes["office"] > by_scene["home"]["(object) impact"] / minutes["home"]


def test_recordings_depend_only_on_seed_group_and_index(generated, tmp_path):
    root, _ = generated
    subset = {"dev_home": 2, "dev_office": 1, "eval_city_center_10s": 1}
    synthesize_tut_dataset(tmp_path / "again", TutSynthConfig(subset, se_seconds=SE_SECONDS, seed=SEED), workers=1, progress=False)
    again, full = _tree_hashes(tmp_path / "again"), _tree_hashes(root)
    audio = [path for path in again if path.endswith(".wav")]
    assert len(audio) == 4 and all(again[path] == full[path] for path in audio)
    rows = set((root / "meta/meta_development.txt").read_text().splitlines())
    assert set((tmp_path / "again/meta/meta_development.txt").read_text().splitlines()) <= rows
    synthesize_tut_dataset(tmp_path / "other", TutSynthConfig(subset, se_seconds=SE_SECONDS, seed=SEED + 1), workers=1, progress=False)
    other = _tree_hashes(tmp_path / "other")
    assert all(other[path] != full[path] for path in audio if path in other)


def test_config_is_validated():
    with pytest.raises(ConfigError):
        TutSynthConfig({"dev_kitchen": 1, "eval_home": 1})
    with pytest.raises(ConfigError):
        TutSynthConfig({"dev_home": 1})  # no evaluation recordings
    with pytest.raises(ConfigError):
        TutSynthConfig.preset("huge")
    assert TutSynthConfig.preset("paper").recordings["dev_office"] == 78 == SIZES["paper"]["recordings"]["dev_office"]


def test_cli_writes_a_readable_tree(tmp_path, monkeypatch, capsys):
    import seld_tf.datasets.synth.tut as tut

    # The CPU preset takes ~30 s; the CLI path is the same with a smaller preset.
    monkeypatch.setitem(tut.SIZES, "cpu", {"recordings": {"dev_office": 1, "eval_city_center_10s": 1}, "se_seconds": SE_SECONDS})
    assert main(["--quiet", "synth", "tut", "--out", str(tmp_path), "--seed", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["evaluation"]["recordings"] == 1
    assert len(ImotoDataset(tmp_path, tmp_path).clips("evaluation")) == 1
