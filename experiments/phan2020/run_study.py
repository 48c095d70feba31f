"""Phan et al. (2020) loss study on the built-in synthetic FOA scenes, on CPU.

Trains the CPU-size recipes of the three loss settings of Table 1 and the
DCASE2020 baseline on one synthetic dataset with the same epoch budget, once
per training seed, scores each best snapshot on the validation and test folds,
and writes

    experiments/phan2020/results.md        the Table-1-style table (mean ± std over the seeds, the paper's
                                            FOA rows beside), paired per-seed differences, what the data shows
    figures/phan2020_loss_study.png         the Figure-2-style curves (mean over the seeds, std band)

Run from the repository root:

    .venv/bin/python experiments/phan2020/run_study.py [--epochs N] [--seeds 0 1 2] [--work runs/phan2020_study]

A finished run (WORK/<recipe name>/seed<k>) is not retrained (delete it to
redo it); an interrupted one resumes (`seld_tf.studies.multiseed`).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from seld_tf.datasets.synth.seld import SeldSynthConfig
from seld_tf.plotting import plot_loss_study, save_figure
from seld_tf.recipes import load_recipe
from seld_tf.runs import load_history
from seld_tf.studies.multiseed import (
    MeanStd,
    aggregate,
    describe_seeds,
    markdown_table,
    mean_std_cells,
    paired_differences,
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
MSE, CE_1000, CE_1, BASELINE = SETTINGS
# Table 1 of the paper, FOA, development set (Val, Test): LE_CD, LR_CD (%), ER_20, F_20 (%), SELD.
PAPER = {
    (MSE, "validation"): "17.7 / 68.1 / 0.58 / 52.4 / 0.37",
    (MSE, "test"): "19.0 / 65.6 / 0.60 / 49.2 / 0.39",
    (CE_1000, "validation"): "16.1 / 51.7 / 0.83 / 41.4 / 0.50",
    (CE_1000, "test"): "18.0 / 50.6 / 0.88 / 38.9 / 0.53",
    (CE_1, "validation"): "24.1 / 67.6 / 0.78 / 42.8 / 0.45",
    (CE_1, "test"): "26.2 / 62.7 / 0.82 / 39.9 / 0.49",
    (BASELINE, "validation"): "23.5 / 62.0 / 0.72 / 37.7 / 0.46",
    (BASELINE, "test"): "22.8 / 60.7 / 0.72 / 37.4 / 0.47",
}
# The paper's claim: MSE for both tasks beats each CE + MSE weighting.
PAIRS = ((MSE, CE_1000), (MSE, CE_1), (MSE, BASELINE))
PAIRED_KEYS = ("F", "ER", "LE", "SELD")
# A setting whose mean test F_20 stays below this has barely left the silent predictor (F 0).
SILENT_F = 0.15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "phan2020_study")
    parser.add_argument("--clips", type=int, default=36)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--epochs", type=int, default=40, help="the same budget for every setting")
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
        histories[label] = [load_history(run.run_dir) for run in results[label]]
        sed_losses[label] = recipe.loss.sed

    save_figure(
        plot_loss_study(histories, sed_losses=sed_losses, title="Loss study on synthetic FOA scenes (CPU size)"), args.figure
    )
    write_markdown(args.results, results_lines(args, seeds, results))


def results_lines(args, seeds: list[int], results: dict) -> list[str]:
    """The lines of results.md: setting label -> its `SeedResult`s in `results`."""
    formats = {key: spec for key, _, spec in COLUMNS}
    rows = [
        [label, split, *mean_std_cells([run.sample(split) for run in runs], formats), PAPER[label, split]]
        for label, runs in results.items()
        for split in SPLITS
    ]
    paired_rows, findings = [], []
    for minuend, subtrahend in PAIRS:
        differences = paired_differences(results[minuend], results[subtrahend], "test", PAIRED_KEYS)
        spread = aggregate(list(differences.values()), PAIRED_KEYS)
        for seed, row in differences.items():
            paired_rows.append([f"{minuend} - {subtrahend}", f"seed {seed}", *(f"{row[key]:+.3f}" for key in PAIRED_KEYS)])
        paired_rows.append([f"{minuend} - {subtrahend}", "mean ± std", *(spread[key].format("+.3f") for key in PAIRED_KEYS)])
        wins = sum(row["SELD"] < 0 for row in differences.values())
        findings.append(
            f"- {minuend} minus {subtrahend}, test SELD: {spread['SELD'].format('+.3f')} (lower is better; MSE lower"
            f" in {wins} of {len(differences)} seeds), test F_20: {spread['F'].format('+.3f')}. "
            + _verdict(spread["SELD"], len(differences))
        )
    silent = [label for label, runs in results.items() if np.mean([run.sample("test")["F"] for run in runs]) < SILENT_F]
    if silent:
        findings.append(
            f"- Barely above the silent predictor (test F_20 below {SILENT_F} on average; the silent predictor has"
            f" F 0, ER 1, SELD 1): {', '.join(silent)}. The SED branch stays near its class prior at this budget."
        )
    return [
        "# Phan et al. (2020) loss study on the built-in synthetic data",
        "",
        f"Made by `{study_command(__file__, ROOT)}` (dataset: {args.clips} synthetic FOA clips x {args.duration:g} s,"
        f" seed {args.seed}; train folds 3-6, validation fold 2, test fold 1; CPU-size recipes in"
        f" `experiments/phan2020/cpu/` and `experiments/dcase2020_baseline/foa_cpu.yaml`, {args.epochs} epochs each,"
        f" best snapshot by validation SELD score, DCASE2020 metric). {describe_seeds(seeds, figure='mean')}."
        f" Figure: `{shown_path(args.figure, ROOT)}`. Paper column: Table 1's FOA rows on the real development"
        " set (LE_CD / LR_CD % / ER_20 / F_20 % / SELD), for the shape of the comparison, not as a target.",
        "",
        "## What the data shows",
        "",
        *findings,
        "",
        "## Table 1 shape",
        "",
        *markdown_table(["setting", "split", *(name for _, name, _ in COLUMNS), "paper (LE / LR / ER / F / SELD)"], rows),
        "",
        "## Paired differences on the test fold (same training seed)",
        "",
        *markdown_table(["difference", "seed", *PAIRED_KEYS], paired_rows),
    ]


def _verdict(difference: MeanStd, trials: int) -> str:
    """Whether a paired mean difference is more than two standard errors from 0."""
    if trials < 2 or math.isnan(difference.std):
        return "One seed: no spread to judge it by."
    if abs(difference.mean) < 2 * difference.std / math.sqrt(trials):
        return "Within two standard errors of 0: the seeds neither confirm nor refute a difference."
    return "More than two standard errors from 0 over the seeds."


if __name__ == "__main__":
    main()
