"""Which CPU-size SELD training regime learns on the built-in synthetic FOA scenes.

The SELD studies (`experiments/phan2020`, `experiments/einv2`) need a budget in
which their models detect, or no comparison between them means anything. This
script trains one seed of each candidate (a recipe with a few overrides, on a
dataset of a given size) for the same 40 epochs, scores the best snapshot on
the validation and test folds, and writes

    experiments/seld_regime/results.md     one row per candidate: DCASE2020 scores and training minutes

Run from the repository root:

    .venv/bin/python experiments/seld_regime/run_regime.py [--work runs/seld_regime]

A finished run (WORK/<candidate>/seed0) is not retrained (`seld_tf.studies.multiseed`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seld_tf.datasets.synth.seld import SeldSynthConfig
from seld_tf.recipes import load_recipe
from seld_tf.studies.multiseed import markdown_table, mean_std_cells, run_seeds, study_command, synthesize_unless_present, write_markdown

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BASELINE = ROOT / "experiments" / "dcase2020_baseline" / "foa_cpu.yaml"
PHAN = ROOT / "experiments" / "phan2020" / "cpu"
# Datasets: name -> SeldSynthConfig arguments (seed 0, 60 s clips).
DATASETS = {"36 clips": {"num_clips": 36}, "72 clips, 4 rooms/fold": {"num_clips": 72, "rooms_per_fold": 4}}
# Candidate -> (description, recipe, overrides by recipe group, dataset).
CANDIDATES = {
    "baseline_mean": ("SELDnet, BCE 1 + masked MSE 1000 (mean over active)", BASELINE, {"loss": {"doa_normalization": "mean"}}, "36 clips"),
    "baseline_sqrt": ("SELDnet, BCE 1 + masked MSE 1000 (the released code's sqrt(sum)/count)", BASELINE, {}, "36 clips"),
    "seldnet_w1": ("SELDnet, BCE 1 + masked MSE 1, lr 3e-3", BASELINE, {"loss": {"doa_weight": 1.0, "doa_normalization": "mean"}}, "36 clips"),
    "seldnet_w1_lr1e-3": (
        "SELDnet, BCE 1 + masked MSE 1, lr 1e-3",
        BASELINE,
        {"loss": {"doa_weight": 1.0, "doa_normalization": "mean"}, "schedule": {"initial_learning_rate": 1e-3}},
        "36 clips",
    ),
    "seldnet_w1_72clips": (
        "SELDnet, BCE 1 + masked MSE 1, lr 3e-3",
        BASELINE,
        {"loss": {"doa_weight": 1.0, "doa_normalization": "mean"}},
        "72 clips, 4 rooms/fold",
    ),
    "seldnet_accdoa": ("SELDnet, ACCDOA (the demo's recipe)", ROOT / "experiments" / "dcase2020_baseline" / "foa_accdoa_cpu.yaml", {}, "36 clips"),
    "phan_mse_dropout0.5": ("Phan CRNN, SED MSE + DOA MSE 1:1, conv dropout 0.5", PHAN / "foa_mse.yaml", {"model": {"args": {"conv_dropout": 0.5}}}, "36 clips"),
    "phan_ce1_dropout0.5": ("Phan CRNN, SED BCE + DOA MSE 1:1, conv dropout 0.5", PHAN / "foa_ce_mse_1.yaml", {"model": {"args": {"conv_dropout": 0.5}}}, "36 clips"),
}
FORMATS = {"F": ".3f", "ER": ".3f", "LE": ".1f", "LR": ".3f", "SELD": ".3f"}
EPOCHS = 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "seld_regime")
    parser.add_argument("--results", type=Path, default=HERE / "results.md")
    args = parser.parse_args()

    rows = []
    for name, (description, recipe_path, overrides, dataset) in CANDIDATES.items():
        data_dir = args.work / "data" / dataset.split(",")[0].replace(" ", "_")
        synthesize_unless_present(data_dir, SeldSynthConfig(seed=0, **DATASETS[dataset]))
        recipe = load_recipe(recipe_path)
        recipe = recipe.replace(**overrides, training={"epochs": EPOCHS})
        (result,) = run_seeds(
            _renamed(recipe, name), [0], data_dir, args.work, cache_dir=data_dir.parent / f"features_{data_dir.name}"
        )
        test = mean_std_cells([result.sample("test")], FORMATS)
        validation = mean_std_cells([result.sample("validation")], {"F": ".3f"})
        rows.append([description, dataset, *test, *validation, f"{result.minutes:.1f}"])
    write_markdown(
        args.results,
        [
            "# CPU-size SELD training regimes on the built-in synthetic FOA scenes",
            "",
            f"Made by `{study_command(__file__, ROOT)}`: one seed (0) per candidate, {EPOCHS} epochs each (batch 8,"
            " 6 s windows), best snapshot by validation SELD score, DCASE2020 metric on the test fold (fold 1, unseen"
            " rooms). Datasets: synthetic FOA, 60 s clips, seed 0; train folds 3-6, validation fold 2. Minutes on"
            " 2 CPU cores shared with other jobs (compare them within this table only). The silent predictor scores"
            " F 0, ER 1, LE 180, LR 0, SELD 1. What the rows show: `docs/synthetic_data.md`, \"SELD training regime\".",
            "",
            *markdown_table(["candidate", "data", "test F_20", "ER_20", "LE_CD", "LR_CD", "SELD", "validation F_20", "minutes"], rows),
        ],
    )


def _renamed(recipe, name: str):
    """The recipe under the candidate's name: its run folder is WORK/<name>/seed0."""
    from seld_tf.recipes import recipe_from_dict

    return recipe_from_dict({**recipe.to_dict(), "name": name})


if __name__ == "__main__":
    main()
