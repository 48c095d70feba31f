"""`seld-tf score --task sed|tagging|scene` on hand-made TSVs, against sed_eval,
psds_eval and scikit-learn called directly on the same events."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from seld_tf.cli import main

sed_eval = pytest.importorskip("sed_eval")
pd = pytest.importorskip("pandas")
psds_eval = pytest.importorskip("psds_eval")

# The reference file carries the reader's edge cases: CRLF, a decimal comma,
# a file with an empty-event row (c), one with its name alone (d), trailing
# blank lines.
REFERENCE_TSV = (
    "filename\tonset\toffset\tevent_label\r\n"
    "a.wav\t0.0\t2.0\tDog\r\n"
    "a.wav\t3.0\t5.5\tSpeech\r\n"
    "a.wav\t6,25\t8.0\tCat\r\n"
    "b.wav\t1.0\t4.0\tSpeech\r\n"
    "b.wav\t5.0\t9.0\tDog\r\n"
    "c.wav\t\t\t\r\n"
    "d.wav\r\n"
    "\r\n\r\n"
)
REFERENCE = {
    "a.wav": [(0.0, 2.0, "Dog"), (3.0, 5.5, "Speech"), (6.25, 8.0, "Cat")],
    "b.wav": [(1.0, 4.0, "Speech"), (5.0, 9.0, "Dog")],
    "c.wav": [],
    "d.wav": [],
}
LABELS = ["Cat", "Dog", "Speech"]
DURATIONS = {"a.wav": 10.0, "b.wav": 10.0, "c.wav": 10.0, "d.wav": 7.5}
# d.wav has no rows: it is scored as a file without output.
PREDICTION = {
    "a.wav": [(0.1, 2.1, "Dog"), (3.3, 5.0, "Speech"), (6.1, 8.1, "Dog")],
    "b.wav": [(1.1, 4.2, "Speech")],
    "c.wav": [(2.0, 3.0, "Cat")],
}
THRESHOLD_TABLES = {
    "0.30": {
        "a.wav": [(0.0, 2.5, "Dog"), (3.0, 6.0, "Speech"), (6.0, 8.0, "Cat")],
        "b.wav": [(0.5, 4.5, "Speech"), (5.0, 9.5, "Dog")],
        "c.wav": [(2.0, 4.0, "Cat")],
        "d.wav": [(1.0, 2.0, "Speech")],
    },
    "0.50": PREDICTION,
    "0.70": {"a.wav": [(0.2, 1.8, "Dog")], "b.wav": [(1.5, 3.5, "Speech")]},
}


def _strong_tsv(events: dict) -> str:
    rows = [f"{name}\t{on}\t{off}\t{label}" for name, file_events in events.items() for on, off, label in file_events]
    return "filename\tonset\toffset\tevent_label\n" + "".join(row + "\n" for row in rows)


@pytest.fixture
def sed_files(tmp_path):
    (tmp_path / "ref.tsv").write_bytes(REFERENCE_TSV.encode())
    (tmp_path / "pred.tsv").write_text(_strong_tsv(PREDICTION))
    (tmp_path / "dur.tsv").write_text("filename\tduration\n" + "".join(f"{k}\t{v}\n" for k, v in DURATIONS.items()))
    (tmp_path / "scores").mkdir()
    for threshold, table in THRESHOLD_TABLES.items():
        (tmp_path / "scores" / f"predictions_th_{threshold}.tsv").write_text(_strong_tsv(table))
    return tmp_path


def _score(capsys, *args) -> dict:
    assert main(["--quiet", "score", *map(str, args)]) == 0
    return json.loads(capsys.readouterr().out)


def _error(capsys, *args) -> str:
    assert main(["--quiet", "score", *map(str, args)]) == 1
    return capsys.readouterr().err


def _dicts(name, events):
    return [{"filename": name, "onset": on, "offset": off, "event_label": label} for on, off, label in events]


def _sed_eval(*, t_collar=0.2, percentage_of_length=0.2, time_resolution=1.0, zero_score=True, durations=None):
    event = sed_eval.sound_event.EventBasedMetrics(
        LABELS, t_collar=t_collar, percentage_of_length=percentage_of_length,
        empty_system_output_handling="zero_score" if zero_score else None,
    )
    segment = sed_eval.sound_event.SegmentBasedMetrics(LABELS, time_resolution=time_resolution)
    for name in REFERENCE:
        ref, est = _dicts(name, REFERENCE[name]), _dicts(name, PREDICTION.get(name, []))
        event.evaluate(ref, est)
        segment.evaluate(ref, est, evaluated_length_seconds=(durations or {}).get(name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        event, segment = event.results(), segment.results()
    return {
        "event_f1_macro": event["class_wise_average"]["f_measure"]["f_measure"],
        "event_f1_micro": event["overall"]["f_measure"]["f_measure"],
        "event_er": event["overall"]["error_rate"]["error_rate"],
        "segment_f1_macro": segment["class_wise_average"]["f_measure"]["f_measure"],
        "segment_f1_micro": segment["overall"]["f_measure"]["f_measure"],
        "segment_er": segment["overall"]["error_rate"]["error_rate"],
    }


def _assert_close(ours: dict, theirs: dict):
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=1e-9), key


def test_sed_defaults_equal_sed_eval(sed_files, capsys):
    scores = _score(capsys, "--task", "sed", "--ref", sed_files / "ref.tsv", "--pred", sed_files / "pred.tsv")
    expected = _sed_eval()
    assert set(scores) == set(expected)
    _assert_close(scores, expected)
    # Hand-worked: 5 references, 5 predictions. Dog 0.1-2.1 and Speech 1.1-4.2 hit; Speech 3.3-5.0 misses
    # (onset 0.3 s off); Dog 6.1-8.1 is within the collars of the Cat, a substitution. Ntp 2, S 1, D 2, I 2.
    assert scores["event_f1_micro"] == pytest.approx(2 * 2 / (5 + 5))
    assert scores["event_er"] == pytest.approx((1 + 2 + 2) / 5)


def test_sed_flags_and_durations_equal_sed_eval(sed_files, capsys):
    scores = _score(
        capsys, "--task", "sed", "--ref", sed_files / "ref.tsv", "--pred", sed_files / "pred.tsv",
        "--durations", sed_files / "dur.tsv", "--collar", 0.5, "--percentage-of-length", 0.5,
        "--segment", 0.5, "--empty-output", "nan",
    )
    _assert_close(
        scores,
        _sed_eval(t_collar=0.5, percentage_of_length=0.5, time_resolution=0.5, zero_score=False, durations=DURATIONS),
    )


def _psds_frame(per_file):
    rows = [(name, on, off, label) for name, events in per_file.items() for on, off, label in events]
    return pd.DataFrame(rows, columns=["filename", "onset", "offset", "event_label"])


@pytest.mark.filterwarnings("ignore")
def test_psds_from_threshold_folder_equal_psds_eval(sed_files, capsys):
    scores = _score(
        capsys, "--task", "sed", "--ref", sed_files / "ref.tsv", "--pred", sed_files / "pred.tsv",
        "--durations", sed_files / "dur.tsv", "--scores", sed_files / "scores",
    )
    metadata = pd.DataFrame(list(DURATIONS.items()), columns=["filename", "duration"])

    def evaluator(dtc, gtc, cttc):
        return psds_eval.PSDSEval(dtc, gtc, cttc, ground_truth=_psds_frame(REFERENCE), metadata=metadata)

    for key, (dtc, gtc, cttc, alpha_ct) in {"psds1": (0.7, 0.7, 0.3, 0.0), "psds2": (0.1, 0.1, 0.3, 0.5)}.items():
        reference = evaluator(dtc, gtc, cttc)
        for table in THRESHOLD_TABLES.values():
            reference.add_operating_point(_psds_frame(table))
        assert scores[key] == pytest.approx(reference.psds(alpha_ct, 1.0, 100.0).value, abs=1e-9), key
    f1, _ = evaluator(0.5, 0.5, 0.3).compute_macro_f_score(_psds_frame(PREDICTION))
    assert scores["intersection_f1"] == pytest.approx(f1, abs=1e-9)
    assert scores["psds_thresholds"] == 3
    assert scores["psds1"] > 0


@pytest.mark.parametrize(
    "pred_tsv, row, problem",
    [
        ("filename\tonset\toffset\tevent_label\na.wav\tx\t2.0\tDog\n", 2, "onset 'x' is not a number"),
        ("a.wav\t3.0\t2.0\tDog\n", 1, "onset <= offset"),
        ("a.wav\t1.0\t2.0\tDog\na.wav\t1.0\t\t\n", 2, "all given or all empty"),
        ("a.wav\t1.0\t2.0\tDog\r\nz.wav\t1.0\t2.0\tDog\r\n", 2, "'z.wav' is not in the reference"),
        ("a.wav\t1.0\t2.0\tDog\na.wav\t1.0\t2.0\tBird\n", 2, "event label 'Bird'"),
        ("a.wav\t1.0\t2.0\tDog\tx\n", 1, "expected 4 columns"),
    ],
)
def test_malformed_prediction_row_is_a_one_line_error(sed_files, capsys, pred_tsv, row, problem):
    (sed_files / "bad.tsv").write_text(pred_tsv)
    error = _error(capsys, "--task", "sed", "--ref", sed_files / "ref.tsv", "--pred", sed_files / "bad.tsv")
    assert error.count("\n") == 1
    assert f"bad.tsv, row {row}: " in error and problem in error


# Score tables (sed_scores_eval's format): frames of 0.128 s whose times are not exact in binary,
# scores high inside the reference events of a class and noisy, so the 50 thresholds give different events.
FRAME_SECONDS = 0.128


def _score_table_text(name: str, seed: int) -> str:
    rng = np.random.default_rng(seed)
    frames = int(np.ceil(DURATIONS[name] / FRAME_SECONDS))
    times = np.arange(frames + 1) * FRAME_SECONDS
    centres = (times[:-1] + times[1:]) / 2
    # Noise smoothed over 5 frames, like median-filtered network outputs.
    noise = np.stack([np.convolve(rng.normal(0.0, 0.3, frames + 4), np.ones(5) / 5, "valid") for _ in LABELS], axis=1)
    rows = []
    for frame, centre in enumerate(centres):
        active = [any(on <= centre < off and label == cls for on, off, label in REFERENCE[name]) for cls in LABELS]
        scores = np.clip(np.where(active, 0.7, 0.2) + noise[frame], 0.0, 1.0)
        rows.append("\t".join(str(float(value)) for value in (times[frame], times[frame + 1], *scores)))
    return "onset\toffset\t" + "\t".join(LABELS) + "\n" + "".join(row + "\n" for row in rows)


@pytest.fixture
def score_tables(sed_files):
    folder = sed_files / "score_tables"
    folder.mkdir()
    for seed, name in enumerate(REFERENCE):
        (folder / f"{name[:-4]}.tsv").write_text(_score_table_text(name, seed))
    return folder


def _implied_threshold_folder(score_folder, out):
    """The per-threshold tables of the score tables, decoded frame by frame as DESED_task's baseline does."""
    out.mkdir()
    for threshold in np.arange(1 / 100, 1, 1 / 50):
        rows = []
        for path in sorted(score_folder.iterdir()):
            lines = path.read_text().splitlines()
            classes = lines[0].split("\t")[2:]
            table = [[float(cell) for cell in line.split("\t")] for line in lines[1:]]
            for k, label in enumerate(classes):
                start = None
                for frame, (onset, offset, *scores) in enumerate(table + [[math.inf, math.inf] + [-math.inf] * len(classes)]):
                    if scores[k] > threshold and start is None:
                        start = onset
                    elif scores[k] <= threshold and start is not None:
                        rows.append(f"{path.stem}.wav\t{start}\t{table[frame - 1][1]}\t{label}")
                        start = None
        (out / f"predictions_th_{threshold:.2f}.tsv").write_text("filename\tonset\toffset\tevent_label\n" + "".join(r + "\n" for r in rows))


