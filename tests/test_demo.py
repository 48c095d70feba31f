import importlib.resources
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from seld_tf.demo import DEFAULT_RECIPE, run_demo
from seld_tf.recipes import load_recipe

ROOT = Path(__file__).resolve().parents[1]


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


def test_the_default_recipe_is_package_data_and_the_experiments_ones_extend_it():
    assert DEFAULT_RECIPE == importlib.resources.files("seld_tf") / "builtin_recipes" / "seldnet_accdoa_foa_cpu.yaml"
    recipe = load_recipe(DEFAULT_RECIPE)
    assert (recipe.name, recipe.model.preset, recipe.data.label_form) == ("seldnet_accdoa_foa_cpu", "cpu", "accdoa")
    assert recipe.model.args == {"output_format": "accdoa"}
    assert load_recipe(ROOT / "experiments" / "dcase2020_baseline" / "foa_accdoa_cpu.yaml") == recipe
    baseline = load_recipe(DEFAULT_RECIPE.parent / "dcase2020_baseline_foa_cpu.yaml")
    assert load_recipe(ROOT / "experiments" / "dcase2020_baseline" / "foa_cpu.yaml") == baseline
    # The demo's recipe is the baseline but for the output format.
    expected = baseline.to_dict()
    expected["name"] = recipe.name
    expected["data"]["label_form"] = "accdoa"
    expected["model"]["args"] = {"output_format": "accdoa"}
    assert recipe.to_dict() == expected


def test_a_built_wheel_ships_the_demo_recipe(tmp_path):
    # `make demo` after a plain `pip install .`: nothing outside the package is installed.
    # A copy of the sources keeps the build's build/ and egg-info out of the working tree.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "seld_tf", source / "seld_tf", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.py", "setup.cfg", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    built = subprocess.run([*build, "-w", str(tmp_path / "wheels"), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheels").glob("seld_tf-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert {"seld_tf/builtin_recipes/dcase2020_baseline_foa_cpu.yaml", "seld_tf/builtin_recipes/seldnet_accdoa_foa_cpu.yaml"} <= set(
            archive.namelist()
        )
        archive.extractall(tmp_path / "installed")
    # The unpacked wheel comes first on the path, before the editable install of the working tree.
    check = (
        "import seld_tf.demo as demo; from seld_tf.recipes import load_recipe; "
        "print(demo.DEFAULT_RECIPE); print(load_recipe(demo.DEFAULT_RECIPE).name)"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "installed"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    recipe, name = result.stdout.split()
    assert Path(recipe).is_relative_to(tmp_path / "installed")
    assert name == "seldnet_accdoa_foa_cpu"
