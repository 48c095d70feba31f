"""Recipe loading: every value is type- and range-checked, with one line naming the file and key."""

from pathlib import Path

import pytest
import yaml

from seld_tf.cli import main
from seld_tf.errors import ConfigError
from seld_tf.recipes import Recipe, load_recipe, recipe_from_dict, save_recipe

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
SHIPPED = sorted(EXPERIMENTS.rglob("*.yaml")) + sorted((ROOT / "seld_tf" / "builtin_recipes").glob("*.yaml"))
# Each study's one recipe that extends no other; the variants state only how they differ.
STUDY_ROOTS = {"dcase2020_baseline": "foa.yaml", "phan2020": "foa_mse.yaml", "einv2": "table3_soft_trackwise.yaml"}


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


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_recipe_loads(path):
    assert load_recipe(path).name


@pytest.mark.parametrize("study", STUDY_ROOTS)
def test_a_study_has_one_full_recipe_and_variants_that_extend(study):
    # A second full recipe would be a copy that can drift from the first.
    folder = EXPERIMENTS / study
    recipes = {path.relative_to(folder).as_posix(): yaml.safe_load(path.read_text(encoding="utf-8")) for path in folder.rglob("*.yaml")}
    assert {name for name, values in recipes.items() if "extends" not in values} == {STUDY_ROOTS[study]}


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _extends_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_recipe(path)
    return str(caught.value)


def test_extends_merges_mappings_key_by_key_and_replaces_everything_else(tmp_path):
    _write(
        tmp_path,
        "base.yaml",
        "name: base\nmodel: {preset: cpu, args: {a: 1, b: 2}}\n"
        "pipeline: {batch_size: 4, spec_augment: {time_masks: 2}}\nschedule: {decay_epochs: [10, 20]}\n",
    )
    _write(tmp_path, "middle.yaml", "extends: base.yaml\nname: middle\ntraining: {epochs: 3}\n")
    # The parent's path is relative to the recipe's folder, wherever the loader runs.
    child = _write(
        tmp_path,
        "variants/child.yaml",
        "extends: ../middle.yaml\nname: child\nmodel: {args: {b: 3}}\npipeline: {spec_augment: null}\nschedule: {decay_epochs: [5]}\n",
    )
    recipe = load_recipe(child)
    assert recipe.name == "child"
    assert (recipe.model.preset, recipe.model.args) == ("cpu", {"a": 1, "b": 3})
    assert (recipe.pipeline.batch_size, recipe.pipeline.spec_augment) == (4, None)
    assert recipe.schedule.decay_epochs == (5,)
    assert recipe.training.epochs == 3


def test_a_saved_recipe_is_the_resolved_one(tmp_path):
    # The trainer saves RUN/recipe.yaml this way: a run folder must not depend on the files a recipe extended.
    _write(tmp_path, "base.yaml", "name: base\ntraining: {epochs: 3}\n")
    child = _write(tmp_path, "child.yaml", "extends: base.yaml\nname: child\n")
    recipe = load_recipe(child)
    save_recipe(recipe, tmp_path / "saved.yaml")
    (tmp_path / "base.yaml").unlink()
    saved = yaml.safe_load((tmp_path / "saved.yaml").read_text())
    assert "extends" not in saved and saved["training"]["epochs"] == 3
    assert load_recipe(tmp_path / "saved.yaml") == recipe


def test_an_extends_cycle_is_refused_naming_the_chain(tmp_path):
    first = _write(tmp_path, "first.yaml", "extends: second.yaml\nname: first\n")
    second = _write(tmp_path, "second.yaml", "extends: first.yaml\n")
    assert _extends_error(first) == f"{second}: extends: a cycle of recipes: {first} -> {second} -> {first}"
    itself = _write(tmp_path, "itself.yaml", "extends: itself.yaml\nname: x\n")
    assert _extends_error(itself) == f"{itself}: extends: a cycle of recipes: {itself} -> {itself}"


def test_a_missing_parent_names_the_recipe_that_extends_it(tmp_path):
    child = _write(tmp_path, "child.yaml", "extends: absent.yaml\nname: child\n")
    expected = f"{child}: extends: expected a recipe file, found no such file {tmp_path / 'absent.yaml'}"
    assert _extends_error(child) == expected


def test_extends_takes_one_path(tmp_path):
    child = _write(tmp_path, "child.yaml", "extends: [a.yaml, b.yaml]\nname: child\n")
    expected = f"{child}: extends: expected a path relative to the recipe's folder, found ['a.yaml', 'b.yaml']"
    assert _extends_error(child) == expected


def test_errors_in_an_extended_recipe_name_the_recipe_and_its_parents(tmp_path):
    base = _write(tmp_path, "base.yaml", "name: base\ntraining: {epochs: 0}\n")
    middle = _write(tmp_path, "middle.yaml", "extends: base.yaml\n")
    child = _write(tmp_path, "child.yaml", "extends: middle.yaml\nname: child\n")
    expected = f"{child} (extends {middle}, which extends {base}): training.epochs: expected an integer >= 1, found 0"
    assert _extends_error(child).startswith(expected)


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