def test_psds_from_score_tables_equal_their_threshold_folder(sed_files, score_tables, capsys):
    common = ("--task", "sed", "--ref", sed_files / "ref.tsv", "--pred", sed_files / "pred.tsv", "--durations", sed_files / "dur.tsv")
    from_tables = _score(capsys, *common, "--scores", score_tables)
    _implied_threshold_folder(score_tables, sed_files / "implied")
    from_thresholds = _score(capsys, *common, "--scores", sed_files / "implied")
    assert from_tables == from_thresholds
    assert from_tables["psds_thresholds"] == 50
    assert 0 < from_tables["psds1"] < 1 and from_tables["psds2"] > 0


def test_score_table_detections_merge_runs_above_the_threshold(tmp_path):
    from seld_tf.metrics.sed_scoring import read_score_table

    (tmp_path / "a.tsv").write_text(
        "onset\toffset\tDog\tCat\n0.0\t0.5\t0.9\t0.2\n0.5\t1.0\t0.6\t0.5\n1.0\t1.5\t0.4\t0.7\n1.5\t2.0\t0.8\t0.1\n"
    )
    low, middle, high = read_score_table(tmp_path / "a.tsv").detections([0.3, 0.5, 0.85])
    assert low == [(0.0, 2.0, "Dog"), (0.5, 1.5, "Cat")]
    # 0.5 is not above 0.5: the Cat run is only the third segment.
    assert middle == [(0.0, 1.0, "Dog"), (1.5, 2.0, "Dog"), (1.0, 1.5, "Cat")]
    assert high == [(0.0, 0.5, "Dog")]


