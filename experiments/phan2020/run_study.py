"""Phan et al. (2020) loss study on the built-in synthetic FOA scenes, on CPU.

Trains the CPU-size recipes of the three loss settings of Table 1 and the
DCASE2020 baseline on one synthetic dataset with the same seed and epoch
budget, scores each best snapshot on the validation and test folds, and writes

    experiments/phan2020/results.md        the Table-1-style table
    figures/phan2020_loss_study.png         the Figure-2-style curves

Run from the repository root:

    .venv/bin/python experiments/phan2020/run_study.py [--epochs N] [--work runs/phan2020_study]

A finished setting is not retrained (delete its run folder to redo it); an
interrupted one resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from seld_tf.datasets.synth.seld import SeldSynthConfig, synthesize_seld_dataset
from seld_tf.plotting import plot_loss_study, save_figure
from seld_tf.recipes import load_recipe
from seld_tf.runs import RunFolder
from seld_tf.training import evaluate_run, load_history, train

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SETTINGS = {
    "MSE (Eq. 3)": HERE / "cpu" / "foa_mse.yaml",
    "CE 1 + MSE 1000 (Eq. 2)": HERE / "cpu" / "foa_ce_mse_1000.yaml",
    "CE 1 + MSE 1 (Eq. 2)": HERE / "cpu" / "foa_ce_mse_1.yaml",
    "DCASE2020 baseline (SELDnet, CE 1 + MSE 1000)": ROOT / "experiments" / "dcase2020_baseline" / "foa_cpu.yaml",
}
COLUMNS = ("LE", "LR", "ER", "F", "SELD")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "phan2020_study")
    parser.add_argument("--clips", type=int, default=36)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--epochs", type=int, default=20, help="the same budget for every setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=HERE / "results.md")
    parser.add_argument("--figure", type=Path, default=ROOT / "figures" / "phan2020_loss_study.png")
    args = parser.parse_args()

    data_dir = args.work / "data"
    if not (data_dir / "synth_config.json").exists():
        synthesize_seld_dataset(
            data_dir, SeldSynthConfig(num_clips=args.clips, duration=args.duration, seed=args.seed), progress=False
        )
    cache_dir = args.work / "features_foa"
    results, histories, sed_losses, minutes = {}, {}, {}, {}
    for label, recipe_path in SETTINGS.items():
        recipe = load_recipe(recipe_path).replace(training={"epochs": args.epochs, "seed": args.seed})
        run_dir = args.work / recipe.name
        start = time.perf_counter()
        if not RunFolder(run_dir).finished:
            train(recipe, data_dir, run_dir, cache_dir=cache_dir, verbose=2, progress=False)
        minutes[label] = (time.perf_counter() - start) / 60
        results[label] = {
            split: evaluate_run(run_dir, data_dir, split, cache_dir=cache_dir, progress=False, log=lambda *_: None)
            for split in ("validation", "test")
        }
        histories[label] = load_history(run_dir)
        sed_losses[label] = recipe.loss.sed
        print(label, json.dumps(results[label]), flush=True)

    save_figure(
        plot_loss_study(histories, sed_losses=sed_losses, title="Loss study on synthetic FOA scenes (CPU size)"), args.figure
    )
    write_table(args, results, minutes)


def write_table(args, results: dict, minutes: dict) -> None:
    lines = [
        "# Phan et al. (2020) loss study on the built-in synthetic data",
        "",
        "Made by `.venv/bin/python experiments/phan2020/run_study.py"
        f" --epochs {args.epochs}` (dataset: {args.clips} synthetic FOA clips x {args.duration:g} s, seed {args.seed};"
        " train folds 3-6, validation fold 2, test fold 1; CPU-size recipes in `experiments/phan2020/cpu/`"
        f" and `experiments/dcase2020_baseline/foa_cpu.yaml`, {args.epochs} epochs each, best snapshot by validation"
        " SELD score, DCASE2020 metric). Figure: `figures/phan2020_loss_study.png`.",
        "",
        "| setting | split | " + " | ".join(f"{c}" for c in ("LE_CD", "LR_CD", "ER_20", "F_20", "SELD")) + " | train time (min) |",
        "|---|---|" + "---|" * (len(COLUMNS) + 1),
    ]
    for label, splits in results.items():
        for split, scores in splits.items():
            values = " | ".join(f"{scores[c]:.2f}" if c == "LE" else f"{scores[c]:.3f}" for c in COLUMNS)
            lines.append(f"| {label} | {split} | {values} | {minutes[label]:.1f} |")
    args.results.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
