"""The Nada et al. (2022) recipes: each file's settings follow from its name (Table IV rows, the
Fig. 2 sweep, paper and CPU size), and the paper-size recipes build the counted networks.

    table4_<row>.yaml, fig2/<method>_alpha_<alpha>.yaml    paper size
    cpu/...                                                the study's CPU size, same names
"""

from pathlib import Path

import pytest

from seld_tf.models.registry import build_model
from seld_tf.recipes import load_recipe
from seld_tf.tasks.scene_event import SceneEventTask
from recipe_diff import changed_keys

ROOT = Path(__file__).resolve().parents[1] / "experiments" / "nada2022"
PROPOSED = {"eta": 0.5, "gamma": 1.0, "zeta": 0.0625}
CONVENTIONAL = {"eta": 0.0, "gamma": 0.0, "zeta": 0.0}
# Table IV rows: (alpha, beta, focal exponents, parameters at paper size).
ROWS = {
    "cnn_asc": (1.0, 0.0, CONVENTIONAL, 1_193_636),
    "cnn_bigru_sed": (0.0, 1.0, CONVENTIONAL, 356_569),
    "conventional_mtl": (0.001, 1.0, CONVENTIONAL, 1_252_221),
    "proposed": (0.001, 1.0, PROPOSED, 1_252_221),
    "proposed_eta1": (0.001, 1.0, {**PROPOSED, "eta": 1.0}, 1_252_221),
    "conventional_mtl_code": (0.001, 1.0, CONVENTIONAL, 1_330_429),
    "conventional_mtl_dwa": (0.001, 1.0, CONVENTIONAL, 1_252_221),
    "conventional_mtl_uncertainty": (0.001, 1.0, CONVENTIONAL, 1_252_221),
}
WEIGHTINGS = {"dwa", "uncertainty"}
SWEEP_ALPHAS = {"0.0001", "0.01", "0.1", "1.0"}


def recipes(folder: Path) -> list[Path]:
    return sorted(folder.glob("table4_*.yaml")) + sorted((folder / "fig2").glob("*.yaml"))


def expected_loss(path: Path) -> dict:
    stem = path.stem
    if stem.startswith("table4_"):
        alpha, beta, exponents, _ = ROWS[stem.removeprefix("table4_")]
        return {"alpha": alpha, "beta": beta, **exponents}
    method, _, alpha = stem.partition("_alpha_")
    assert alpha in SWEEP_ALPHAS, stem
    _, beta, exponents, _ = ROWS[method]
    return {"alpha": float(alpha), "beta": beta, **exponents}


@pytest.mark.parametrize("path", recipes(ROOT) + recipes(ROOT / "cpu"), ids=lambda path: str(path.relative_to(ROOT)))
def test_each_recipe_holds_what_its_name_says(path):
    recipe = load_recipe(path)
    loss = recipe.loss
    assert {key: getattr(loss, key) for key in ("alpha", "beta", "eta", "gamma", "zeta")} == expected_loss(path)
    suffix = path.stem.rpartition("_")[2]
    assert recipe.loss.weighting == (suffix if suffix in WEIGHTINGS else "constant")
    assert recipe.task == "scene_event" and recipe.model.name == "nada2022"
    assert recipe.data.features == "nada2022" and recipe.evaluation.threshold == 0.5
    assert recipe.evaluation.segment_frames == 500
    code = path.stem.endswith("_code")
    assert recipe.optimizer.name == ("adam" if code else "radam")
    if path.parent.name == "fig2":
        row = "table4_" + path.stem.partition("_alpha_")[0]
        assert changed_keys(load_recipe(path.parent.parent / f"{row}.yaml").to_dict(), recipe.to_dict()) == {"name", "loss.alpha"}
    if "cpu" in path.relative_to(ROOT).parts:
        paper = load_recipe(ROOT / path.relative_to(ROOT / "cpu"))
        # The CPU variants change the budget and the size, never the method.
        assert changed_keys(paper.to_dict(), recipe.to_dict()) <= {
            "name", "pipeline.train_frames", "pipeline.batch_size", "model.preset", "model.args",
            "model.args.filters", "model.args.scene_filters", "schedule.initial_learning_rate",
            "training.epochs", "training.steps_per_epoch", "training.validate_every",
        }
    else:
        assert (recipe.schedule.initial_learning_rate, recipe.pipeline.batch_size, recipe.training.epochs) == (2e-4, 64, 300)
        assert recipe.pipeline.train_frames == 500


@pytest.mark.parametrize("folder", [ROOT, ROOT / "cpu"], ids=["paper", "cpu"])
def test_the_uncertainty_recipes_are_the_conventional_mtl_with_learned_weights(folder):
    recipe = load_recipe(folder / "table4_conventional_mtl_uncertainty.yaml")
    assert recipe.loss.weighting == "uncertainty"
    conventional = load_recipe(folder / "table4_conventional_mtl.yaml")
    assert changed_keys(conventional.to_dict(), recipe.to_dict()) == {"name", "loss.weighting"}


@pytest.mark.parametrize("row", ["cnn_asc", "cnn_bigru_sed", "conventional_mtl", "conventional_mtl_code"])
def test_paper_size_recipes_build_the_counted_networks(row):
    recipe = load_recipe(ROOT / f"table4_{row}.yaml")
    args = {**SceneEventTask(recipe).model_args(), **recipe.model.args}
    model = build_model(recipe.model.name, recipe.model.preset, input_shape=(500, 64, 1), **args)
    assert model.count_params() == ROWS[row][3]
