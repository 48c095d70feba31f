"""The ACCDOA label forms through the SELD task: targets, losses, `seld-tf train` and `seld-tf evaluate`."""

import json

import numpy as np
import pytest
import yaml

from seld_tf.cli import main
from seld_tf.errors import ConfigError
from seld_tf.losses.accdoa import AccdoaLoss, AdpitLoss
from seld_tf.metrics.scoring import score_folders
from seld_tf.recipes import recipe_from_dict
from seld_tf.tasks import prepare_task
from seld_tf.tasks.seld import SeldEvaluator, seld_compile_args

TINY_MULTI_ACCDOA = {
    "name": "tiny_multi_accdoa",
    "data": {"label_form": "multi_accdoa", "num_tracks": 3},
    "pipeline": {"train_frames": 50, "batch_size": 4, "foa_rotation": True},
    "model": {
        "name": "seldnet",
        "preset": None,
        "args": {"conv_filters": 8, "rnn_units": [8], "fc_units": 8, "output_format": "multi_accdoa"},
    },
    "schedule": {"initial_learning_rate": 0.003},
    "training": {"epochs": 1, "seed": 3},
    "evaluation": {"merge_angle": 20.0},
}


def test_train_and_evaluate_a_multi_accdoa_recipe_through_the_cli(tiny_seld_dataset, tmp_path):
    recipe_path, run_dir = tmp_path / "recipe.yaml", tmp_path / "run"
    recipe_path.write_text(yaml.safe_dump(TINY_MULTI_ACCDOA))
    assert main(["--quiet", "train", str(recipe_path), "--data", str(tiny_seld_dataset), "--out", str(run_dir)]) == 0
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 2 and "val_seld" in history[0] and "multi_accdoa_loss" in history[0]

    assert main(["--quiet", "evaluate", str(run_dir), "--data", str(tiny_seld_dataset), "--split", "test"]) == 0
    outputs = run_dir / "outputs" / "test"
    names = sorted(path.stem for path in outputs.glob("*.csv"))
    assert names == ["fold1_room1_mix001_ov1", "fold1_room1_mix002_ov2"]
    scores = json.loads((run_dir / "metrics_test.json").read_text())
    # The written files, scored from disk by the DCASE2020 metric, give the logged numbers.
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    for name in names:
        (reference_dir / f"{name}.csv").write_text((tiny_seld_dataset / "metadata_dev" / f"{name}.csv").read_text())
    from_files = score_folders(reference_dir, outputs).to_dict()
    assert from_files["ER"] == pytest.approx(scores["ER"]) and from_files["F"] == pytest.approx(scores["F"])
    assert np.isfinite(scores["SELD"])


@pytest.mark.parametrize("label_form, slots", [("accdoa", None), ("multi_accdoa", 6)])
def test_task_targets_losses_and_model_arguments(tiny_seld_dataset, label_form, slots):
    recipe = recipe_from_dict(
        {
            "name": "x",
            "data": {"label_form": label_form, "num_tracks": 3},
            "pipeline": {"foa_rotation": True},
            "model": {"name": "seldnet", "args": {"output_format": label_form}},
        }
    )
    task = prepare_task(recipe, tiny_seld_dataset, progress=False, log=lambda *_: None)
    clips, references = task.clips("validation")
    labels = clips[0].labels
    assert set(labels) == {label_form}
    frames = len(labels[label_form])
    assert labels[label_form].shape == ((frames, 14, 3) if slots is None else (frames, slots, 14, 3))
    assert references[0].num_frames == frames
    # The label rotations turn the ACCDOA vectors with the features.
    (rotation,) = task.augmentations()
    assert rotation.doa_keys == (label_form,)
    compile_kwargs, label_transform = seld_compile_args(recipe)
    assert label_transform is None and set(compile_kwargs) == {"loss"}
    assert isinstance(compile_kwargs["loss"][label_form], AccdoaLoss if slots is None else AdpitLoss)
    assert task.model_args() == ({"num_classes": 14} if slots is None else {"num_classes": 14, "num_tracks": 3})


def test_accdoa_forms_refuse_pit_and_the_sed_oracle():
    recipe = recipe_from_dict({"name": "x", "data": {"label_form": "accdoa"}, "loss": {"pit": "tpit"}})
    with pytest.raises(ConfigError, match="loss.pit 'tpit' needs data.label_form 'trackwise'"):
        seld_compile_args(recipe)
    with pytest.raises(ConfigError, match="oracle 'sed' needs a DOA output"):
        SeldEvaluator([], [], label_form="multi_accdoa", frames_per_label=5, oracle="sed")
