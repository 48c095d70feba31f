"""The EINV2 recipes: each file's settings follow from its name, and the README maps the paper's rows to them.

File names are systematic (README "Recipes"):
    table2_<format>[_<pit>]_<task>.yaml     Table 2, task sed or doa alone
    table3_<sharing>_<format>[_aug][_code][_bf16].yaml    Table 3 (tPIT for trackwise), and the ACCDOA formats beyond it
    cpu/<sharing>_<format>[_<pit>][_code[_<one>]][_bf16].yaml     the study's CPU-size variants
where `_code` configures the cross-stitches and the positional encoding as the released EIN-SELD code,
`_code_<one>` (order, mhsa, pe) takes only that one of the code's three choices, and `_bf16` trains in
Keras' mixed bfloat16 precision.
The recipes extend one another; these tests check what they resolve to. Nothing here builds a model.
"""

import inspect
import re
from pathlib import Path

import pytest

from seld_tf.features import get_preset
from seld_tf.models.einv2 import build_einv2
from seld_tf.recipes import load_recipe
from seld_tf.tasks.seld import frames_per_label, seld_compile_args
from recipe_diff import changed_keys

EINV2_DIR = Path(__file__).resolve().parents[1] / "experiments" / "einv2"
PAPER = sorted(EINV2_DIR.glob("*.yaml"))
CPU = sorted((EINV2_DIR / "cpu").glob("*.yaml"))
PIT_NAMES = {"nopit": "none", "tpit": "tpit", "cpit": "cpit"}
TABLE2 = re.compile(r"table2_(?P<format>classwise|trackwise)(_(?P<pit>nopit|cpit|tpit))?_(?P<task>sed|doa)")
FORMATS = r"(?P<format>classwise|trackwise|accdoa|multi_accdoa)"
TABLE3 = re.compile(rf"table3_(?P<sharing>none|hard|soft)_{FORMATS}(?P<aug>_aug)?(?P<code>_code)?(?P<bf16>_bf16)?")
CPU_NAME = re.compile(rf"(?P<sharing>none|hard|soft)_{FORMATS}(_(?P<pit>nopit|cpit|tpit))?(?P<code>_code(_(?P<one>order|mhsa|pe))?)?(?P<bf16>_bf16)?")
BUILDER_DEFAULTS = {name: parameter.default for name, parameter in inspect.signature(build_einv2).parameters.items()}
# `_code`: the released code's choices where it departs from Table 1 (the builder's defaults are the paper's).
RELEASED_CODE_ARGS = {"stitch_order": "sequential", "mhsa_stitch": False, "positional_encoding": False}
PAPER_ARGS = {name: BUILDER_DEFAULTS[name] for name in RELEASED_CODE_ARGS}
# `_code_<one>`: the paper's configuration but for one of the code's choices (which one matters).
ONE_CODE_ARG = {"order": "stitch_order", "mhsa": "mhsa_stitch", "pe": "positional_encoding"}


# The keys that each of the paper's variations changes (CPU_SIZE: the study's, not the paper's).
SHARING = {"model.args.sharing"}
OUTPUT_FORMAT = {"data.label_form", "model.args.output_format", "loss.pit"}
AUGMENTATION = {"pipeline.foa_rotation", "pipeline.spec_augment"}
RELEASED_CODE = {f"model.args.{name}" for name in RELEASED_CODE_ARGS}
CPU_SIZE = {
    "data.feature_overrides.n_mels",
    "data.train_folds",
    "data.validation_folds",
    "pipeline.batch_size",
    "model.preset",
    "schedule.initial_learning_rate",
    "schedule.decay_epochs",
    "training.epochs",
}


def name_parts(path: Path) -> dict:
    for pattern in (TABLE2, TABLE3, CPU_NAME):
        match = pattern.fullmatch(path.stem)
        if match:
            return match.groupdict()
    raise AssertionError(f"{path.name} does not follow the naming scheme")


def _paper_or_code(parts: dict) -> dict:
    if parts.get("one"):
        name = ONE_CODE_ARG[parts["one"]]
        return {**PAPER_ARGS, name: RELEASED_CODE_ARGS[name]}
    return RELEASED_CODE_ARGS if parts.get("code") else PAPER_ARGS


