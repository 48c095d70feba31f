"""Phan et al. (2020) loss study on the built-in synthetic FOA scenes, on CPU.

Trains the CPU-size recipes of the three loss settings of Table 1 and the
DCASE2020 baseline on one synthetic dataset with the same epoch budget, once
per training seed, scores each best snapshot on the validation and test folds,
and writes

    experiments/phan2020/results.md        the Table-1-style table (mean ± std over the seeds)
    figures/phan2020_loss_study.png         the Figure-2-style curves (the first seed's runs)

Run from the repository root:

    .venv/bin/python experiments/phan2020/run_study.py [--epochs N] [--seeds 0 1 2] [--work runs/phan2020_study]

A finished run (WORK/<recipe name>/seed<k>) is not retrained (delete it to
redo it); an interrupted one resumes (`seld_tf.studies.multiseed`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seld_tf.datasets.synth.seld import SeldSynthConfig
from seld_tf.plotting import plot_loss_study, save_figure
from seld_tf.recipes import load_recipe
from seld_tf.runs import load_history
from seld_tf.studies.multiseed import (
    describe_seeds,
    markdown_table,
    mean_std_cells,
    run_seeds,
    shown_path,
    study_command,
    synthesize_unless_present,
    write_markdown,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SETTINGS = {
    "MSE (Eq. 3)": HERE / "cpu" / "foa_mse.yaml",
    "CE 1 + MSE 1000 (Eq. 2)": HERE / "cpu" / "foa_ce_mse_1000.yaml",
    "CE 1 + MSE 1 (Eq. 2)": HERE / "cpu" / "foa_ce_mse_1.yaml",
    "DCASE2020 baseline (SELDnet, CE 1 + MSE 1000)": ROOT / "experiments" / "dcase2020_baseline" / "foa_cpu.yaml",
}
# (`SeedResult.sample` key, header, cell format), in Table 1's order.
COLUMNS = (
    ("LE", "LE_CD", ".2f"),
    ("LR", "LR_CD", ".3f"),
    ("ER", "ER_20", ".3f"),
    ("F", "F_20", ".3f"),
    ("SELD", "SELD", ".3f"),
    ("minutes", "train time (min)", ".1f"),
)
SPLITS = ("validation", "test")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "phan2020_study")
    parser.add_argument("--clips", type=int, default=36)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--epochs", type=int, default=20, help="the same budget for every setting")
    parser.add_argument("--seed", type=int, default=0, help="the dataset's seed, and the training seed without --seeds")
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds: one run of every setting per seed")
    parser.add_argument("--results", type=Path, default=HERE / "results.md")
    parser.add_argument("--figure", type=Path, default=ROOT / "figures" / "phan2020_loss_study.png")
    args = parser.parse_args()
    seeds = args.seeds or [args.seed]

    data_dir = args.work / "data"
    synthesize_unless_present(data_dir, SeldSynthConfig(num_clips=args.clips, duration=args.duration, seed=args.seed))
    results, histories, sed_losses = {}, {}, {}
    for label, recipe_path in SETTINGS.items():
        recipe = load_recipe(recipe_path).replace(training={"epochs": args.epochs})
        results[label] = run_seeds(recipe, seeds, data_dir, args.work, cache_dir=args.work / "features_foa", splits=SPLITS)
        histories[label] = load_history(results[label][0].run_dir)
        sed_losses[label] = recipe.loss.sed

    save_figure(
        plot_loss_study(histories, sed_losses=sed_losses, title="Loss study on synthetic FOA scenes (CPU size)"), args.figure
    )
    write_markdown(args.results, results_lines(args, seeds, results))


def results_lines(args, seeds: list[int], results: dict) -> list[str]:
    """The lines of results.md: setting label -> its `SeedResult`s in `results`."""
    formats = {key: spec for key, _, spec in COLUMNS}
    rows = [
        [label, split, *mean_std_cells([run.sample(split) for run in runs], formats)]
        for label, runs in results.items()
        for split in SPLITS
    ]
    return [
        "# Phan et al. (2020) loss study on the built-in synthetic data",
        "",
        f"Made by `{study_command(__file__, ROOT)}` (dataset: {args.clips} synthetic FOA clips x {args.duration:g} s,"
        f" seed {args.seed}; train folds 3-6, validation fold 2, test fold 1; CPU-size recipes in"
        f" `experiments/phan2020/cpu/` and `experiments/dcase2020_baseline/foa_cpu.yaml`, {args.epochs} epochs each,"
        f" best snapshot by validation SELD score, DCASE2020 metric). {describe_seeds(seeds)}."
        f" Figure: `{shown_path(args.figure, ROOT)}`.",
        "",
        *markdown_table(["setting", "split", *(name for _, name, _ in COLUMNS)], rows),
    ]


if __name__ == "__main__":
    main()
