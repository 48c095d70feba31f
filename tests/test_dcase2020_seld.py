"""Tests of the DCASE2020 Task 3 file formats, names, classes and dataset discovery."""

import numpy as np
import pytest

from seld_tf.datasets import dcase2020_seld
from seld_tf.datasets.dcase2020_seld import (
    CHALLENGE_SPLIT,
    Clip,
    ClipInfo,
    Dcase2020Dataset,
    class_index,
    parse_filename,
    read_metadata,
    read_metadata_files,
    read_output,
    read_output_files,
    write_metadata,
    write_output,
)
from seld_tf.datasets.events import EventList
from seld_tf.errors import AnnotationError, ConfigError

# ---------------------------------------------------------------- file names and classes


@pytest.mark.parametrize(
    "name, expected",
    [
        ("fold1_room1_mix001_ov1", ClipInfo(1, 1, 1, 1)),
        ("fold6_room2_mix100_ov2.wav", ClipInfo(6, 2, 100, 2)),
        ("/data/metadata_dev/fold3_room4_mix027_ov2.csv", ClipInfo(3, 4, 27, 2)),
        ("mix001.wav", ClipInfo(None, None, 1, None)),
        ("mix200", ClipInfo(None, None, 200, None)),
    ],
)
def test_parse_filename(name, expected):
    assert parse_filename(name) == expected


@pytest.mark.parametrize(
    "name", ["fold1_room1_mix001", "fold1_room1_mix001_ov1.mp3", "mixture001.wav", "foldA_room1_mix001_ov1"]
)
def test_parse_filename_rejects(name):
    with pytest.raises(AnnotationError) as caught:
        parse_filename(name)
    assert caught.value.row is None
    assert name in str(caught.value) and "fold1_room1_mix001_ov1" in str(caught.value)


@pytest.mark.parametrize(
    "name, index", [("alarm", 0), ("Crying Baby", 1), ("knocking_on_door", 9), (" PIANO ", 13), ("male  speech", 11)]
)
def test_class_index(name, index):
    assert class_index(name) == index


def test_class_index_unknown_lists_valid_names():
    with pytest.raises(ConfigError, match=r"'dog'.*alarm, crying_baby, .*ringing_phone, piano"):
        class_index("dog")


def test_challenge_split_covers_the_six_development_folds_once():
    folds = [fold for split in CHALLENGE_SPLIT.values() for fold in split]
    assert sorted(folds) == [1, 2, 3, 4, 5, 6] and CHALLENGE_SPLIT["test"] == (1,)


# ---------------------------------------------------------------- metadata CSV


