import json

import numpy as np
import pytest

from seld_tf.cli import main
from seld_tf.datasets.dcase2020_seld import write_metadata, write_output
from seld_tf.datasets.events import EventList
from seld_tf.errors import ConfigError
from seld_tf.metrics.scoring import score_folders
from seld_tf.tasks.seld import decode_outputs


def _folders(tmp_path):
    ref, pred = tmp_path / "ref", tmp_path / "pred"
    # One class for 2 s: reference at 0 deg; prediction at 10 deg in the first second, absent in the second.
    reference = EventList.from_rows([(f, 2, 0, 0.0, 0.0) for f in range(20)], num_frames=20)
    prediction = EventList.from_rows([(f, 2, 0, 10.0, 0.0) for f in range(10)], num_frames=20)
    write_metadata(ref / "a.csv", reference)
    write_output(pred / "a.csv", prediction, "cartesian")
    return ref, pred


def test_score_command_prints_the_five_numbers(tmp_path, capsys):
    ref, pred = _folders(tmp_path)
    assert main(["--quiet", "score", "--ref", str(ref), "--pred", str(pred), "--format", "cartesian"]) == 0
    scores = json.loads(capsys.readouterr().out)
    # Block 1: TP at 10 deg. Block 2: FN (deletion). Nref = 2, Nsys = 1, TP = 1.
    # ER = D / Nref = 1/2; P = 1, R = 1/2, F = 2/3; LE = 10; LR = F-measure of (1/1, 1/2) = 2/3.
    expected = {"ER": 0.5, "F": 2 / 3, "LE": 10.0, "LR": 2 / 3}
    expected["SELD"] = np.mean([0.5, 1 / 3, 10 / 180, 1 / 3])
    assert scores == pytest.approx(expected, abs=1e-4)


def test_missing_or_extra_prediction_files_are_errors(tmp_path):
    ref, pred = _folders(tmp_path)
    (ref / "b.csv").write_text("")
    with pytest.raises(ConfigError, match=r"1 reference file\(s\) without a prediction.*'b'"):
        score_folders(ref, pred)
    (ref / "b.csv").unlink()
    (pred / "c.csv").write_text("")
    with pytest.raises(ConfigError, match=r"1 prediction file\(s\) without a reference.*'c'"):
        score_folders(ref, pred)


def test_wrong_output_form_is_rejected(tmp_path):
    ref, pred = _folders(tmp_path)
    with pytest.raises(Exception, match=r"a.csv, row 1: expected 5"):
        score_folders(ref, pred, coordinates="polar")


def test_decoding_both_label_forms():
    sed = np.zeros((2, 3), np.float32)
    doa = np.zeros((2, 3, 3), np.float32)
    sed[1, 2], doa[1, 2] = 0.9, (0.0, 2.0, 0.0)  # pointing left: azimuth 90
    events = decode_outputs({"sed": sed, "doa": doa}, "classwise")
    assert list(events.rows()) == [(1, 2, 0, 90.0, 0.0)]
    tracks = decode_outputs({"sed": sed[:, None, :].repeat(2, 1), "doa": doa[:, 2][:, None].repeat(2, 1)}, "trackwise")
    assert sorted(r[2] for r in tracks.rows()) == [0, 1] and {r[1] for r in tracks.rows()} == {2}
    with pytest.raises(ConfigError):
        decode_outputs({"sed": sed, "doa": doa}, "bogus")