GOOD_ROW = "0.0\t1.0\t0.5\t0.2\t0.1\n"


@pytest.mark.parametrize(
    "table, row, problem",
    [
        ("onset\tCat\tDog\tSpeech\n" + GOOD_ROW, 1, "expected a header 'onset<TAB>offset<TAB><class>"),
        ("onset\toffset\n0.0\t1.0\n", 1, "expected a header"),
        ("\n0.0\t1.0\t0.5\t0.2\t0.1\n", 2, "expected a header"),
        ("onset\toffset\tCat\tDog\tSpeech\n0.0\t1.0\t0.5\t0.2\n", 2, "expected 5 columns"),
        ("onset\toffset\tCat\tDog\tSpeech\n" + GOOD_ROW + "1.0\t2.0\t0.5\tx\t0.1\n", 3, "Dog score 'x' is not a number"),
        ("onset\toffset\tCat\tDog\tSpeech\n0.0\tnan\t0.5\t0.2\t0.1\n", 2, "offset 'nan' is not a finite number"),
        ("onset\toffset\tCat\tDog\tBird\n" + GOOD_ROW, 1, "class 'Bird' is not one of ['Cat', 'Dog', 'Speech']"),
        ("onset\toffset\tCat\tDog\tCat\n" + GOOD_ROW, 1, "class 'Cat' has two columns"),
        ("onset\toffset\tCat\tDog\tSpeech\n" + GOOD_ROW + "1.0\t1.0\t0.5\t0.2\t0.1\n", 3, "expected onset < offset"),
        ("onset\toffset\tCat\tDog\tSpeech\n" + GOOD_ROW + "0.5\t1.5\t0.5\t0.2\t0.1\n", 3, "onset 0.5 is not the previous row's offset 1.0"),
        ("onset\toffset\tCat\tDog\tSpeech\n" + GOOD_ROW + "1.5\t2.5\t0.5\t0.2\t0.1\n", 3, "segments must be contiguous"),
        ("onset\toffset\tCat\tDog\tSpeech\n-1.0\t1.0\t0.5\t0.2\t0.1\n", 2, "negative onset -1.0"),
        ("onset\toffset\tCat\tDog\tSpeech\n\n", 1, "no frame segments after the header"),
        ("onset\toffset\tCat\tDog\n" + "0.0\t1.0\t0.5\t0.2\n", 1, "classes ['Cat', 'Dog'] differ from ['Cat', 'Dog', 'Speech']"),
    ],
)
def test_malformed_score_table_is_a_one_line_error(sed_files, score_tables, capsys, table, row, problem):
    (score_tables / "b.tsv").write_text(table)
    error = _error(
        capsys, "--task", "sed", "--ref", sed_files / "ref.tsv", "--pred", sed_files / "pred.tsv",
        "--durations", sed_files / "dur.tsv", "--scores", score_tables,
    )
    assert error.count("\n") == 1
    assert f"b.tsv, row {row}: " in error and problem in error, error