def expected_settings(path: Path) -> dict:
    """What the name states: sharing, output format, PIT, loss weights, oracle, augmentation, paper or code choices."""
    parts = name_parts(path)
    task = parts.get("task")
    trackwise = parts["format"] == "trackwise"
    return {
        # Table 2: "a single branch of EINV2 without soft PS".
        "sharing": parts.get("sharing") or "none",
        "output_format": parts["format"],
        "pit": PIT_NAMES[parts.get("pit") or "tpit"] if trackwise else "none",
        "sed_weight": 0.0 if task == "doa" else 0.5,
        "doa_weight": 0.0 if task == "sed" else 0.5,
        # Scoring SED alone replaces the DOA by the reference, and vice versa.
        "oracle": {"sed": "doa", "doa": "sed", None: None}[task],
        # Rotation and SpecAugment together: Table 3's "-DA" rows.
        "augmented": (bool(parts.get("aug")),) * 2,
        "paper_or_code": _paper_or_code(parts),
        "precision": "mixed_bfloat16" if parts.get("bf16") else "float32",
    }


def actual_settings(recipe) -> dict:
    return {
        "sharing": recipe.model.args["sharing"],
        "output_format": recipe.model.args["output_format"],
        "pit": recipe.loss.pit,
        "sed_weight": recipe.loss.sed_weight,
        "doa_weight": recipe.loss.doa_weight,
        "oracle": recipe.evaluation.oracle,
        "augmented": (recipe.pipeline.foa_rotation, recipe.pipeline.spec_augment is not None),
        "paper_or_code": {name: recipe.model.args.get(name, BUILDER_DEFAULTS[name]) for name in RELEASED_CODE_ARGS},
        "precision": recipe.training.precision,
    }


def test_every_row_of_tables_2_and_3_has_a_recipe():
    names = {path.stem for path in PAPER}
    formats = ("classwise", "trackwise_nopit", "trackwise_cpit", "trackwise_tpit")
    table2 = {f"table2_{fmt}_{task}" for fmt in formats for task in ("sed", "doa")}
    table3 = {f"table3_{sharing}_{fmt}" for sharing in ("none", "hard", "soft") for fmt in ("classwise", "trackwise")}
    table3_aug = {f"table3_{sharing}_trackwise_aug" for sharing in ("none", "hard", "soft")}
    beyond = {"table3_soft_accdoa", "table3_soft_multi_accdoa"}
    implementation_check = {"table3_soft_trackwise_code"}
    precision = {"table3_soft_trackwise_bf16"}
    assert names == table2 | table3 | table3_aug | beyond | implementation_check | precision


@pytest.mark.parametrize("path", PAPER + CPU, ids=lambda path: path.relative_to(EINV2_DIR).as_posix())
def test_settings_match_the_file_name(path):
    recipe = load_recipe(path)
    prefix = "einv2_cpu_" if path.parent.name == "cpu" else "einv2_"
    assert recipe.name == prefix + path.stem
    expected = expected_settings(path)
    assert actual_settings(recipe) == expected
    assert recipe.data.label_form == expected["output_format"]
    # Every model argument is one of the builder's; the losses resolve.
    assert set(recipe.model.args) <= set(BUILDER_DEFAULTS)
    _, label_transform = seld_compile_args(recipe)
    assert (label_transform is not None) == (expected["output_format"] == "trackwise")


@pytest.mark.parametrize("path", PAPER, ids=lambda path: path.name)
def test_paper_size_settings_of_section_4_1(path):
    recipe = load_recipe(path)
    assert (recipe.data.format, recipe.data.features, recipe.data.feature_overrides) == ("foa", "einv2", {})
    # The authors' configuration: train folds 2-6, validation fold 1.
    assert (recipe.data.train_folds, recipe.data.validation_folds) == ((2, 3, 4, 5, 6), (1,))
    # Multi-ACCDOA: the DCASE2022 baseline's 3 tracks.
    assert recipe.data.num_tracks == (3 if name_parts(path)["format"] == "multi_accdoa" else 2)
    assert (recipe.model.name, recipe.model.preset) == ("einv2", "paper")
    assert (recipe.pipeline.train_frames, recipe.pipeline.batch_size) == (160, 32)
    # 4 s chunks: hop 600 at 24 kHz is 4 feature frames per 100 ms label frame, 40 label frames.
    assert frames_per_label(get_preset(recipe.data.features)) == 4
    assert recipe.optimizer.name == "adamw"
    schedule = recipe.schedule
    assert (schedule.initial_learning_rate, schedule.decay_epochs, schedule.decay_rate) == (5.0e-4, (90,), 0.1)
    assert recipe.training.epochs == 100
    assert (recipe.evaluation.threshold, recipe.evaluation.segment_frames) == (0.5, 160)


@pytest.mark.parametrize("path", CPU, ids=lambda path: path.name)
def test_cpu_variants_differ_only_in_size_and_budget(path):
    recipe = load_recipe(path)
    assert (recipe.model.preset, recipe.data.feature_overrides) == ("cpu", {"n_mels": 64})
    # Challenge folds: the synthetic data has no evaluation set, fold 1 stands in for it.
    assert (recipe.data.train_folds, recipe.data.validation_folds, recipe.data.test_folds) == ((3, 4, 5, 6), (2,), (1,))
    assert recipe.schedule.decay_epochs == (round(0.9 * recipe.training.epochs),)


