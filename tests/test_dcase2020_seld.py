"""Tests of the DCASE2020 Task 3 file formats, names, classes and dataset discovery."""

import numpy as np
import pytest

from seld_tf.datasets.dcase2020_seld import (
    CHALLENGE_SPLIT,
    Clip,
    ClipInfo,
    Dcase2020Dataset,
    class_index,
    parse_filename,
    read_metadata,
    read_output,
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
        ("0,1,0,180,0\n", 1, r"expected azimuth in \[-180, 180\), found 180"),
        ("0,1,0,-181,0\n", 1, r"expected azimuth in \[-180, 180\), found -181"),
        ("0,1,0,0,91\n", 1, r"expected elevation in \[-90, 90\], found 91"),
        ("0,1,0,0,-91\n", 1, r"expected elevation in \[-90, 90\], found -91"),
        ("-1,1,0,0,0\n", 1, "expected a non-negative frame, found -1"),
        ("0,1,-2,0,0\n", 1, "expected a non-negative track, found -2"),
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
        ("0,1,0,180.0,0\n", 1, r"expected azimuth in \[-180, 180\), found 180"),
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

