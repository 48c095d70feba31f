"""Scoring output folders: fold selection, the `seld-tf score` command as documented, and its imports."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from seld_tf.cli import main
from seld_tf.datasets.dcase2020_seld import write_metadata, write_output
from seld_tf.datasets.events import EventList
from seld_tf.errors import ConfigError
from seld_tf.metrics import compute_seld_scores, scoring
from seld_tf.metrics.scoring import score_folders

README = Path(__file__).resolve().parents[1] / "README.md"
# One clip per fold, as in metadata_dev; the outputs hold the test fold (1) only.
NAMES = [f"fold{fold}_room1_mix001_ov2" for fold in range(1, 7)]


def _clip(fold: int) -> tuple[EventList, EventList]:
    """A reference with a same-class overlap in frames 0-4 and a prediction off by `fold` degrees."""
    rows = [(f, 3, track, 40.0 * track, 0.0) for f in range(5) for track in (0, 1)] + [(f, 7, 0, -90.0, 10.0) for f in range(12)]
    reference = EventList.from_rows(rows, num_frames=20)
    prediction = EventList.from_rows([(f, c, t, a + fold, e) for f, c, t, a, e in rows[:-3]], num_frames=20)
    return reference, prediction


def _folders(tmp_path, prediction_folds=(1,)) -> tuple[Path, Path]:
    ref, pred = tmp_path / "metadata_dev", tmp_path / "outputs" / "test"
    for fold, name in enumerate(NAMES, start=1):
        reference, prediction = _clip(fold)
        write_metadata(ref / f"{name}.csv", reference)
        if fold in prediction_folds:
            write_output(pred / f"{name}.csv", prediction)
    return ref, pred


def test_folds_select_the_references_scored(tmp_path):
    ref, pred = _folders(tmp_path)
    with pytest.raises(ConfigError, match=r"5 reference file\(s\) without a prediction"):
        score_folders(ref, pred)
    # Scoring fold 1 alone is scoring its one file; the other folds' files are not read.
    (ref / f"{NAMES[3]}.csv").write_text("not,a,row\n")
    assert score_folders(ref, pred, folds=[1]) == compute_seld_scores([_clip(1)])


def test_files_read_in_several_chunks_score_as_one_folder(tmp_path, monkeypatch):
    ref, pred = _folders(tmp_path, prediction_folds=range(1, 7))
    monkeypatch.setattr(scoring, "_FILES_PER_READ", 4)
    assert score_folders(ref, pred) == compute_seld_scores([_clip(fold) for fold in range(1, 7)])


def test_folds_keep_the_missing_and_extra_file_errors(tmp_path):
    ref, pred = _folders(tmp_path, prediction_folds=(1, 2))
    with pytest.raises(ConfigError, match=rf"1 prediction file\(s\) without a reference of folds 1 in .*{NAMES[1]}"):
        score_folders(ref, pred, folds=[1])
    assert score_folders(ref, pred, folds=[2, 1]).nref > 0
    with pytest.raises(ConfigError, match=rf"1 reference file\(s\) of folds 1,2,3 without a prediction .*{NAMES[2]}"):
        score_folders(ref, pred, folds=[1, 2, 3])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no CSV files of folds 9 in"):
        score_folders(ref, tmp_path / "empty", folds=[9])


@pytest.mark.parametrize("split, folds", [("test", [1]), ("validation", [2]), ("train", [3, 4, 5, 6])])
def test_score_command_splits_are_the_challenge_folds(tmp_path, capsys, split, folds):
    ref, pred = _folders(tmp_path, prediction_folds=folds)
    assert main(["--quiet", "score", "--ref", str(ref), "--pred", str(pred), "--split", split]) == 0
    expected = compute_seld_scores([_clip(fold) for fold in folds]).to_dict()
    assert json.loads(capsys.readouterr().out) == pytest.approx(expected)
    assert main(["--quiet", "score", "--ref", str(ref), "--pred", str(pred), "--folds", ",".join(map(str, folds))]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(expected)


def test_split_and_folds_are_alternatives(tmp_path, capsys):
    ref, pred = _folders(tmp_path)
    with pytest.raises(SystemExit):
        main(["score", "--ref", str(ref), "--pred", str(pred), "--split", "test", "--folds", "1"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_readme_score_command_works(tmp_path, capsys):
    # The command exactly as the README shows it, on a run's test outputs beside all six folds' metadata.
    (command,) = re.findall(r"^seld-tf score --ref .*$", README.read_text(), flags=re.MULTILINE)
    ref, pred = _folders(tmp_path)
    paths = {"data/synth/metadata_dev": str(ref), "runs/baseline/outputs/test": str(pred)}
    argv = [paths.get(word, word) for word in shlex.split(command)[1:]]
    assert set(paths.values()) <= set(argv), "the README's score command names other folders"
    assert main(["--quiet", *argv]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(compute_seld_scores([_clip(1)]).to_dict())


def test_score_command_imports_neither_tensorflow_nor_scipy(tmp_path):
    # TensorFlow alone takes seconds and hundreds of MiB to import, scipy.optimize ~0.3 s
    # and ~45 MiB: more than reading and scoring a folder.
    ref, pred = _folders(tmp_path)
    script = "\n".join(
        [
            "import sys",
            "from seld_tf.cli import main",
            f"code = main(['--quiet', 'score', '--ref', {str(ref)!r}, '--pred', {str(pred)!r}, '--split', 'test'])",
            "print(sorted(name for name in ('tensorflow', 'keras', 'scipy') if name in sys.modules))",
            "sys.exit(code)",
        ]
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    scores, imported = result.stdout.strip().splitlines()
    assert json.loads(scores) == pytest.approx(compute_seld_scores([_clip(1)]).to_dict())
    assert imported == "[]"