def _csv(tmp_path, text: str, name: str = "fold1_room1_mix001_ov1.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_metadata(tmp_path):
    path = _csv(tmp_path, "0,3,0,-180,45\n0,5,1, 170 ,-45\n12,13,0,0,0\n\n")
    events = read_metadata(path, num_frames=600)
    assert events.num_frames == 600
    assert list(events.rows()) == [(0, 3, 0, -180.0, 45.0), (0, 5, 1, 170.0, -45.0), (12, 13, 0, 0.0, 0.0)]


def test_read_metadata_empty_file(tmp_path):
    events = read_metadata(_csv(tmp_path, ""), num_frames=10)
    assert len(events) == 0 and events.num_frames == 10


@pytest.mark.parametrize(
    "text, row, message",
    [
        ("0,1,0,10,0\n1,1,0,10\n", 2, r"expected 5 \(frame,class,track,azimuth,elevation\) columns, found 4"),
        ("0,1,0,10,0,1\n", 1, r"expected 5 \(frame,class,track,azimuth,elevation\) columns, found 6"),
        ("frame,class,track,azimuth,elevation\n", 1, "expected an integer frame, found 'frame'"),
        ("0,1,0,10.5,0\n", 1, "expected an integer azimuth, found '10.5'"),
        ("0,x,0,10,0\n", 1, "expected an integer class, found 'x'"),
        ("0,1,0,10,0\n0,14,0,10,0\n", 2, r"expected class in \[0, 14\), found 14"),
        ("0,-1,0,10,0\n", 1, r"expected class in \[0, 14\), found -1"),
        ("0,1,0,181,0\n", 1, r"expected azimuth in \[-180, 180\], found 181"),
        ("0,1,0,-181,0\n", 1, r"expected azimuth in \[-180, 180\], found -181"),
        ("0,1,0,0,91\n", 1, r"expected elevation in \[-90, 90\], found 91"),
        ("0,1,0,0,-91\n", 1, r"expected elevation in \[-90, 90\], found -91"),
        ("-1,1,0,0,0\n", 1, "expected a non-negative frame, found -1"),
        ("0,1,-2,0,0\n", 1, "expected a non-negative track, found -2"),
        ("0,1,-,0,0\n", 1, "expected an integer track, found '-'"),
        ("0,1,0,0,-\n", 1, "expected an integer elevation, found '-'"),
        ("0,1,0,--5,0\n", 1, "expected an integer azimuth, found '--5'"),
        ("0,1,0,10,0\n1,1,0,10\n2,1,0,10,0,0\n", 2, "found 4"),
        ("0,1,0,0,0\n\n1,1,0,0,0\n", 2, "found a blank line before the end of the file"),
    ],
)
def test_read_metadata_rejects_malformed_rows(tmp_path, text, row, message):
    path = _csv(tmp_path, text)
    with pytest.raises(AnnotationError, match=message) as caught:
        read_metadata(path)
    assert caught.value.row == row
    assert str(caught.value).startswith(f"{path}, row {row}: ")


def test_read_metadata_frame_limit(tmp_path):
    path = _csv(tmp_path, "599,0,0,0,0\n600,0,0,0,0\n")
    assert len(read_metadata(path)) == 2
    with pytest.raises(AnnotationError, match=r"row 2: expected frame < 600 .*found 600"):
        read_metadata(path, num_frames=600)


def test_read_metadata_num_classes(tmp_path):
    path = _csv(tmp_path, "0,20,0,0,0\n")
    assert read_metadata(path, num_classes=21).cls.tolist() == [20]
    with pytest.raises(AnnotationError, match=r"row 1: expected class in \[0, 14\), found 20"):
        read_metadata(path)


def test_read_metadata_missing_and_binary_files(tmp_path):
    with pytest.raises(AnnotationError, match=r"absent\.csv: expected a CSV file, found no such file"):
        read_metadata(tmp_path / "absent.csv")
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(AnnotationError, match=r"binary\.csv: expected UTF-8 text"):
        read_metadata(path)


def test_azimuth_180_is_read_as_minus_180(tmp_path):
    # The same direction as -180; event lists keep azimuths in [-180, 180).
    assert read_metadata(_csv(tmp_path, "0,1,0,180,10\n1,1,0,-180,10\n")).azimuth.tolist() == [-180.0, -180.0]
    out = _csv(tmp_path, "0,1,0,180.0,10\n1,1,0,180,0\n2,1,0,179.9999,0\n", name="out.csv")
    assert read_output(out).azimuth.tolist() == [-180.0, -180.0, 179.9999]


def test_byte_order_mark_is_skipped(tmp_path):
    bom = b"\xef\xbb\xbf"
    path = tmp_path / "fold1_room1_mix001_ov1.csv"
    path.write_bytes(bom + b"0,3,0,-180,45\n")
    assert list(read_metadata(path).rows()) == [(0, 3, 0, -180.0, 45.0)]
    # As a spreadsheet saves it: byte-order mark and CRLF line ends.
    out = tmp_path / "out.csv"
    out.write_bytes(bom + b"0,3,0,1,0,0\r\n1,3,0,0,2.5,0\r\n")
    np.testing.assert_allclose(read_output(out).azimuth, [0.0, 90.0])
    path.write_bytes(bom + b"0,3,0,10,0\n0,x,0,10,0\n")
    with pytest.raises(AnnotationError, match="row 2: expected an integer class, found 'x'"):
        read_metadata(path)


@pytest.mark.parametrize(
    "reader, plain, free",
    [
        (read_metadata, "0,3,0,-12,45\n7,13,2,180,-1\n", "0,3,0,-12, 45\n7,13,+2,180,-1\n"),
        (read_output, "0,3,0,-12.3456,45.5\n7,13,2,180,-0.25\n", "0, 3, 0, -12.3456, 45.5\r7,13,+2,1.8e2,-.25\n \n"),
        (read_output, "0,3,0,0.123456,-0.5,0.75\n9,1,1,3,0,-4\n", "0,3,0,0.123456,-0.5,0.75 \n9,1,1,3.0,0,-4e0\n"),
    ],
)
def test_plain_and_freely_formatted_files_read_alike(tmp_path, monkeypatch, reader, plain, free):
    # A plain file is parsed whole, any other row by row: both must give the same numbers.
    free_events = reader(_csv(tmp_path, free, name="free.csv"))

    def refuse(*args):
        raise AssertionError("a plain file went to the row parser")

    monkeypatch.setattr(dcase2020_seld, "_parse_rows", refuse)
    plain_events = reader(_csv(tmp_path, plain, name="plain.csv"))
    for name in ("frame", "cls", "track", "azimuth", "elevation"):
        np.testing.assert_array_equal(getattr(plain_events, name), getattr(free_events, name))


@pytest.mark.parametrize("repeat", ["0,3,1,10,0", "0,3,1,-90,20"])
def test_read_metadata_refuses_a_repeated_frame_class_track(tmp_path, repeat):
    # An exact copy of row 1, or another direction for its source: either way two rows claim one track.
    path = _csv(tmp_path, f"0,3,1,10,0\n0,3,0,10,0\n0,4,1,10,0\n{repeat}\n1,3,1,10,0\n")
    message = r"expected one row per \(frame, class, track\), found frame 0, class 3, track 1 again \(first at row 1\)"
    with pytest.raises(AnnotationError, match=message) as caught:
        read_metadata(path)
    assert caught.value.row == 4 and str(caught.value).startswith(f"{path}, row 4: ")


def test_repeated_frame_class_track_found_at_any_frame_number(tmp_path):
    # Frames too large to key all files in one int64 are checked file by file.
    huge = 2**60
    assert read_metadata(_csv(tmp_path, f"0,1,0,0,0\n{huge},1,0,0,0\n")).frame.tolist() == [0, huge]
    with pytest.raises(AnnotationError, match=r"row 3: .*found frame 1152921504606846976, class 1, track 0 again \(first at row 2\)"):
        read_metadata(_csv(tmp_path, f"0,1,0,0,0\n{huge},1,0,0,0\n{huge},1,0,0,0\n"))


def test_read_metadata_reports_a_malformed_row_before_a_repeated_one(tmp_path):
    with pytest.raises(AnnotationError, match="row 3: expected class") as caught:
        read_metadata(_csv(tmp_path, "0,3,1,10,0\n0,3,1,10,0\n0,99,1,10,0\n"))
    assert caught.value.row == 3


def test_read_output_accepts_a_repeated_frame_class_track(tmp_path):
    # The metric ignores output tracks, as the official loader does: a system may write track 0 throughout.
    events = read_output(_csv(tmp_path, "0,3,0,10,0\n0,3,0,-90,20\n", name="out.csv"))
    assert events.azimuth.tolist() == [10.0, -90.0]


def test_reading_many_files_at_once_gives_each_files_events(tmp_path, monkeypatch):
    texts = ["", "0,3,0,-180,45\n1,3,0,170,-45\n", "", "5,1,2,0,0\n\n", "\ufeff7,13,0,10,10"]
    paths = [_csv(tmp_path, text, name=f"fold1_room1_mix00{i}_ov1.csv") for i, text in enumerate(texts)]
    one_by_one = [list(read_metadata(path, num_frames=600).rows()) for path in paths]

    def refuse(*args):
        raise AssertionError("a plain file went to the row parser")

    monkeypatch.setattr(dcase2020_seld, "_parse_rows", refuse)
    together = read_metadata_files(paths, num_frames=600)
    assert [list(events.rows()) for events in together] == one_by_one
    assert [events.num_frames for events in together] == [600] * 5
    assert [len(events) for events in together] == [0, 2, 0, 1, 1]


def test_reading_many_files_reports_the_first_bad_file(tmp_path):
    good = _csv(tmp_path, "0,3,0,10,0\n", name="good.csv")
    repeated = _csv(tmp_path, "0,3,0,10,0\n0,3,0,10,0\n", name="repeated.csv")
    malformed = _csv(tmp_path, "0,3,0,10,0\n0,3,0,10\n", name="malformed.csv")
    with pytest.raises(AnnotationError) as caught:
        read_metadata_files([good, malformed, tmp_path / "absent.csv", repeated])
    assert (caught.value.path, caught.value.row) == (str(malformed), 2)
    with pytest.raises(AnnotationError, match="absent.csv: expected a CSV file"):
        read_metadata_files([good, tmp_path / "absent.csv", malformed])
    with pytest.raises(AnnotationError) as caught:
        read_metadata_files([good, repeated, malformed])
    assert (caught.value.path, caught.value.row) == (str(repeated), 2)


def test_reading_many_outputs_of_both_forms(tmp_path):
    polar = _csv(tmp_path, "0,3,0,90.0,0.0\n", name="polar.csv")
    cartesian = _csv(tmp_path, "0,3,0,0.0,1.0,0.0\n2,4,1,0,0,-2\n", name="cartesian.csv")
    events = read_output_files([polar, cartesian, polar])
    assert [list(e.rows()) for e in events] == [
        [(0, 3, 0, 90.0, 0.0)],
        [(0, 3, 0, 90.0, 0.0), (2, 4, 1, 0.0, -90.0)],
        [(0, 3, 0, 90.0, 0.0)],
    ]
    with pytest.raises(AnnotationError, match=r"polar.csv, row 1: expected 6 \(frame,class,track,x,y,z\) columns"):
        read_output_files([cartesian, polar], coordinates="cartesian")


def test_write_metadata_round_trip_and_azimuth_wrap(tmp_path):
    events = EventList.from_rows([(3, 2, 1, 179.6, 44.6), (1, 0, 0, -10.4, -0.5), (1, 13, 1, 0, 0)])
    path = tmp_path / "meta.csv"
    write_metadata(path, events)
    # Sorted by frame, then track; 179.6 rounds to 180, which is written as -180.
    assert path.read_text() == "1,0,0,-10,0\n1,13,1,0,0\n3,2,1,-180,45\n"
    assert list(read_metadata(path).rows()) == [(1, 0, 0, -10, 0), (1, 13, 1, 0, 0), (3, 2, 1, -180, 45)]


# ---------------------------------------------------------------- output CSV


def test_write_output_polar_and_cartesian_hand_worked(tmp_path):
    events = EventList.from_rows([(2, 4, 0, 90, 0), (0, 1, 1, -180, 45), (0, 0, 0, 179.99999, -90)])
    polar, cartesian = tmp_path / "polar.csv", tmp_path / "cartesian.csv"
    write_output(polar, events)
    write_output(cartesian, events, coordinates="cartesian")
    assert polar.read_text().splitlines() == [
        "0,0,0,-180.0000,-90.0000",
        "0,1,1,-180.0000,45.0000",
        "2,4,0,90.0000,0.0000",
    ]
    lines = [line.split(",") for line in cartesian.read_text().splitlines()]
    assert [line[:3] for line in lines] == [["0", "0", "0"], ["0", "1", "1"], ["2", "4", "0"]]
    h = np.sqrt(0.5)
    vectors = np.array([line[3:] for line in lines], dtype=float)
    np.testing.assert_allclose(vectors, [(0, 0, -1), (-h, 0, h), (0, 1, 0)], atol=1e-6)


@pytest.mark.parametrize("coordinates", ["polar", "cartesian"])
def test_output_round_trip(tmp_path, coordinates):
    rng = np.random.default_rng(1)
    n = 50
    events = EventList(
        frame=rng.integers(0, 600, n),
        cls=rng.integers(0, 14, n),
        track=rng.integers(0, 3, n),
        azimuth=rng.uniform(-180, 180, n),
        elevation=rng.uniform(-90, 90, n),
    )
    path = tmp_path / "out.csv"
    write_output(path, events, coordinates=coordinates)
    assert len(path.read_text().splitlines()[0].split(",")) == {"polar": 5, "cartesian": 6}[coordinates]
    # 4 decimals of a degree, or 6 decimals of a unit vector (about 1e-4 degrees).
    assert read_output(path, num_frames=600).equals(events, angle_tolerance=1e-3)


def test_read_output_cartesian_any_length(tmp_path):
    events = read_output(_csv(tmp_path, "5,2,0,0,-3,0\n6,2,0,1,1,1.4142135623730951\n"))
    np.testing.assert_allclose(events.azimuth, [-90, 45])
    np.testing.assert_allclose(events.elevation, [0, 45])


@pytest.mark.parametrize(
    "text, row, message",
    [
        (
            "0,1,0,10,0\n0,1,10,0\n",
            2,
            r"expected 5 \(frame,class,track,azimuth,elevation\) or 6 \(frame,class,track,x,y,z\) columns, found 4",
        ),
        ("0,1,0,1,0,0,0\n", 1, "found 7"),
        ("0,1,0,0,0,0\n", 1, r"expected a non-zero direction vector"),
        ("0,1,0,nan,0\n", 1, "expected a finite azimuth, found 'nan'"),
        ("0,1,0,1,inf,0\n", 1, "expected a finite y, found 'inf'"),
        ("0,1,0,180.5,0\n", 1, r"expected azimuth in \[-180, 180\], found 180.5"),
        ("0,1,0.5,10,0\n", 1, "expected an integer track, found '0.5'"),
        ("0,1,0,10.5,0\n0,1,10.5,0\n", 2, "found 4"),
        ("0,1,0,10.5,0\n1,1,0,10.5\n", 2, "found 4"),
        ("0,1,0,0,90.5\n", 1, r"expected elevation in \[-90, 90\], found 90.5"),
        ("0,15,0,0,0\n", 1, r"expected class in \[0, 14\), found 15"),
        ("0.0,1,0,0,0\n", 1, "expected an integer frame, found '0.0'"),
    ],
)
def test_read_output_rejects_malformed_rows(tmp_path, text, row, message):
    path = _csv(tmp_path, text, name="out.csv")
    with pytest.raises(AnnotationError, match=message) as caught:
        read_output(path)
    assert caught.value.row == row and str(caught.value).startswith(f"{path}, row {row}: ")


def test_write_output_rejects_unknown_coordinates(tmp_path):
    with pytest.raises(ConfigError, match="'spherical'"):
        write_output(tmp_path / "x.csv", EventList.empty(), coordinates="spherical")
    assert not (tmp_path / "x.csv").exists()


# ---------------------------------------------------------------- dataset discovery

DEV_NAMES = ["fold2_room1_mix002_ov2", "fold1_room1_mix001_ov1", "fold3_room2_mix010_ov1"]


def _dataset(tmp_path, audio_names=DEV_NAMES, metadata_names=DEV_NAMES, eval_names=("mix002", "mix001")):
    layout = (("foa_dev", audio_names, "wav"), ("metadata_dev", metadata_names, "csv"), ("foa_eval", eval_names, "wav"))
    for folder, names, extension in layout:
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            (tmp_path / folder / f"{name}.{extension}").write_text("0,1,0,10,-20\n" if extension == "csv" else "")
    return tmp_path


def test_dataset_discovers_clips(tmp_path):
    root = _dataset(tmp_path)
    dataset = Dcase2020Dataset(root)
    assert dataset.splits == ("dev", "eval")
    dev = dataset.clips("dev")
    assert [clip.name for clip in dev] == sorted(DEV_NAMES)
    assert dev[0] == Clip(
        name="fold1_room1_mix001_ov1",
        audio_path=str(root / "foa_dev" / "fold1_room1_mix001_ov1.wav"),
        metadata_path=str(root / "metadata_dev" / "fold1_room1_mix001_ov1.csv"),
        split="dev",
        fold=1,
        room=1,
        mix=1,
        overlap=1,
    )
    evaluation = dataset.clips("eval")
    found = [(clip.name, clip.metadata_path, clip.fold, clip.mix) for clip in evaluation]
    assert found == [("mix001", None, None, 1), ("mix002", None, None, 2)]
    assert [clip.name for clip in dataset.clips()] == sorted(DEV_NAMES) + ["mix001", "mix002"]


def test_dataset_fold_selection_and_events(tmp_path):
    dataset = Dcase2020Dataset(_dataset(tmp_path))
    assert [clip.fold for clip in dataset.clips(folds=CHALLENGE_SPLIT["train"])] == [3]
    assert [clip.fold for clip in dataset.clips("dev", folds=(1, 2))] == [1, 2]
    events = dataset.read_events(dataset.clips("dev")[0], num_frames=600)
    assert list(events.rows()) == [(0, 1, 0, 10.0, -20.0)] and events.num_frames == 600
    with pytest.raises(ConfigError, match=r"clip mix001 \(eval split\) has no metadata"):
        dataset.read_events(dataset.clips("eval")[0])


def test_dataset_mic_format_and_missing_split(tmp_path):
    (tmp_path / "mic_dev").mkdir()
    (tmp_path / "mic_dev" / "fold1_room1_mix001_ov1.wav").write_text("")
    dataset = Dcase2020Dataset(tmp_path, array_format="mic")
    assert [clip.metadata_path for clip in dataset.clips()] == [None]
    with pytest.raises(ConfigError, match=r"split 'eval' requested, but its audio folder .*mic_eval is missing"):
        dataset.clips("eval")
    with pytest.raises(ConfigError, match="expected split None, 'dev' or 'eval', found 'train'"):
        dataset.clips("train")


def test_dataset_configuration_errors(tmp_path):
    with pytest.raises(ConfigError, match="expected array_format 'foa' or 'mic', found 'ambisonics'"):
        Dcase2020Dataset(tmp_path, array_format="ambisonics")
    with pytest.raises(ConfigError, match=r"no DCASE2020 audio folder found: expected .*foa_dev or .*foa_eval"):
        Dcase2020Dataset(tmp_path)
    (tmp_path / "metadata_dev").mkdir()
    (tmp_path / "foa_eval").mkdir()
    with pytest.raises(ConfigError, match=r"metadata folder .*metadata_dev, but its audio folder .*foa_dev is missing"):
        Dcase2020Dataset(tmp_path)


def test_dataset_unpaired_files(tmp_path):
    root = _dataset(tmp_path / "a", metadata_names=DEV_NAMES[:2])
    expected = r"fold3_room2_mix010_ov1\.wav has no metadata CSV .*metadata_dev.fold3_room2_mix010_ov1\.csv"
    with pytest.raises(ConfigError, match=expected):
        Dcase2020Dataset(root)
    root = _dataset(tmp_path / "b", audio_names=DEV_NAMES[1:])
    with pytest.raises(ConfigError, match=r"metadata CSV .*fold2_room1_mix002_ov2\.csv has no audio file"):
        Dcase2020Dataset(root)


def test_dataset_bad_file_name(tmp_path):
    root = _dataset(tmp_path, audio_names=["take1"], metadata_names=["take1"])
    with pytest.raises(AnnotationError, match=r"take1\.wav: expected a DCASE2020 file name"):
        Dcase2020Dataset(root)

