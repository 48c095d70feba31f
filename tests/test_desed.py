"""DESED tree reader on tiny hand-made trees with real WAV files."""

import os
import warnings

import numpy as np
import pytest
import soundfile

from seld_tf.datasets.desed import CLASS_NAMES, SUBSETS, DesedDataset, split_names
from seld_tf.datasets.strong_events import StrongEvent
from seld_tf.errors import AnnotationError, ConfigError, FileError

RATE = 1000  # tiny files: the reader only looks at headers


def wav(folder, name, seconds, rate=RATE):
    os.makedirs(folder, exist_ok=True)
    soundfile.write(os.path.join(folder, name), np.zeros(int(round(seconds * rate)), dtype=np.float32), rate)


def tsv(root, relative, text, encoding="utf-8"):
    path = os.path.join(root, *relative.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(text.encode(encoding))
    return path


def audio(root, subset):
    return os.path.join(root, *SUBSETS[subset].audio.split("/"))


def full_tree(root):
    wav(audio(root, "synthetic_train"), "0.wav", 10)
    wav(audio(root, "synthetic_train"), "1.wav", 10)
    with open(os.path.join(audio(root, "synthetic_train"), "0.jams"), "w") as handle:
        handle.write("{}")
    tsv(root, SUBSETS["synthetic_train"].metadata,
        "filename\tonset\toffset\tevent_label\n0.wav\t0.5\t2.25\tDog\n0.wav\t1.0\t10.0\tFrying\n1.wav\t3.0\t4.0\tSpeech\n")
    wav(audio(root, "weak"), "Yabc_0.000_10.000.wav", 10)
    wav(audio(root, "weak"), "Ydef_0.000_4.000.wav", 4)
    tsv(root, SUBSETS["weak"].metadata,
        "filename\tevent_labels\nYabc_0.000_10.000.wav\tDog,Speech\nYdef_0.000_4.000.wav\tCat\n")
    for name in ("Yu1_0.000_10.000.wav", "Yu2_0.000_10.000.wav"):
        wav(audio(root, "unlabeled"), name, 10)
    wav(audio(root, "audioset_strong"), "Yas_1.000_11.000.wav", 10)
    tsv(root, SUBSETS["audioset_strong"].metadata,
        "filename\tonset\toffset\tevent_label\nYas_1.000_11.000.wav\t0.000\t1.500\tBlender\n")
    wav(audio(root, "validation"), "Yv1_0.000_10.000.wav", 10)
    wav(audio(root, "validation"), "Yv2_0.000_2.400.wav", 2.4)
    tsv(root, SUBSETS["validation"].metadata,
        "filename\tonset\toffset\tevent_label\n"
        "Yv1_0.000_10.000.wav\t9.000\t10.115\tAlarm_bell_ringing\n"
        "Yv2_0.000_2.400.wav\t\t\t\n")
    tsv(root, SUBSETS["validation"].durations, "filename\tduration\nYv1_0.000_10.000.wav\t10.0\n")
    wav(audio(root, "public_eval"), "abc_30_40.wav", 10)
    tsv(root, SUBSETS["public_eval"].metadata,
        "filename\tonset\toffset\tevent_label\nabc_30_40.wav\t0.000\t11.000\tVacuum_cleaner\n")


def strong_tree(root, text, name="validation", files=(("a.wav", 10),)):
    for filename, seconds in files:
        wav(audio(root, name), filename, seconds)
    return tsv(root, SUBSETS[name].metadata, text)


def test_class_names_in_desed_task_order():
    assert CLASS_NAMES == (
        "Alarm_bell_ringing", "Blender", "Cat", "Dishes", "Dog",
        "Electric_shaver_toothbrush", "Frying", "Running_water", "Speech", "Vacuum_cleaner",
    )


def test_every_subset_is_read(tmp_path):
    full_tree(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = DesedDataset(tmp_path)
        assert dataset.subsets == ("synthetic_train", "weak", "unlabeled", "audioset_strong", "validation", "public_eval")
        synthetic = dataset.clips("synthetic_train")
        weak = dataset.clips("weak")
        unlabeled = dataset.clips("unlabeled")
        audioset = dataset.clips("audioset_strong")
        validation = dataset.clips("validation")
        public = dataset.clips("public_eval")

    assert [clip.name for clip in synthetic] == ["0.wav", "1.wav"]  # the .jams file is not a clip
    assert synthetic[0].events == [StrongEvent(0.5, 2.25, "Dog"), StrongEvent(1.0, 10.0, "Frying")]
    assert synthetic[0].weak == {"Dog", "Frying"}
    assert synthetic[0].duration == pytest.approx(10.0)
    assert synthetic[0].path == os.path.join(audio(tmp_path, "synthetic_train"), "0.wav")

    assert [(clip.weak, clip.events) for clip in weak] == [({"Dog", "Speech"}, None), ({"Cat"}, None)]
    assert weak[1].duration == pytest.approx(4.0)  # short weak clip, duration from the audio
    assert [(clip.name, clip.events, clip.weak) for clip in unlabeled] == [
        ("Yu1_0.000_10.000.wav", None, None), ("Yu2_0.000_10.000.wav", None, None)]
    assert audioset[0].events == [StrongEvent(0.0, 1.5, "Blender")]

    # Empty-event row: the file is kept with no events; its duration comes from the audio (2.4 s).
    assert validation[1].events == [] and validation[1].weak == frozenset()
    assert validation[1].duration == pytest.approx(2.4)
    # Offsets past the end are clipped to the duration, one warning per TSV with the count.
    assert validation[0].events == [StrongEvent(9.0, 10.0, "Alarm_bell_ringing")]
    assert public[0].events == [StrongEvent(0.0, 10.0, "Vacuum_cleaner")]
    clipped = [str(w.message) for w in caught if "clipped" in str(w.message)]
    assert len(clipped) == 2
    assert "validation.tsv: 1 event offsets" in clipped[0] and "public.tsv: 1 event offsets" in clipped[1]


def test_durations_tsv_takes_precedence_over_audio(tmp_path):
    strong_tree(tmp_path, "filename\tonset\toffset\tevent_label\na.wav\t1\t9.9\tDog\n")
    tsv(tmp_path, SUBSETS["validation"].durations, "filename\tduration\na.wav\t9.5\n")
    with pytest.warns(UserWarning, match="1 event offsets"):
        (clip,) = DesedDataset(tmp_path).clips("validation")
    assert clip.duration == 9.5 and clip.events == [StrongEvent(1.0, 9.5, "Dog")]


def test_events_starting_after_the_audio_are_dropped(tmp_path):
    strong_tree(tmp_path, "filename\tonset\toffset\tevent_label\na.wav\t3\t4\tCat\na.wav\t1\t2\tDog\n", files=[("a.wav", 2.5)])
    with pytest.warns(UserWarning, match="1 event offsets"):
        (clip,) = DesedDataset(tmp_path).clips("validation")
    assert clip.events == [StrongEvent(1.0, 2.0, "Dog")] and clip.weak == {"Dog"}


def test_quirks_bom_crlf_trailing_blank_lines_decimal_commas(tmp_path):
    text = "\ufefffilename\tonset\toffset\tevent_label\r\na.wav\t0,5\t1,250\tDishes\r\nb.wav\t\t\t\r\n\r\n\r\n"
    strong_tree(tmp_path, text, files=[("a.wav", 10), ("b.wav", 10)])
    tsv(tmp_path, SUBSETS["weak"].metadata, "\ufefffilename\tevent_labels\r\nw.wav\tDog,Cat\r\n\n")
    wav(audio(tmp_path, "weak"), "w.wav", 3)
    dataset = DesedDataset(tmp_path)
    assert [clip.events for clip in dataset.clips("validation")] == [[StrongEvent(0.5, 1.25, "Dishes")], []]
    assert dataset.clips("weak")[0].weak == {"Dog", "Cat"}


def test_unlabeled_tsv_and_unlisted_wavs(tmp_path):
    for name in ("b.wav", "a.wav", "c.wav"):
        wav(audio(tmp_path, "unlabeled"), name, 1)
    tsv(tmp_path, SUBSETS["unlabeled"].metadata, "filename\nc.wav\n")
    assert [clip.name for clip in DesedDataset(tmp_path).clips("unlabeled")] == ["c.wav", "a.wav", "b.wav"]


@pytest.mark.parametrize("choice, folder", [("16k", "_16k"), (None, "")])
def test_sample_rate_folder_choice(tmp_path, choice, folder):
    strong_tree(tmp_path, "filename\tonset\toffset\tevent_label\na.wav\t0\t1\tDog\n")
    wav(audio(tmp_path, "validation") + "_16k", "a.wav", 10, rate=16000)
    (clip,) = DesedDataset(tmp_path, sample_rate_folder=choice).clips("validation")
    assert clip.path == os.path.join(audio(tmp_path, "validation") + folder, "a.wav")
    assert soundfile.info(clip.path).samplerate == (16000 if choice else RATE)


def test_16k_folder_alone_and_original_fallback(tmp_path):
    # Only the _16k copy for weak; only the original for validation.
    wav(audio(tmp_path, "weak") + "_16k", "w.wav", 10, rate=16000)
    tsv(tmp_path, SUBSETS["weak"].metadata, "filename\tevent_labels\nw.wav\tDog\n")
    strong_tree(tmp_path, "filename\tonset\toffset\tevent_label\na.wav\t0\t1\tDog\n")
    dataset = DesedDataset(tmp_path)
    assert dataset.audio_folders["weak"].endswith("weak_16k")
    assert dataset.audio_folders["validation"] == audio(tmp_path, "validation")
    assert len(dataset.clips("weak")) == 1


def test_missing_audio_is_counted_and_strict_raises(tmp_path):
    text = "filename\tonset\toffset\tevent_label\na.wav\t0\t1\tDog\nmissing1.wav\t0\t1\tCat\nmissing2.wav\t\t\t\n"
    path = strong_tree(tmp_path, text)
    with pytest.warns(UserWarning, match=r"2 of 3 files listed have no audio .*missing1.wav, missing2.wav"):
        dataset = DesedDataset(tmp_path)
        assert [clip.name for clip in dataset.clips("validation")] == ["a.wav"]
    assert dataset.missing_audio("validation") == ["missing1.wav", "missing2.wav"]
    assert dataset.listed("validation") == ["a.wav", "missing1.wav", "missing2.wav"]
    with pytest.raises(FileError, match="missing1.wav") as raised:
        DesedDataset(tmp_path, strict=True).clips("validation")
    assert raised.value.path == path


@pytest.mark.parametrize(
    "row, problem",
    [
        ("a.wav\t0\t1", "expected 4 tab-separated columns"),
        ("a.wav\t0\t1\tDog\textra", "expected 4 tab-separated columns"),
        ("a.wav\tzero\t1\tDog", "onset 'zero' is not a number"),
        ("a.wav\tnan\t1\tDog", "onset 'nan' is not a number"),
        ("a.wav\t-1\t1\tDog", "must be a finite time >= 0"),
        ("a.wav\t2\t1\tDog", "onset 2 is after offset 1"),
        ("a.wav\t0\t1\tdog", "unknown class 'dog'"),
        ("a.wav\t0\t\tDog", "must all be given"),
        ("\t0\t1\tDog", "empty filename"),
    ],
)
def test_malformed_strong_rows_name_file_and_row(tmp_path, row, problem):
    path = strong_tree(tmp_path, f"filename\tonset\toffset\tevent_label\na.wav\t0\t1\tCat\n{row}\n")
    with pytest.raises(AnnotationError, match=problem) as raised:
        DesedDataset(tmp_path).clips("validation")
    assert (raised.value.path, raised.value.row) == (path, 3)
    assert f"{path}, row 3" in str(raised.value)


@pytest.mark.parametrize(
    "text, row, problem",
    [
        ("filename\tevent_label\nw.wav\tDog\n", 1, "expected the header"),
        ("filename\tevent_labels\nw.wav\tDog,Barking\n", 2, "unknown class 'Barking'"),
        ("filename\tevent_labels\nw.wav\tDog,\n", 2, "empty class name"),
        ("filename\tevent_labels\nw.wav\tDog\nw.wav\tCat\n", 3, "listed twice"),
        ("filename\tevent_labels\nw.wav\tDog\n\nx.wav\tCat\n", 3, "blank line"),
    ],
)
def test_malformed_weak_tsv_names_file_and_row(tmp_path, text, row, problem):
    wav(audio(tmp_path, "weak"), "w.wav", 1)
    path = tsv(tmp_path, SUBSETS["weak"].metadata, text)
    with pytest.raises(AnnotationError, match=problem) as raised:
        DesedDataset(tmp_path).clips("weak")
    assert (raised.value.path, raised.value.row) == (path, row)


def test_malformed_durations_tsv(tmp_path):
    strong_tree(tmp_path, "filename\tonset\toffset\tevent_label\na.wav\t0\t1\tDog\n")
    path = tsv(tmp_path, SUBSETS["validation"].durations, "filename\tduration\na.wav\t0\n")
    with pytest.raises(AnnotationError, match="must be > 0") as raised:
        DesedDataset(tmp_path).clips("validation")
    assert (raised.value.path, raised.value.row) == (path, 2)


def test_bad_arguments_and_empty_root(tmp_path):
    with pytest.raises(ConfigError, match="no DESED subset"):
        DesedDataset(tmp_path)
    with pytest.raises(ConfigError, match="sample_rate_folder"):
        DesedDataset(tmp_path, sample_rate_folder="44k")
    strong_tree(tmp_path, "filename\tonset\toffset\tevent_label\na.wav\t0\t1\tDog\n")
    with pytest.raises(ConfigError, match="no subset 'weak'"):
        DesedDataset(tmp_path).clips("weak")


@pytest.mark.parametrize("count, fraction, seed", [(1578, 0.9, 42), (120, 0.9, 42), (7, 0.5, 3), (5, 0.25, 0)])
def test_weak_split_draws_the_rows_pandas_draws(count, fraction, seed):
    """The DCASE2022 baseline's `weak_df.sample(frac=weak_split, random_state=seed)` and the rows it leaves."""
    pandas = pytest.importorskip("pandas")
    names = [f"Y{index:04d}_0.000_10.000.wav" for index in range(count)]
    frame = pandas.DataFrame({"filename": names})
    drawn = frame.sample(frac=fraction, random_state=seed)
    kept, held_out = split_names(names, fraction, seed)
    assert kept == list(drawn["filename"])
    assert held_out == list(frame.drop(drawn.index)["filename"])
    assert split_names(names, 1.0, seed) == (names, [])