def test_score_tables_must_match_the_reference_clips(sed_files, score_tables, capsys):
    common = ("--task", "sed", "--ref", sed_files / "ref.tsv", "--pred", sed_files / "pred.tsv", "--durations", sed_files / "dur.tsv")
    (score_tables / "z.tsv").write_text((score_tables / "a.tsv").read_text())
    error = _error(capsys, *common, "--scores", score_tables)
    assert error.count("\n") == 1 and "z.tsv: clip 'z' is not in the reference" in error
    (score_tables / "z.tsv").unlink()
    (score_tables / "d.tsv").unlink()
    error = _error(capsys, *common, "--scores", score_tables)
    assert error.count("\n") == 1 and "no score table for 1 reference files, e.g. d.tsv for 'd.wav'" in error
    (score_tables / "a.tsv").unlink(), (score_tables / "b.tsv").unlink(), (score_tables / "c.tsv").unlink()
    error = _error(capsys, *common, "--scores", score_tables)
    assert error.count("\n") == 1 and "no predictions_th_<threshold>.tsv files and no <clip_id>.tsv score tables" in error


def test_bad_collar_is_a_one_line_error(sed_files, capsys):
    error = _error(capsys, "--task", "sed", "--ref", sed_files / "ref.tsv", "--pred", sed_files / "pred.tsv", "--collar", 0)
    assert error == "seld-tf: error: t_collar must be > 0\n"


