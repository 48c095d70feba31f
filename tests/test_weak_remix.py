import os

import numpy as np
import pytest
import soundfile as sf

from seld_tf.datasets import weak_remix as wr
from seld_tf.errors import AnnotationError

KAGGLE_ROWS = ["00044347.wav,Hi-hat,0", "001ca53d.wav,Saxophone,1", "002d256b.wav,Trumpet,1"]


def write(path, text, bom=False, crlf=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = text.replace("\n", "\r\n") if crlf else text
    with open(path, "wb") as handle:
        handle.write((b"\xef\xbb\xbf" if bom else b"") + data.encode("utf-8"))


def kaggle_tree(root, rows=KAGGLE_ROWS, **quirks):
    write(root / "train.csv", "fname,label,manually_verified\n" + "\n".join(rows) + "\n\n\n", **quirks)
    return root


def test_fsd_labels_match_the_spec():
    assert len(wr.FSD_LABELS) == 41 == len(set(wr.FSD_LABELS))
    assert wr.FSD_LABELS[0] == "Acoustic_guitar" and wr.FSD_LABELS[23] == "Hi-hat" and wr.FSD_LABELS[-1] == "Writing"


def test_kaggle_layout_with_quirks(tmp_path):
    clips = wr.read_fsdkaggle2018(kaggle_tree(tmp_path, bom=True, crlf=True))
    assert [(c.name, c.label, c.manually_verified, c.split) for c in clips] == [
        ("00044347.wav", "Hi-hat", False, "train"),
        ("001ca53d.wav", "Saxophone", True, "train"),
        ("002d256b.wav", "Trumpet", True, "train"),
    ]
    assert clips[0].path == os.path.join(tmp_path, "audio_train", "00044347.wav")


def test_zenodo_layout_train_and_test(tmp_path):
    meta = tmp_path / "FSDKaggle2018.meta"
    write(
        meta / "train_post_competition.csv",
        "fname,label,manually_verified,freesound_id,license\n00044347.wav,Hi-hat,0,28739,Attribution\n",
        crlf=True,
    )
    write(
        meta / "test_post_competition_scoring_clips.csv",
        "fname,label,usage,freesound_id,license\n00326aa9.wav,Oboe,Private,355125,Attribution\n\n",
        bom=True,
    )
    train, test = wr.read_fsdkaggle2018(tmp_path)
    assert (train.split, train.manually_verified) == ("train", False)
    assert train.path == os.path.join(tmp_path, "FSDKaggle2018.audio_train", "00044347.wav")
    assert (test.name, test.label, test.usage, test.split, test.manually_verified) == (
        "00326aa9.wav", "Oboe", "Private", "test", True
    )


@pytest.mark.parametrize(
    "rows, line, problem",
    [
        (["00044347.wav,Hi-hat,0", "001ca53d.wav,Kazoo,1"], 3, "unknown label"),
        (["00044347.wav,Hi-hat,2"], 2, "manually_verified"),
        (["00044347.wav,Hi-hat"], 2, "expected 3 columns"),
        (["0004434.wav,Hi-hat,1"], 2, "8 lowercase hex"),
        (["00044347.wav,Hi-hat,1", "", "001ca53d.wav,Cello,1"], 3, "blank line"),
        (["00044347.wav,Hi-hat,1", "00044347.wav,Cello,1"], 3, "listed again"),
    ],
)
def test_fsd_malformed_rows_name_file_and_line(tmp_path, rows, line, problem):
    with pytest.raises(AnnotationError, match=problem) as info:
        wr.read_fsdkaggle2018(kaggle_tree(tmp_path, rows))
    assert (info.value.path, info.value.row) == (str(tmp_path / "train.csv"), line)


def test_fsd_wrong_header(tmp_path):
    write(tmp_path / "train.csv", "name,label,manually_verified\n")
    with pytest.raises(AnnotationError, match="expected the header") as info:
        wr.read_fsdkaggle2018(tmp_path)
    assert info.value.row == 1


TAU_META = (
    "filename\tscene_label\tidentifier\tsource_label\n"
    "audio/airport-barcelona-0-0-a.wav\tairport\tbarcelona-0\ta\n"
    "audio/street_pedestrian-lyon-1161-44600-a.wav\tstreet_pedestrian\tlyon-1161\ta\n"
)


def test_tau2019_meta_and_setup(tmp_path):
    write(tmp_path / "meta.csv", TAU_META + "\n", bom=True, crlf=True)
    setup = tmp_path / "evaluation_setup"
    write(setup / "fold1_train.csv", "filename\tscene_label\naudio/airport-barcelona-0-0-a.wav\tairport\n", crlf=True)
    pedestrian = "audio/street_pedestrian-lyon-1161-44600-a.wav"
    write(setup / "fold1_evaluate.csv", f"filename\tscene_label\n{pedestrian}\tstreet_pedestrian\n")
    write(setup / "fold1_test.csv", "filename\naudio/street_pedestrian-lyon-1161-44600-a.wav\n\n")
    clips = wr.read_tau2019(tmp_path)
    second = clips[1]
    assert (second.scene, second.city, second.location, second.identifier, second.segment, second.source) == (
        "street_pedestrian", "lyon", 1161, "lyon-1161", 44600, "a"
    )
    assert second.name == "street_pedestrian-lyon-1161-44600-a.wav"
    assert second.path == os.path.join(tmp_path, "audio", second.name)
    folds = wr.read_tau2019_setup(tmp_path, clips)
    assert folds.train == (("airport-barcelona-0-0-a.wav", "airport"),)
    assert folds.evaluate == ((second.name, "street_pedestrian"),)
    assert folds.test == (second.name,)

    write(setup / "fold1_evaluate.csv", "filename\tscene_label\naudio/street_pedestrian-lyon-1161-44600-a.wav\tpark\n")
    with pytest.raises(AnnotationError, match="differs from meta.csv") as info:
        wr.read_tau2019_setup(tmp_path, clips)
    assert info.value.row == 2


@pytest.mark.parametrize(
    "row, problem",
    [
        ("audio/beach-barcelona-0-0-a.wav\tbeach\tbarcelona-0\ta", "unknown scene_label"),
        ("audio/airport-barcelona-0-0-a.wav\tpark\tbarcelona-0\ta", "scene_label 'park' disagrees"),
        ("audio/airport-barcelona-0-1-a.wav\tairport\tbarcelona-1\ta", "identifier"),
        ("airport-barcelona-0-1-a.wav\tairport\tbarcelona-0\ta", "is not audio/"),
        ("audio/airport-barcelona-0-1-a.wav airport barcelona-0 a", "expected 4 columns"),
    ],
)
def test_tau2019_malformed_rows(tmp_path, row, problem):
    write(tmp_path / "meta.csv", TAU_META + row + "\n")
    with pytest.raises(AnnotationError, match=problem) as info:
        wr.read_tau2019(tmp_path)
    assert (info.value.path, info.value.row) == (str(tmp_path / "meta.csv"), 4)


def pools(num_events=40, num_scenes=30, num_labels=5):
    events = [
        wr.FsdClip(f"{i:08x}.wav", f"/e/{i:08x}.wav", wr.FSD_LABELS[i % num_labels], i % 7 != 0, "train")
        for i in range(num_events)
    ]
    scenes = [
        wr.TauClip(f"park-paris-{i}-0-a.wav", f"/s/{i}.wav", "park", "paris", i, f"paris-{i}", 0, "a")
        for i in range(num_scenes)
    ]
    durations = {clip.name: 0.5 + 0.1 * (i % 30) for i, clip in enumerate(events)}
    return events, scenes, durations


def test_event_folds_follow_kong():
    events, _, _ = pools()
    folds = wr.assign_event_folds(events)
    indexes = np.arange(len(events))
    np.random.RandomState(1234).shuffle(indexes)
    assert [folds[i] for i in indexes] == [n % 4 + 1 for n in range(len(events))]
    stratified = wr.assign_event_folds(events, stratify=True)
    for label in wr.FSD_LABELS[:5]:
        assert {f for f, c in zip(stratified, events) if c.label == label and c.manually_verified} == {1, 2, 3, 4}


def test_plan_is_the_recipe():
    events, scenes, durations = pools()
    plan = wr.plan_mixtures(events, scenes, durations=durations, mixtures_per_fold=5)
    assert plan == wr.plan_mixtures(events, scenes, durations=durations, mixtures_per_fold=5)
    assert plan != wr.plan_mixtures(events, scenes, durations=durations, mixtures_per_fold=5, seed=7)
    assert [m.mixture_name for m in plan] == [f"{i:05d}.wav" for i in range(20)]
    assert [m.fold for m in plan] == [1] * 5 + [2] * 5 + [3] * 5 + [4] * 5
    assert len({m.scene_audio_name for m in plan}) == 20
    folds = wr.assign_event_folds(events)
    by_name = {c.name: (c, f) for c, f in zip(events, folds)}
    for mixture in plan:
        assert [e.onset for e in mixture.events] == [0.5, 3.0, 5.5]
        for event in mixture.events:
            clip, fold = by_name[event.event_audio_name]
            assert clip.manually_verified and fold == mixture.fold and clip.label == event.event_label
            assert event.offset == pytest.approx(event.onset + min(durations[clip.name], 2.0))
    assert max(e.offset - e.onset for m in plan for e in m.events) == pytest.approx(2.0)


def test_faithful_repeat_repeats_one_permutation():
    events, scenes, durations = pools()
    options = dict(durations=durations, mixtures_per_fold=7)
    names = lambda plan, fold: [e.event_audio_name for m in plan if m.fold == fold for e in m.events]  # noqa: E731
    faithful = names(wr.plan_mixtures(events, scenes, **options), 1)
    period = sum(1 for c, f in zip(events, wr.assign_event_folds(events)) if f == 1 and c.manually_verified)
    assert faithful[period:] == faithful[: len(faithful) - period]
    fresh = names(wr.plan_mixtures(events, scenes, faithful_repeat=False, **options), 1)
    assert fresh[period:] != fresh[: len(fresh) - period]


def test_yaml_round_trip_and_bad_entry(tmp_path):
    events, scenes, durations = pools()
    plan = wr.plan_mixtures(events, scenes, durations=durations, mixtures_per_fold=2)
    path = tmp_path / "mixture.yaml"
    wr.write_mixture_yaml(path, plan)
    text = path.read_text()
    assert text.startswith("- events:\n  - event_audio_name: ")
    assert "fold: 1\n  mixture_name: 00000.wav\n  scene_audio_name: " in text
    assert wr.read_mixture_yaml(path) == plan
    path.write_text(text.replace("fold: 2", "fold: two", 1))
    with pytest.raises(AnnotationError, match="bad entry") as info:
        wr.read_mixture_yaml(path)
    entry_lines = [n for n, line in enumerate(text.split("\n"), start=1) if line == "- events:"]
    assert info.value.row == entry_lines[2]


def measured_snr(stereo, mixture, sample_rate, event_index, scene_rms_samples):
    event = mixture.events[event_index]
    start = int(event.onset * sample_rate)
    piece = stereo[start : start + scene_rms_samples, 0]
    return 20 * np.log10(wr.rms(piece) / wr.rms(stereo[:, 1]))


@pytest.mark.parametrize("snr", [0, 10, 20, -5])
def test_mix_hits_the_rms_snr(snr):
    sample_rate = 1000
    rng = np.random.default_rng(0)
    durations = [0.8, 1.5, 0.3]
    mixture = wr.Mixture(
        "00000.wav", 1, "scene.wav",
        tuple(
            wr.PlannedEvent(f"{i:08x}.wav", wr.FSD_LABELS[2 * i], onset, onset + duration)
            for i, (onset, duration) in enumerate(zip(wr.ONSETS, durations))
        ),
    )  # fmt: skip
    events = [rng.normal(size=int(d * sample_rate)) * (i + 1) for i, d in enumerate(durations)]
    scene = rng.normal(size=10 * sample_rate) * 0.01
    stereo, target = wr.mix(mixture, events, scene, snr, sample_rate)
    assert stereo.shape == (10 * sample_rate, 2) and np.max(np.abs(stereo)) == pytest.approx(1.0)
    for j, audio in enumerate(events):
        assert abs(measured_snr(stereo, mixture, sample_rate, j, len(audio)) - snr) < 1e-6
    assert np.flatnonzero(target).tolist() == [0, 2, 4] and target.dtype == np.int32
    assert not stereo[int(7.5 * sample_rate) :, 0].any()


def test_mix_caps_events_at_two_seconds_but_scales_on_the_whole_file():
    sample_rate = 1000
    mixture = wr.Mixture("00000.wav", 1, "s.wav", (wr.PlannedEvent("00000000.wav", "Bark", 0.5, 2.5),))
    # Loud first 2 s, quiet tail: whole-file RMS differs from the placed part's.
    event = np.concatenate([np.ones(2000), 0.1 * np.ones(3000)])
    stereo, _ = wr.mix(mixture, [event], np.ones(10 * sample_rate), 0.0, sample_rate)
    placed = np.flatnonzero(stereo[:, 0])
    assert (placed[0], placed[-1]) == (500, 2499)
    whole = event / wr.rms(event)
    np.testing.assert_allclose(stereo[500:2500, 0] / stereo[0, 1], whole[:2000])


def test_write_recipe_reads_back(tmp_path):
    sample_rate, rng = 8000, np.random.default_rng(1)
    events = []
    for i in range(8):
        name = f"{i:08x}.wav"
        path = tmp_path / "fsd" / "audio_train" / name
        os.makedirs(path.parent, exist_ok=True)
        sf.write(path, rng.normal(size=int(16000 * (0.4 + 0.4 * i))) * 0.1, 16000, subtype="PCM_16")
        events.append(wr.FsdClip(name, str(path), wr.FSD_LABELS[i % 2], True, "train"))
    scenes = []
    for i in range(4):
        name = f"park-paris-{i}-0-a.wav"
        path = tmp_path / "tau" / "audio" / name
        os.makedirs(path.parent, exist_ok=True)
        sf.write(path, rng.normal(size=(48000, 2)) * 0.05, 16000, subtype="PCM_24")
        scenes.append(wr.TauClip(name, str(path), "park", "paris", i, f"paris-{i}", 0, "a"))
    plan = wr.write_recipe(
        tmp_path / "data", events, scenes, snrs=(0, 20), mixtures_per_fold=1,
        onsets=(0.2, 1.2), max_event_duration=0.8, sample_rate=sample_rate, clip_duration=3.0,
    )  # fmt: skip
    assert wr.read_mixture_yaml(tmp_path / "data" / "mixture.yaml") == plan
    lines = (tmp_path / "data" / "dcase2018_task2_validate_meta.csv").read_text().splitlines()
    assert lines[0] == ",fname,label,manually_verified,fold"
    assert lines[1].startswith("0,00000000.wav,Acoustic_guitar,1,")
    for snr in (0, 20):
        folder = wr.mixture_dir(tmp_path / "data", snr)
        assert folder.endswith(f"mixed_audio/snr_{snr}")
        assert sorted(os.listdir(folder)) == [f"{i:05d}.wav" for i in range(4)]
        audio, rate = sf.read(os.path.join(folder, "00002.wav"))
        assert rate == sample_rate and audio.shape == (3 * sample_rate, 2)
        assert np.max(np.abs(audio)) > 0.99
    assert wr.mixture_dir("ws", 10, "kong") == os.path.join("ws", "mixed_audios/scene_type=dcase2018_task1,snr=10")
