import csv
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_training import TINY

from seld_tf import export
from seld_tf.audio import load_audio
from seld_tf.cli import main
from seld_tf.features.extract import make_extractor
from seld_tf.pipeline import predict_features
from seld_tf.recipes import recipe_from_dict
from seld_tf.runs import load_run
from seld_tf.tasks import task_class
from seld_tf.training import train

CLIP = "fold1_room1_mix002_ov2"
# serving_default runs the model's own graph. serving_audio adds the in-graph
# features, the cache's "tf" path traced with a batch axis: on CPU the outputs
# match the cache path exactly (measured max difference 0); the tolerance
# leaves room for FFT and matmul kernels that round a batched input differently.
FEATURES_ATOL = 1e-5
AUDIO_ATOL = 1e-4


@pytest.fixture(scope="module")
def exported(tiny_seld_dataset, tmp_path_factory):
    """`(run folder, export folder)` of a tiny trained run."""
    root = tmp_path_factory.mktemp("export")
    run_dir = root / "run"
    train(recipe_from_dict(TINY), tiny_seld_dataset, run_dir, verbose=0, progress=False, log=lambda *_: None)
    out = root / "exported"
    assert main(["--quiet", "export", str(run_dir), "--out", str(out)]) == 0
    return run_dir, out


def test_export_writes_both_signatures_the_keras_file_and_the_run(exported):
    import tensorflow as tf

    run_dir, out = exported
    assert sorted(path.name for path in out.parent.iterdir()) == ["exported", "run"]  # no partial folder left
    signatures = tf.saved_model.load(str(out)).signatures
    assert sorted(signatures) == ["serving_audio", "serving_default"]
    _, features = signatures["serving_default"].structured_input_signature
    _, audio = signatures["serving_audio"].structured_input_signature
    assert features["features"].shape.as_list() == [None, None, 64, 7]
    assert audio["audio"].shape.as_list() == [None, None, 4]
    assert sorted(signatures["serving_audio"].structured_outputs) == ["doa", "sed"]
    assert (out / "model.keras").read_bytes() == (run_dir / "best.keras").read_bytes()
    for name in ("recipe.yaml", "run.json"):
        assert (out / "seld_tf" / name).read_text() == (run_dir / name).read_text()
    facts = json.loads((out / "seld_tf" / "export.json").read_text())
    assert (facts["sample_rate"], facts["audio_channels"], facts["frames_per_label"]) == (24000, 4, 5)


def test_a_process_without_seld_tf_runs_both_signatures_as_the_cache_path(exported, tiny_seld_dataset, tmp_path):
    run_dir, out = exported
    recipe, record, model = load_run(run_dir)
    front_end = task_class(recipe.task)(recipe).feature_front_end(record)
    features = np.load(f"{record['cache_dir']}/{CLIP}.npy")
    audio, _ = load_audio(tiny_seld_dataset / "foa_dev" / f"{CLIP}.wav", sample_rate=24000, channels=4)
    # 25000 samples: 53 feature frames, not a multiple of frames_per_label, so the signature pads.
    short = audio[:25000]
    np.save(tmp_path / "features.npy", features[None])
    np.save(tmp_path / "audio.npy", audio[None])
    np.save(tmp_path / "short.npy", short[None])
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import tensorflow as tf

        signatures = tf.saved_model.load({str(out)!r}).signatures
        calls = {{
            "default": signatures["serving_default"](features=tf.constant(np.load("features.npy"))),
            "audio": signatures["serving_audio"](audio=tf.constant(np.load("audio.npy"))),
            "short": signatures["serving_audio"](audio=tf.constant(np.load("short.npy"))),
        }}
        for call, outputs in calls.items():
            for name, value in outputs.items():
                np.save(f"{{call}}_{{name}}.npy", value.numpy())
        assert "seld_tf" not in sys.modules, "the SavedModel made TensorFlow import seld_tf"
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    expected = model.predict_on_batch(features[None])
    short_expected = predict_features(model, make_extractor(front_end.config, "foa")(short), frames_per_label=5)
    for name in ("sed", "doa"):
        np.testing.assert_allclose(np.load(tmp_path / f"default_{name}.npy"), expected[name], atol=FEATURES_ATOL, rtol=0)
        np.testing.assert_allclose(np.load(tmp_path / f"audio_{name}.npy"), expected[name], atol=AUDIO_ATOL, rtol=0)
        short_found = np.load(tmp_path / f"short_{name}.npy")[0]
        assert len(short_found) == 11  # ceil(53 / 5)
        np.testing.assert_allclose(short_found, short_expected[name], atol=AUDIO_ATOL, rtol=0)


def _rows(path):
    with open(path, newline="") as handle:
        return [[float(value) for value in row] for row in csv.reader(handle)]


def test_predict_with_the_export_writes_the_rows_of_the_run(exported, tiny_seld_dataset, tmp_path, capsys):
    run_dir, out = exported
    wav = tiny_seld_dataset / "foa_dev" / f"{CLIP}.wav"
    assert main(["--quiet", "predict", str(out), str(wav), "--out", str(tmp_path / "p.csv")]) == 0
    assert main(["--quiet", "predict", str(run_dir), str(wav), "--out", str(tmp_path / "q.csv")]) == 0
    found, expected = _rows(tmp_path / "p.csv"), _rows(tmp_path / "q.csv")
    assert len(found) == len(expected) > 0
    # Frame, class and track exactly; angles to the written precision.
    assert [row[:3] for row in found] == [row[:3] for row in expected]
    np.testing.assert_allclose([row[3:] for row in found], [row[3:] for row in expected], atol=0.01)


def _one_line_error(capsys, *argv) -> str:
    assert main(["--quiet", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("seld-tf: error: ") and len(err.strip().splitlines()) == 1, err
    return err


def test_bad_paths_are_one_line_errors(exported, tiny_seld_dataset, tmp_path, capsys):
    import tensorflow as tf

    run_dir, out = exported
    wav = str(tiny_seld_dataset / "foa_dev" / f"{CLIP}.wav")
    err = _one_line_error(capsys, "predict", str(tmp_path), wav, "--out", str(tmp_path / "p.csv"))
    assert "neither a training run folder (no recipe.yaml) nor an export (no saved_model.pb)" in err
    foreign = tmp_path / "foreign"
    tf.saved_model.save(tf.Module(), str(foreign))
    err = _one_line_error(capsys, "predict", str(foreign), wav, "--out", str(tmp_path / "p.csv"))
    assert "not a seld-tf export: no seld_tf/recipe.yaml" in err
    err = _one_line_error(capsys, "export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "e"))
    assert "not a training run folder: no recipe.yaml" in err
    err = _one_line_error(capsys, "export", str(run_dir), "--out", str(out))
    assert "already exists" in err


def test_a_failed_export_leaves_no_folder(exported, tmp_path, monkeypatch):
    run_dir, _ = exported

    def fail(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "_write_saved_model", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        export.export_run(run_dir, tmp_path / "e")
    assert list(tmp_path.iterdir()) == []
