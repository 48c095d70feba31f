"""Imoto's SED+ASC metadata and the original TUT layouts on tiny hand-made trees."""

import os
import warnings

import numpy as np
import pytest
import soundfile

from seld_tf.datasets.strong_events import StrongEvent
from seld_tf.datasets.tut import (
    EVENT_CLASSES,
    SCENE_CLASSES,
    TUT_ACOUSTIC_SCENES,
    ImotoDataset,
    TutRow,
    merge_events,
    read_ann,
    read_evaluation_setup,
    read_tut_meta,
    read_tut_rows,
)
from seld_tf.errors import AnnotationError, ConfigError, FileError

RATE = 1000  # tiny files: the reader only looks at headers
HEADER = "path\tscene_label\tevent_start_time\tevent_end_time\tevent_label\n"
HOME = "TUT-sound-events-2016-development/audio/home/a030.wav"
STREET = "TUT-sound-events-2017-development/audio/street/b099.wav"
OFFICE = "TUT-acoustic-scenes-2016-development/audio/a099_0_30.wav"
EVAL_OFFICE = "TUT-acoustic-scenes-2016-evaluation/audio/347.wav"
EVAL_CITY = "TUT-acoustic-scenes-2017-evaluation/audio/1244.wav"


def write(root, relative, text, encoding="utf-8"):
    path = os.path.join(root, *relative.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(text.encode(encoding))
    return path


def wav(root, relative, seconds):
    path = os.path.join(root, *relative.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, np.zeros(int(round(seconds * RATE)), dtype=np.float32), RATE)


def imoto_tree(root):
    """Metadata under root/meta, audio under root/audio; dev = HOME, STREET, OFFICE."""
    home = f"{HOME}\thome\t1.0\t2.5\tcupboard\n{HOME}\thome\t0.5\t1.0\tdishes\n"
    street = (
        f"{STREET}\tcity_center\t0.0\t4.0\tlarge vehicle\n"
        f"{STREET}\tcity_center\t3.0\t3.0\tcar\n"  # the real zero-length event
        f"{STREET}\tcity_center\t1.0\t2.0\tcar\n"
        f"{STREET}\tcity_center\t1.5\t2.5\tcar\n"  # same-class overlap
    )
    office = f"{OFFICE}\toffice\t0.0\t30.0\tfan\n{OFFICE}\toffice\t2.0\t2.1\tkeyboard typing\n"
    meta = os.path.join(root, "meta")
    write(meta, "meta/meta_development.txt", HEADER + home + street + office)
    evaluation = f"{EVAL_OFFICE}\toffice\t0.1\t0.2\tmouse clicking\n{EVAL_CITY}\tcity_center\t0.0\t1.0\tbird singing\n"
    write(meta, "meta/meta_evaluation.txt", HEADER + evaluation)
    write(meta, "crossvaridation/meta_fold01_development.txt", HEADER + home + street)
    write(meta, "crossvaridation/meta_fold01_evaluation.txt", HEADER + office)
    audio = os.path.join(root, "audio")
    for name, seconds in ((HOME, 5), (STREET, 5), (OFFICE, 30), (EVAL_OFFICE, 30), (EVAL_CITY, 10)):
        wav(audio, name, seconds)
    return meta, audio


def dataset(tmp_path, **kwargs):
    meta, audio = imoto_tree(tmp_path)
    return ImotoDataset(meta, audio, **kwargs)


def test_class_lists():
    assert len(EVENT_CLASSES) == 25 and list(EVENT_CLASSES) == sorted(EVENT_CLASSES)
    assert SCENE_CLASSES == ("city_center", "home", "office", "residential_area")
    assert len(TUT_ACOUSTIC_SCENES) == 15 and set(SCENE_CLASSES) <= set(TUT_ACOUSTIC_SCENES)


def test_imoto_development(tmp_path):
    data = dataset(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clips = data.clips("development")
    messages = sorted(str(warning.message) for warning in caught)
    assert len(messages) == 2
    assert "1 zero-length events dropped" in messages[1] and "meta_development.txt" in messages[1]
    assert "1 overlapping events of the same class merged" in messages[0]
    assert [clip.name for clip in clips] == [HOME, STREET, OFFICE]
    assert [clip.scene for clip in clips] == ["home", "city_center", "office"]
    assert [clip.duration for clip in clips] == [5.0, 5.0, 30.0]
    assert clips[0].path == os.path.join(tmp_path, "audio", *HOME.split("/"))
    assert clips[0].events == [StrongEvent(0.5, 1.0, "dishes"), StrongEvent(1.0, 2.5, "cupboard")]
    assert clips[1].events == [StrongEvent(0.0, 4.0, "large vehicle"), StrongEvent(1.0, 2.5, "car")]
    assert clips[2].events == [StrongEvent(0.0, 30.0, "fan"), StrongEvent(2.0, 2.1, "keyboard typing")]
    assert data.clips("development") is clips


def test_imoto_evaluation_and_folds(tmp_path):
    data = dataset(tmp_path)
    assert [clip.scene for clip in data.clips("evaluation")] == ["office", "city_center"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = data.clips("development", fold=1, part="train")
    test = data.clips("development", fold=1, part="test")
    assert [clip.name for clip in train] == [HOME, STREET]
    assert [clip.name for clip in test] == [OFFICE]
    assert data.metadata_file("development", 3, "test").endswith(
        os.path.join("crossvaridation", "meta_fold03_evaluation.txt"))
    with pytest.raises(FileError, match="meta_fold02_development"):
        data.clips("development", fold=2, part="train")


@pytest.mark.parametrize("split, fold, part", [
    ("train", None, None), ("evaluation", 1, "train"), ("development", 5, "train"),
    ("development", 1, None), ("development", 1, "evaluate"), ("development", None, "test"),
])
def test_imoto_bad_selection(tmp_path, split, fold, part):
    with pytest.raises(ConfigError):
        dataset(tmp_path).clips(split, fold, part)


def test_imoto_quirks(tmp_path):
    meta, audio = imoto_tree(tmp_path)
    text = HEADER + f"{OFFICE}\toffice\t0,5\t1,25\tpeople speaking\n{OFFICE}\toffice\t2\t29.5\tfan\n"
    write(meta, "meta/meta_development.txt", "\ufeff" + text.replace("\n", "\r\n") + "\r\n\r\n")
    clips = ImotoDataset(meta, audio).clips()
    assert clips[0].events == [StrongEvent(0.5, 1.25, "people talking"), StrongEvent(2.0, 29.5, "fan")]


def test_imoto_offsets_past_the_end_are_clipped(tmp_path):
    meta, audio = imoto_tree(tmp_path)
    rows = f"{HOME}\thome\t4.0\t6.0\tdrawer\n{HOME}\thome\t5.5\t6.0\tcutlery\n"
    write(meta, "meta/meta_development.txt", HEADER + rows)
    with pytest.warns(UserWarning, match="2 event offsets past"):
        clips = ImotoDataset(meta, audio).clips()
    assert clips[0].events == [StrongEvent(4.0, 5.0, "drawer")]


def test_imoto_without_audio(tmp_path):
    meta, _ = imoto_tree(tmp_path)
    clips = ImotoDataset(meta, tmp_path / "nowhere", check_audio=False).clips("evaluation")
    assert [clip.duration for clip in clips] == [None, None]
    assert clips[0].events == [StrongEvent(0.1, 0.2, "mouse clicking")]


BAD_IMOTO_ROWS = [
    (f"{HOME}\thome\t1.0\t2.0\tbarking\n", "unknown event label 'barking'"),
    (f"{HOME}\tkitchen\t1.0\t2.0\tdishes\n", "unknown scene 'kitchen'"),
    (f"{HOME}\thome\t1.0\t2.0\n", "expected 5 tab-separated columns"),
    (f"{HOME}\thome\t1.0\t2.0\tdishes\textra\n", "found 6"),
    (f"{HOME}\thome\tone\t2.0\tdishes\n", "onset 'one' is not a number"),
    (f"{HOME}\thome\t1.0\tnan\tdishes\n", "offset 'nan' is not a number"),
    (f"{HOME}\thome\t-1.0\t2.0\tdishes\n", "must be a finite time >= 0"),
    (f"{HOME}\thome\t3.0\t2.0\tdishes\n", "onset 3.0 is after offset 2.0"),
    ("\thome\t1.0\t2.0\tdishes\n", "empty path"),
    (f"{HOME}\thome\t1.0\t2.0\tdishes\n{HOME}\toffice\t1.0\t2.0\tfan\n", "has scene 'office' here but 'home' on row 3"),
    (f"{HOME}\thome\t1.0\t2.0\tdishes\n\n{HOME}\thome\t3.0\t4.0\tdishes\n", "blank line"),
    ("TUT-sound-events-2016-development/audio/home/a999.wav\thome\t1.0\t2.0\tdishes\n", "does not exist"),
]


@pytest.mark.parametrize("rows, problem", BAD_IMOTO_ROWS)
def test_imoto_malformed_rows(tmp_path, rows, problem):
    meta, audio = imoto_tree(tmp_path)
    good = f"{OFFICE}\toffice\t0.0\t30.0\tfan\n"
    path = write(meta, "meta/meta_development.txt", HEADER + good + rows)
    with pytest.raises(AnnotationError, match=problem) as error:
        ImotoDataset(meta, audio).clips()
    assert error.value.path == path
    assert error.value.row == (4 if "blank" in problem or "has scene" in problem else 3)


def test_imoto_bad_header_and_empty_file(tmp_path):
    meta, audio = imoto_tree(tmp_path)
    write(meta, "meta/meta_development.txt", "path\tscene\tonset\toffset\tlabel\n")
    with pytest.raises(AnnotationError, match="expected the header") as error:
        ImotoDataset(meta, audio).clips()
    assert error.value.row == 1
    write(meta, "meta/meta_development.txt", "\n\n")
    with pytest.raises(AnnotationError, match="is empty"):
        ImotoDataset(meta, audio).clips()


def test_imoto_not_utf8(tmp_path):
    meta, audio = imoto_tree(tmp_path)
    write(meta, "meta/meta_development.txt", HEADER + f"{HOME}\thome\t1.0\t2.0\tdishes\n" + "\xe9", encoding="latin-1")
    with pytest.raises(AnnotationError, match="not UTF-8") as error:
        ImotoDataset(meta, audio).clips()
    assert error.value.row == 3


def test_tolerant_row_parser(tmp_path):
    path = write(tmp_path, "rows.txt", "\n".join([
        "audio/street/a011.wav",
        "audio/street/a011.wav\tstreet",
        "1,5\t2.0\tcar passing by",
        "audio/b020_90_100.wav\toffice\tb020",
        "audio/home/a001.wav\t0.5\t1.0\tobject impact",
        "audio/home/a001.wav\thome\t0.5\t1.0\tcupboard",
        "audio/home/a001.wav\thome\t0.5\t1.0\tcupboard\tm",
        "audio/home/a001.wav\thome\t0.5\t1.0\tchildren shouting\tm\ta001",
    ]) + "\n")
    rows = read_tut_rows(path)
    assert rows == [
        TutRow(1, "audio/street/a011.wav", None, None, None, None, None, None),
        TutRow(2, "audio/street/a011.wav", "city_center", None, None, None, None, None),
        TutRow(3, None, None, 1.5, 2.0, "car", None, None),
        TutRow(4, "audio/b020_90_100.wav", "office", None, None, None, None, "b020"),
        TutRow(5, "audio/home/a001.wav", None, 0.5, 1.0, "(object) impact", None, None),
        TutRow(6, "audio/home/a001.wav", "home", 0.5, 1.0, "cupboard", None, None),
        TutRow(7, "audio/home/a001.wav", "home", 0.5, 1.0, "cupboard", "m", None),
        TutRow(8, "audio/home/a001.wav", "home", 0.5, 1.0, "children", "m", "a001"),
    ]


@pytest.mark.parametrize("row, problem", [
    ("a\tb\tc\td\te\tf\tg\th", "expected 1 to 7 tab-separated columns"),
    ("1.0\t2.0\tdog", "unknown event label 'dog'"),
    ("1.0\t2,0,0\tcar", "unknown scene '2,0,0'"),  # not numbers, so read as file, scene, identifier
    ("file.wav\tone\t2.0\tcar", "onset 'one' is not a number"),
    ("file.wav\tbeach", "unknown scene 'beach'"),
    ("\thome", "empty file name"),
])
def test_tolerant_row_parser_refuses(tmp_path, row, problem):
    path = write(tmp_path, "rows.txt", "1.0\t2.0\tcar\n" + row + "\n")
    with pytest.raises(AnnotationError, match=problem) as error:
        read_tut_rows(path)
    assert (error.value.path, error.value.row) == (path, 2)


def test_acoustic_scene_meta_with_all_scenes(tmp_path):
    path = write(tmp_path, "TUT-acoustic-scenes-2017-development/meta.txt",
                 "audio/b020_90_100.wav\tbeach\tb020\r\naudio/a001_0_10.wav\tcafe/restaurant\ta001\r\n")
    with pytest.raises(AnnotationError, match="unknown scene 'beach'"):
        read_tut_meta(path)
    recordings = read_tut_meta(path, scenes=TUT_ACOUSTIC_SCENES)
    assert [(r.file, r.scene, r.events) for r in recordings.values()] == [
        ("audio/b020_90_100.wav", "beach", []), ("audio/a001_0_10.wav", "cafe/restaurant", [])]


def test_read_ann_2016_with_quirks(tmp_path):
    text = "0,123\t1,5\tobject impact\n1.0\t2.0\tobject impact\n3.0\t3.0\tdrawer\n4.0\t5.0\tdishes"
    text = "\ufeff" + text.replace("\n", "\r\n") + "\r\n\r\n"
    path = write(tmp_path, "TUT-sound-events-2016-evaluation/meta/home/a001.ann", text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = read_ann(path)
    assert events == [StrongEvent(0.123, 2.0, "(object) impact"), StrongEvent(4.0, 5.0, "dishes")]
    assert sorted(str(w.message) for w in caught) == [
        f"{path}: 1 overlapping events of the same class merged", f"{path}: 1 zero-length events dropped"]


def test_read_ann_2017_evaluation_leading_columns(tmp_path):
    path = write(tmp_path, "TUT-sound-events-2017-evaluation/meta/street/a005.ann",
                 "audio/street/a005.wav\tstreet\t1.0\t2.0\tpeople speaking\n")
    assert read_ann(path) == [StrongEvent(1.0, 2.0, "people talking")]


@pytest.mark.parametrize("text, row, problem", [
    ("1.0\t2.0\tcar\naudio/street/a005.wav\tstreet\n", 2, "expected an event row"),
    ("1.0\t2.0\tcar\n2.0\t1.0\tcar\n", 2, "onset 2.0 is after offset 1.0"),
    ("1.0\t2.0\tlarge vehicles\n", 1, "unknown event label"),
    ("1.0 2.0 car\n", 1, "expected an event row"),
])
def test_read_ann_refuses(tmp_path, text, row, problem):
    path = write(tmp_path, "a.ann", text)
    with pytest.raises(AnnotationError, match=problem) as error:
        read_ann(path)
    assert (error.value.path, error.value.row) == (path, row)


def test_sound_events_2016_meta_and_setup(tmp_path):
    package = tmp_path / "TUT-sound-events-2016-development"
    rows = (
        "audio/home/a030.wav\thome\t1.0\t2.0\tobject impact\tm\n"
        "audio/home/a030.wav\thome\t1.5\t2.5\tobject impact\tm\n"
        "audio/residential_area/b029.wav\tresidential_area\t0.0\t4.0\tbird singing\tm\n"
    )
    write(package, "meta.txt", rows)
    write(package, "evaluation_setup/home_fold1_train.txt", "audio/home/a030.wav\thome\t1.0\t2.0\tobject impact\n")
    write(package, "evaluation_setup/home_fold1_test.txt", "audio/home/a030.wav\n")
    with pytest.warns(UserWarning, match="1 overlapping events"):
        meta = read_tut_meta(package / "meta.txt")
    assert meta["audio/home/a030.wav"].events == [StrongEvent(1.0, 2.5, "(object) impact")]
    assert meta["audio/residential_area/b029.wav"].scene == "residential_area"
    train = read_evaluation_setup(package, "train", fold=1, scene="home")
    assert train["audio/home/a030.wav"].events == [StrongEvent(1.0, 2.0, "(object) impact")]
    test = read_evaluation_setup(package, "test", fold=1, scene="home")
    assert list(test.values())[0].scene is None and list(test.values())[0].events == []
    with pytest.raises(FileError, match="home_fold2_train.txt"):
        read_evaluation_setup(package, "train", fold=2, scene="home")
    with pytest.raises(ConfigError):
        read_evaluation_setup(package, "validate", fold=1, scene="home")
    with pytest.raises(ConfigError):
        read_evaluation_setup(package, "train", fold=0, scene="home")


def test_sound_events_2017_evaluation_and_acoustic_scene_setups(tmp_path):
    se = tmp_path / "TUT-sound-events-2017-evaluation"
    write(se, "evaluation_setup/street_test.txt", "audio/street/a011.wav\tstreet\n")
    assert read_evaluation_setup(se, "test", scene="street")["audio/street/a011.wav"].scene == "city_center"
    scenes = tmp_path / "TUT-acoustic-scenes-2016-development"
    write(scenes, "evaluation_setup/fold2_evaluate.txt", "audio/a099_0_30.wav\toffice\n")
    assert list(read_evaluation_setup(scenes, "evaluate", fold=2)) == ["audio/a099_0_30.wav"]
    write(tmp_path / "as-eval", "evaluation_setup/test.txt", "audio/347.wav\n")
    assert list(read_evaluation_setup(tmp_path / "as-eval", "test")) == ["audio/347.wav"]


def test_tut_meta_refuses(tmp_path):
    path = write(tmp_path, "meta.txt", "audio/home/a030.wav\thome\naudio/home/a030.wav\tresidential_area\n")
    with pytest.raises(AnnotationError, match="has scene 'residential_area' here") as error:
        read_tut_meta(path)
    assert error.value.row == 2
    path = write(tmp_path, "meta2.txt", "audio/home/a030.wav\thome\n1.0\t2.0\tcar\n")
    with pytest.raises(AnnotationError, match="expected a file name") as error:
        read_tut_meta(path)
    assert error.value.row == 2


def test_merge_events_keeps_touching_and_other_classes():
    events = [StrongEvent(2.0, 3.0, "car"), StrongEvent(0.0, 2.0, "car"), StrongEvent(0.5, 1.0, "car"),
              StrongEvent(1.0, 1.5, "fan"), StrongEvent(1.0, 1.0, "fan")]
    merged, dropped, merges = merge_events(events)
    assert merged == [StrongEvent(0.0, 2.0, "car"), StrongEvent(1.0, 1.5, "fan"), StrongEvent(2.0, 3.0, "car")]
    assert (dropped, merges) == (1, 1)
