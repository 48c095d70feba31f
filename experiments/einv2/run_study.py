"""EINV2 (Cao et al. 2021) study on the built-in synthetic FOA scenes, on CPU.

On one synthetic dataset, with the same seed and epoch budget for every
setting, trains the CPU-size recipes of `experiments/einv2/cpu/`:

    (a) the trackwise output without PIT, with chunk-level PIT (cPIT) and with
        frame-level PIT (tPIT), all with soft parameter sharing (Table 2, Fig. 3);
    (b) no, hard and soft parameter sharing, trackwise with tPIT (Table 3; the
        soft one is the tPIT run of (a), i.e. EINV2);
    (c) soft sharing with the SELDnet (class-wise) output format (Table 3);

scores each best snapshot on the validation and test folds, evaluates the
trackwise tPIT and the class-wise model on a homogeneous-overlap test set
(`seld_tf.homogeneous`), and writes

    experiments/einv2/results.md             the Table-3-style and homogeneous-overlap tables
    figures/einv2_pit_convergence.png         the Figure-3-style DOA error convergence

Run from the repository root:

    .venv/bin/python experiments/einv2/run_study.py [--epochs N] [--work runs/einv2_study]

A finished setting is not retrained (delete its run folder to redo it); an
interrupted one resumes.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from seld_tf.datasets.synth.seld import SeldSynthConfig, synthesize_seld_dataset
from seld_tf.fileio import write_json
from seld_tf.homogeneous import evaluate_homogeneous, synthesize_homogeneous_test_set
from seld_tf.plotting import plot_doa_error_convergence, save_figure
from seld_tf.recipes import load_recipe
from seld_tf.runs import RunFolder
from seld_tf.training import evaluate_run, load_history, train

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EINV2 = "Soft-PS, trackwise, tPIT (EINV2)"
CLASSWISE = "Soft-PS, SELDnet format"
SETTINGS = {
    EINV2: HERE / "cpu" / "soft_trackwise_tpit.yaml",
    "Soft-PS, trackwise, cPIT": HERE / "cpu" / "soft_trackwise_cpit.yaml",
    "Soft-PS, trackwise, noPIT": HERE / "cpu" / "soft_trackwise_nopit.yaml",
    "No-PS, trackwise, tPIT": HERE / "cpu" / "none_trackwise_tpit.yaml",
    "Hard-PS, trackwise, tPIT": HERE / "cpu" / "hard_trackwise_tpit.yaml",
    CLASSWISE: HERE / "cpu" / "soft_classwise.yaml",
}
# Figure 3: legend label -> setting.
CONVERGENCE = {"noPIT": "Soft-PS, trackwise, noPIT", "cPIT": "Soft-PS, trackwise, cPIT", "tPIT": EINV2}
# The same sharing with either output format, on the homogeneous-overlap set.
HOMOGENEOUS = (EINV2, CLASSWISE)
# Table 3's order, then the SELD score.
COLUMNS = (("ER", "ER_20"), ("F", "F_20"), ("LE", "LE_CD"), ("LR", "LR_CD"), ("SELD", "SELD"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "einv2_study")
    parser.add_argument("--clips", type=int, default=36)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--homogeneous-clips", type=int, default=6, help="clips of the homogeneous-overlap test set")
    parser.add_argument("--epochs", type=int, default=20, help="the same budget for every setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=HERE / "results.md")
    parser.add_argument("--figure", type=Path, default=ROOT / "figures" / "einv2_pit_convergence.png")
    args = parser.parse_args()

    data_dir, homogeneous_dir = args.work / "data", args.work / "homogeneous"
    if not (data_dir / "synth_config.json").exists():
        synthesize_seld_dataset(
            data_dir, SeldSynthConfig(num_clips=args.clips, duration=args.duration, seed=args.seed), progress=False
        )
    if not (homogeneous_dir / "synth_config.json").exists():
        # Another seed: scenes and rooms that no model has trained on.
        config = SeldSynthConfig(num_clips=args.homogeneous_clips, duration=args.duration, seed=args.seed + 1)
        synthesize_homogeneous_test_set(homogeneous_dir, config)

    cache_dir = args.work / "features_foa"
    run_dirs, results, minutes = {}, {}, {}
    for label, recipe_path in SETTINGS.items():
        recipe = load_recipe(recipe_path).replace(
            # The paper's schedule shape at any budget: x0.1 for the last tenth of the epochs.
            schedule={"decay_epochs": [round(0.9 * args.epochs)]},
            training={"epochs": args.epochs, "seed": args.seed},
        )
        run_dirs[label] = args.work / recipe.name
        minutes[label] = train_once(recipe, data_dir, run_dirs[label], cache_dir)
        results[label] = {
            split: evaluate_run(run_dirs[label], data_dir, split, cache_dir=cache_dir, progress=False, log=lambda *_: None)
            for split in ("validation", "test")
        }
        print(label, json.dumps(results[label]), flush=True)

    histories = {legend: load_history(run_dirs[label]) for legend, label in CONVERGENCE.items()}
    title = "DOA error of the trackwise output on synthetic FOA scenes (CPU size)"
    save_figure(plot_doa_error_convergence(histories, title=title), args.figure)
    homogeneous = {
        label: evaluate_homogeneous(run_dirs[label], homogeneous_dir, cache_dir=args.work / "features_homogeneous")
        for label in HOMOGENEOUS
    }
    write_results(args, results, minutes, homogeneous)


def train_once(recipe, data_dir: Path, run_dir: Path, cache_dir: Path) -> float:
    """Train `recipe` unless its run is finished; its training minutes over the invocations that trained it."""
    record = run_dir / "study_minutes.json"
    minutes = json.loads(record.read_text())["minutes"] if record.exists() else 0.0
    if not RunFolder(run_dir).finished:
        start = time.perf_counter()
        train(recipe, data_dir, run_dir, cache_dir=cache_dir, verbose=2, progress=False)
        minutes += (time.perf_counter() - start) / 60
        write_json(record, {"minutes": minutes})
    return minutes


def _cells(scores: dict) -> str:
    return " | ".join(f"{scores[key]:.2f}" if key == "LE" else f"{scores[key]:.3f}" for key, _ in COLUMNS)


def write_results(args, results: dict, minutes: dict, homogeneous: dict) -> None:
    command = " ".join([".venv/bin/python experiments/einv2/run_study.py", shlex.join(sys.argv[1:])]).strip()
    headers = " | ".join(name for _, name in COLUMNS)
    lines = [
        "# EINV2 (Cao et al. 2021) study on the built-in synthetic data",
        "",
        f"Made by `{command}` (dataset: {args.clips} synthetic FOA clips x {args.duration:g} s, seed {args.seed};"
        " train folds 3-6, validation fold 2, test fold 1; CPU-size recipes in `experiments/einv2/cpu/`,"
        f" {args.epochs} epochs each, learning rate x0.1 after epoch {round(0.9 * args.epochs)}, best snapshot by"
        f" validation SELD score, DCASE2020 metric). Figure 3 analogue: `{_shown(args.figure)}`. One trial per"
        " setting (the paper averages five).",
        "",
        "## Output formats, PIT and parameter sharing (Table 3 style)",
        "",
        f"| setting | split | {headers} | train time (min) |",
        "|---|---|" + "---|" * (len(COLUMNS) + 1),
    ]
    for label, splits in results.items():
        for split, scores in splits.items():
            lines.append(f"| {label} | {split} | {_cells(scores)} | {minutes[label]:.1f} |")
    lines += [
        "",
        "## Homogeneous overlaps",
        "",
        f"A separate test set: {args.homogeneous_clips} clips x {args.duration:g} s (seed {args.seed + 1}), every"
        " clip with two voices, every event that overlaps another of the class it overlaps"
        " (`seld_tf.homogeneous`). Cells: (frame, class) pairs where the reference holds two events of the"
        " class. Detected: the prediction holds two events of the class there; localized: both also within"
        " 20 degrees of the references under the best pairing. A class-wise output holds one event per class and"
        " frame, so it detects none by construction.",
        "",
        f"| model | cells | both detected | both detected and within 20 deg | {headers} |",
        "|---|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for label, (scores, counts) in homogeneous.items():
        lines.append(
            f"| {label} | {counts.cells} | {counts.detected} ({counts.detected_fraction:.1%}) |"
            f" {counts.localized} ({counts.localized_fraction:.1%}) | {_cells(scores)} |"
        )
    args.results.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _shown(path: Path) -> str:
    """`path` relative to the repository root when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    main()
