"""Recipe loading: every value is type- and range-checked, with one line naming the file and key."""

from pathlib import Path

import pytest

from seld_tf.cli import main
from seld_tf.errors import ConfigError
from seld_tf.recipes import Recipe, load_recipe, recipe_from_dict

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def _load(tmp_path, text: str) -> Recipe:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\n" + text)
    return load_recipe(path)


def _error(tmp_path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(EXPERIMENTS)))
def test_every_shipped_recipe_loads(path):
    assert load_recipe(path).name


def test_defaults_round_trip_through_the_checks():
    # Fails as soon as a field gets a type hint the checker cannot describe or convert.
    recipe = Recipe(name="x")
    assert recipe_from_dict(recipe.to_dict()) == recipe


def test_missing_recipe_file_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match=r"absent\.yaml: expected a recipe file, found no such file"):
        load_recipe(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    "text, expected",
    [
        ('training:\n  epochs: "1"\n', "training.epochs: expected an integer >= 1, found '1' (str)"),
        ("training:\n  epochs: three\n", "training.epochs: expected an integer >= 1, found 'three' (str)"),
        ("training:\n  epochs: 2.0\n", "training.epochs: expected an integer >= 1, found 2.0 (float)"),
        ("training:\n  epochs: true\n", "training.epochs: expected an integer >= 1, found True (bool)"),
        ("loss:\n  doa_masked: 1\n", "loss.doa_masked: expected a boolean, found 1 (int)"),
        ("loss:\n  sed_weight: true\n", "loss.sed_weight: expected a number >= 0, found True (bool)"),
        ("data:\n  format: 4\n", "data.format: expected a string, found 4 (int)"),
        ("model:\n  preset: 3\n", "model.preset: expected a string or null, found 3 (int)"),
        ("model:\n  args: [1]\n", "model.args: expected a mapping, found [1] (list)"),
        ("pipeline:\n  spec_augment: yes please\n", "pipeline.spec_augment: expected a mapping or null, found 'yes please'"),
        ("data:\n  train_folds: 3\n", "data.train_folds: expected a list of integers >= 1, found 3 (int)"),
        ("data:\n  train_folds: [3, four]\n", "data.train_folds[1]: expected an integer >= 1, found 'four' (str)"),
        ("training: 5\n", "training: expected a mapping, found int"),
        (
            "schedule:\n  initial_learning_rate: 1e-3\n",
            "schedule.initial_learning_rate: expected a number > 0, found '1e-3' (str); YAML reads such numbers",
        ),
    ],
)
def test_wrong_types_name_the_file_key_expected_and_found(tmp_path, text, expected):
    message = _error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'bad.yaml'}: {expected}")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("training:\n  epochs: 0\n", "training.epochs: expected an integer >= 1, found 0"),
        ("training:\n  validate_every: 0\n", "training.validate_every: expected an integer >= 1, found 0"),
        ("training:\n  steps_per_epoch: 0\n", "training.steps_per_epoch: expected an integer >= 1 or null, found 0"),
        ("pipeline:\n  batch_size: -4\n", "pipeline.batch_size: expected an integer >= 1, found -4"),
        ("pipeline:\n  train_frames: 0\n", "pipeline.train_frames: expected an integer >= 1, found 0"),
        ("schedule:\n  decay_epochs: [10, -1]\n", "schedule.decay_epochs[1]: expected an integer >= 0, found -1"),
        ("schedule:\n  initial_learning_rate: 0\n", "schedule.initial_learning_rate: expected a number > 0, found 0"),
        ("evaluation:\n  threshold: 1.0\n", "evaluation.threshold: expected a number > 0 and < 1, found 1.0"),
    ],
)
def test_meaningless_values_are_refused(tmp_path, text, expected):
    assert expected in _error(tmp_path, text)


def test_accepted_values_are_converted_to_the_field_types(tmp_path):
    recipe = _load(tmp_path, "loss:\n  sed_weight: 1\ntraining:\n  steps_per_epoch: null\ndata:\n  train_folds: [4, 5]\n")
    assert recipe.loss.sed_weight == 1.0 and isinstance(recipe.loss.sed_weight, float)
    assert recipe.training.steps_per_epoch is None
    assert recipe.data.train_folds == (4, 5)


@pytest.mark.parametrize("epochs", [0, -1, "3"])
def test_replace_goes_through_the_same_checks(epochs):
    recipe = Recipe(name="tiny")
    with pytest.raises(ConfigError, match=rf"recipe 'tiny': training\.epochs: expected an integer >= 1, found {epochs!r}"):
        recipe.replace(training={"epochs": epochs})
    assert recipe.replace(training={"epochs": 3}).training.epochs == 3


@pytest.mark.parametrize("epochs", ["0", "-1", "three"])
def test_cli_refuses_fewer_than_one_epoch(tmp_path, capsys, epochs):
    recipe = EXPERIMENTS / "dcase2020_baseline" / "foa_cpu.yaml"
    with pytest.raises(SystemExit) as caught:
        main(["--quiet", "train", str(recipe), "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--epochs", epochs])
    assert caught.value.code == 2
    assert f"--epochs: expected a whole number of epochs >= 1, got '{epochs}'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_cli_names_a_missing_recipe_file(tmp_path, capsys):
    code = main(["--quiet", "train", str(tmp_path / "absent.yaml"), "--data", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert err == f"seld-tf: error: {tmp_path / 'absent.yaml'}: expected a recipe file, found no such file\n"
