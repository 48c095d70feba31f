import pytest
from PIL import Image

from seld_tf.demo import run_demo


def test_demo_runs_every_stage_and_reports_the_three_predictors(tmp_path, capsys):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        "name: tiny\n"
        "pipeline: {train_frames: 50, batch_size: 4}\n"
        "model: {name: seldnet, preset: null, args: {conv_filters: 8, rnn_units: [8], fc_units: 8}}\n"
        "training: {epochs: 1}\n"
    )
    scores = run_demo(tmp_path / "out", tmp_path / "figures", clips=12, duration=2.0, recipe_path=recipe, progress=False)
    assert set(scores) == {"trained (best validation snapshot)", "untrained (same model, initial weights)", "silent (never detects)"}
    # Never detecting anything: every reference block is a deletion, nothing is localized.
    assert scores["silent (never detects)"] == pytest.approx({"ER": 1.0, "F": 0.0, "LE": 180.0, "LR": 0.0, "SELD": 1.0})
    for name in ("demo_foa_features.png", "demo_training_curves.png"):
        assert Image.open(tmp_path / "figures" / name).size[0] > 300
    assert "SELD" in capsys.readouterr().out