def test_scores_need_durations(sed_files, capsys):
    error = _error(
        capsys, "--task", "sed", "--ref", sed_files / "ref.tsv", "--pred", sed_files / "pred.tsv",
        "--scores", sed_files / "scores",
    )
    assert "--durations" in error


def test_tagging_equals_scikit_learn(tmp_path, capsys):
    from sklearn.metrics import average_precision_score, roc_auc_score

    classes = ["Cat", "Dog", "Speech"]
    reference = {"a.wav": ["Dog", "Speech"], "b.wav": ["Cat"], "c.wav": [], "d.wav": ["Cat", "Dog"]}
    probabilities = {"a.wav": [0.1, 0.8, 0.6], "b.wav": [0.7, 0.3, 0.2], "c.wav": [0.2, 0.4, 0.1], "d.wav": [0.3, 0.6, 0.7]}
    (tmp_path / "weak.tsv").write_text(
        "filename\tevent_labels\r\n" + "".join(f"{name}\t{','.join(labels)}\r\n" for name, labels in reference.items())
    )
    (tmp_path / "clips.tsv").write_text(
        "filename\t" + "\t".join(classes) + "\n"
        + "".join(f"{name}\t" + "\t".join(str(p).replace(".", ",") for p in row) + "\n" for name, row in probabilities.items())
    )
    scores = _score(capsys, "--task", "tagging", "--ref", tmp_path / "weak.tsv", "--pred", tmp_path / "clips.tsv")
    y_true = [[int(c in reference[name]) for c in classes] for name in reference]
    y_score = [probabilities[name] for name in reference]
    assert scores["auc_macro"] == pytest.approx(roc_auc_score(y_true, y_score, average="macro"))
    assert scores["ap_macro"] == pytest.approx(average_precision_score(y_true, y_score, average="macro"))
    assert scores["ap_micro"] == pytest.approx(average_precision_score(y_true, y_score, average="micro"))


def test_scene_equals_scikit_learn(tmp_path, capsys):
    from sklearn.metrics import accuracy_score, f1_score

    reference = {"1.wav": "beach", "2.wav": "bus", "3.wav": "park", "4.wav": "beach", "5.wav": "bus"}
    predicted = {"5.wav": "bus", "1.wav": "beach", "2.wav": "park", "3.wav": "park", "4.wav": "bus"}
    (tmp_path / "ref.tsv").write_text("".join(f"{k}\t{v}\n" for k, v in reference.items()))
    (tmp_path / "pred.tsv").write_text("filename\tscene_label\n" + "".join(f"{k}\t{v}\n" for k, v in predicted.items()))
    scores = _score(capsys, "--task", "scene", "--ref", tmp_path / "ref.tsv", "--pred", tmp_path / "pred.tsv")
    y_true, y_pred = list(reference.values()), [predicted[name] for name in reference]
    assert scores["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert scores["f1_macro"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))

    (tmp_path / "bad.tsv").write_text("1.wav\tbeach\n2.wav\tforest\n")
    error = _error(capsys, "--task", "scene", "--ref", tmp_path / "ref.tsv", "--pred", tmp_path / "bad.tsv")
    assert "bad.tsv, row 2: scene 'forest'" in error


def test_sed_scoring_imports_no_tensorflow(sed_files):
    code = (
        "import json, sys\n"
        "from seld_tf.cli import main\n"
        f"assert main(['--quiet', 'score', '--task', 'sed', '--ref', {str(sed_files / 'ref.tsv')!r}, "
        f"'--pred', {str(sed_files / 'pred.tsv')!r}, '--durations', {str(sed_files / 'dur.tsv')!r}, "
        f"'--scores', {str(sed_files / 'scores')!r}]) == 0\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert not math.isnan(json.loads(result.stdout.splitlines()[0])["psds1"])