def reference_and_changes(path: Path) -> tuple[Path, set[str]]:
    """The Table 3 recipe that `path` varies, and the keys in which the two may differ."""
    parts = name_parts(path)
    if path.parent.name == "cpu":
        reference, changes = f"table3_{parts['sharing']}_{parts['format']}", CPU_SIZE
    elif parts.get("task"):
        # A single task: the other's loss weight is 0 and the other's output is the reference's.
        other = {"sed": "doa", "doa": "sed"}[parts["task"]]
        reference, changes = f"table3_none_{parts['format']}", {f"loss.{other}_weight", "evaluation.oracle"}
    else:
        reference, changes = "table3_soft_trackwise", set()
        changes |= SHARING if parts["sharing"] != "soft" else set()
        changes |= OUTPUT_FORMAT if parts["format"] != "trackwise" else set()
        changes |= {"data.num_tracks"} if parts["format"] == "multi_accdoa" else set()
        changes |= AUGMENTATION if parts["aug"] else set()
    if parts.get("pit") not in (None, "tpit"):
        changes = changes | {"loss.pit"}
    if parts.get("one"):
        changes = changes | {f"model.args.{ONE_CODE_ARG[parts['one']]}"}
    elif parts.get("code"):
        changes = changes | RELEASED_CODE
    if parts.get("bf16"):
        changes = changes | {"training.precision"}
    return EINV2_DIR / f"{reference}.yaml", changes


@pytest.mark.parametrize("path", PAPER + CPU, ids=lambda path: path.relative_to(EINV2_DIR).as_posix())
def test_each_recipe_differs_from_its_table_3_row_only_in_what_the_tables_vary(path):
    # However the files extend one another, this is what they must resolve to.
    reference, changes = reference_and_changes(path)
    assert changed_keys(load_recipe(reference).to_dict(), load_recipe(path).to_dict()) - {"name"} == changes


def test_readme_maps_each_recipe_once():
    readme = (EINV2_DIR / "README.md").read_text(encoding="utf-8")
    for path in PAPER + CPU:
        mentions = re.findall(rf"`(?:cpu/)?{re.escape(path.name)}`", readme)
        assert mentions, f"{path.name} is not in the README"
    table_rows = [line for line in readme.splitlines() if line.startswith("|")]
    for path in PAPER:
        assert sum(f"`{path.name}`" in line for line in table_rows) == 1, path.name


# README row and column names -> the settings they stand for.
README_SHARING = {"No-PS": "none", "Hard-PS": "hard", "Soft-PS": "soft", "EINV2": "soft"}
README_FORMAT = {"SELDnet": "classwise", "Trackwise": "trackwise", "ACCDOA": "accdoa", "multi-ACCDOA": "multi_accdoa"}
README_TABLE2 = {
    "SELDnet": ("classwise", "none"),
    "Track_noPIT": ("trackwise", "none"),
    "Track_cPIT": ("trackwise", "cpit"),
    "Track_tPIT": ("trackwise", "tpit"),
}


def readme_rows(prefix):
    """The cells of the README table rows naming a `prefix*` recipe."""
    readme = (EINV2_DIR / "README.md").read_text(encoding="utf-8")
    return [
        [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        for line in readme.splitlines()
        if line.startswith("|") and f"`{prefix}" in line
    ]


def test_readme_table_3_rows_name_recipes_of_their_sharing_format_and_augmentation():
    rows = readme_rows("table3_")
    assert len(rows) == 13
    for method, output_format, file_name in rows:
        recipe = load_recipe(EINV2_DIR / file_name)
        augmented = method.endswith("-DA")
        assert recipe.model.args["sharing"] == README_SHARING[method.removesuffix("-DA")], method
        assert recipe.model.args["output_format"] == README_FORMAT[output_format], method
        assert (recipe.pipeline.foa_rotation, recipe.pipeline.spec_augment is not None) == (augmented, augmented)


def test_readme_table_2_rows_name_single_task_recipes_of_their_format():
    rows = readme_rows("table2_")
    assert [row[0] for row in rows] == list(README_TABLE2)
    for method, sed_only, doa_only in rows:
        output_format, pit = README_TABLE2[method]
        for file_name, oracle in ((sed_only, "doa"), (doa_only, "sed")):
            recipe = load_recipe(EINV2_DIR / file_name)
            assert (recipe.model.args["output_format"], recipe.loss.pit) == (output_format, pit), file_name
            assert recipe.evaluation.oracle == oracle, file_name
