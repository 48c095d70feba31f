"""The 2APAE (Deshmukh et al. 2021) recipes: each file's settings follow from its name (Table IV rows,
Table V alphas, SNR, paper and CPU size), and the recipes build the counted networks at the clips' length.

    table4_<row>.yaml, table5_alpha_<alpha>.yaml     paper size, 20 dB
    snr<k>/<same names>.yaml                         the same at k dB (only name and data.snr differ)
    cpu/...                                          the study's CPU size, same names
"""

from pathlib import Path

import pytest

from seld_tf.datasets.synth.weakmix import CPU_CLASSES, WeakmixSynthConfig
from seld_tf.datasets.weak_remix import CLIP_DURATION, FSD_LABELS, SAMPLE_RATE
from seld_tf.models.registry import build_model
from seld_tf.recipes import load_recipe
from seld_tf.tasks.weak_tagging import WeakTaggingTask
from recipe_diff import changed_keys

ROOT = Path(__file__).resolve().parents[1] / "experiments" / "apae2021"
SNRS = (0, 10, 20)
# Recipe stem -> (pooling preset suffix, alpha, parameters at paper size). Table V's alpha = 0.001
# row is table4_2apae (no file of its own, so the study trains it once).
ROWS = {
    "table4_2apae": ("", 0.001, 1_970_186),
    "table4_gap": ("_gap", 0.0, 589_001),
    "table4_gmp": ("_gmp", 0.0, 589_001),
    "table4_gwrp": ("_gwrp", 0.0, 589_001),
    "table4_atrous": ("_atrous", 0.0, 1_048_466),
    # alpha 0 keeps the decoder in the graph (untrained), as the authors' ablation.
    "table5_alpha_0.0": ("", 0.0, 1_970_186),
    "table5_alpha_0.01": ("", 0.01, 1_970_186),
}
# The CPU-size networks (spec §7.4: every width / 4, 10 classes, 124 x 32 inputs).
CPU_PARAMETERS = {"table4_2apae": 144_771}
# What a CPU variant may change relative to its paper-size recipe: the data size and the budget.
CPU_CHANGES = {
    "name", "data.classes", "data.feature_overrides.sample_rate",
    "data.feature_overrides.n_fft", "data.feature_overrides.hop_length", "data.feature_overrides.win_length",
    "data.feature_overrides.n_mels", "data.feature_overrides.fmax", "pipeline.train_frames", "model.preset",
    "training.epochs",
}  # fmt: skip


def recipes(folder: Path) -> list[Path]:
    return sorted(folder.glob("table*.yaml")) + sorted(path for snr in SNRS for path in (folder / f"snr{snr}").glob("*.yaml"))


def ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


ALL = recipes(ROOT) + recipes(ROOT / "cpu")


def test_every_row_has_a_recipe_at_every_snr_and_size():
    expected = {Path(prefix, snr, f"{stem}.yaml") for prefix in ("", "cpu") for snr in ("", *(f"snr{k}" for k in SNRS)) for stem in ROWS}
    assert {path.relative_to(ROOT) for path in ALL} == expected


@pytest.mark.parametrize("path", ALL, ids=ids)
def test_each_recipe_holds_what_its_name_says(path):
    recipe = load_recipe(path)
    cpu = "cpu" in path.relative_to(ROOT).parts
    snr = int(path.parent.name.removeprefix("snr")) if path.parent.name.startswith("snr") else 20
    suffix, alpha, _ = ROWS[path.stem]

    assert recipe.task == "weak_tagging" and recipe.model.name == "apae2021" and not recipe.model.args
    assert recipe.model.preset == ("cpu" if cpu else "paper") + suffix
    assert (recipe.loss.clip_weight, recipe.loss.reconstruction_weight) == (1.0, alpha)
    assert recipe.data.snr == snr and recipe.data.layout == "2apae" and recipe.data.features == "apae2021"
    assert recipe.data.validation_fold == recipe.data.test_fold == 4
    # Adam 1e-3, batch 24, ReduceLROnPlateau(factor 0.1, patience 3) on validation micro-AP.
    assert (recipe.optimizer.name, recipe.optimizer.weight_decay, recipe.optimizer.clipnorm) == ("adam", None, None)
    assert recipe.schedule.initial_learning_rate == 1e-3 and recipe.pipeline.batch_size == 24
    assert recipe.schedule.plateau == {"factor": 0.1, "patience": 3}
    assert WeakTaggingTask.monitor == "val_ap_micro" and WeakTaggingTask.mode == "max"

    # The model's fixed input is a whole clip: train_frames must be the clips' frame count.
    features = WeakTaggingTask(recipe).feature_config
    if cpu:
        synth = WeakmixSynthConfig.preset("cpu")
        clip_samples, classes = round(synth.clip_duration * features.sample_rate), CPU_CLASSES
        assert features.sample_rate == synth.sample_rate and recipe.data.classes == CPU_CLASSES
    else:
        clip_samples, classes = round(CLIP_DURATION * SAMPLE_RATE), FSD_LABELS
        assert features.sample_rate == SAMPLE_RATE and recipe.data.classes == () and recipe.training.epochs == 80
    assert recipe.data.labels == classes
    assert recipe.pipeline.train_frames == features.num_frames(clip_samples) == (124 if cpu else 311)
    assert features.n_mels == (32 if cpu else 64)

    name = recipe.name
    assert name.startswith("apae2021_") and name.startswith("apae2021_cpu_") == cpu
    if path.parent.name.startswith("snr"):
        assert name.endswith(f"_snr{snr}")
        base = load_recipe(path.parent.parent / path.name)
        assert changed_keys(base.to_dict(), recipe.to_dict()) <= {"name", "data.snr"}
    if cpu:
        paper = load_recipe(ROOT / path.relative_to(ROOT / "cpu"))
        # The CPU variants change the data size and the budget, never the method.
        assert changed_keys(paper.to_dict(), recipe.to_dict()) <= CPU_CHANGES


def test_recipe_names_are_unique():
    # The study's run folders are named after the recipes.
    names = [load_recipe(path).name for path in ALL]
    assert len(set(names)) == len(names)


def build(path: Path):
    recipe = load_recipe(path)
    task = WeakTaggingTask(recipe)
    # As `seld_tf.training.build_task_model` builds it (without the feature scaler in front).
    input_shape = (task.input_frames(), task.feature_config.n_mels, 1)
    return build_model(recipe.model.name, recipe.model.preset, input_shape=input_shape, **{**task.model_args(), **recipe.model.args})


@pytest.mark.parametrize("stem", sorted(ROWS))
def test_paper_size_recipes_build_the_counted_networks(stem):
    model = build(ROOT / f"{stem}.yaml")
    assert model.count_params() == ROWS[stem][2]
    assert model.output["clip"].shape == (None, 41)
    if ROWS[stem][0] == "":
        # 2APAE: the decoder reconstructs the input [B, 311, 64, 1] (also with alpha = 0).
        assert model.output["reconstruction"].shape == (None, 311, 64, 1)
    else:
        assert set(model.output) == {"clip"}


@pytest.mark.parametrize("stem", sorted(CPU_PARAMETERS))
def test_cpu_size_recipes_build_the_counted_networks(stem):
    model = build(ROOT / "cpu" / f"{stem}.yaml")
    assert model.count_params() == CPU_PARAMETERS[stem]
    assert model.output["clip"].shape == (None, 10) and model.output["reconstruction"].shape == (None, 124, 32, 1)
