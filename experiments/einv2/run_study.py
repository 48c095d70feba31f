"""EINV2 (Cao et al. 2021) study on the built-in synthetic FOA scenes, on CPU.

On one synthetic dataset, with the same epoch budget for every setting and
once per training seed, trains the CPU-size recipes of `experiments/einv2/cpu/`:

    (a) the trackwise output without PIT, with chunk-level PIT (cPIT) and with
        frame-level PIT (tPIT), all with soft parameter sharing (Table 2, Fig. 3);
    (b) no, hard and soft parameter sharing, trackwise with tPIT (Table 3; the
        soft one is the tPIT run of (a), i.e. EINV2);
    (c) soft sharing with the SELDnet (class-wise) output format (Table 3);
    (d) beyond the paper, soft sharing with the ACCDOA and the multi-ACCDOA
        (3 tracks, ADPIT) output formats;
    (e) the implementation check of soft sharing: EINV2 configured as the
        released code (sequential cross-stitch, none after the MHSA stacks, no
        positional encoding), beside the paper's configuration (a), and the
        paper's configuration with each one of the code's three choices;
    (f) EINV2 trained in mixed bfloat16 precision, paired with (a);

scores each best snapshot on the validation and test folds, evaluates the
trackwise tPIT, the class-wise and the multi-ACCDOA model on a
homogeneous-overlap test set (`seld_tf.studies.homogeneous`), and writes

    experiments/einv2/results.md             the Table-3-style and homogeneous-overlap tables (mean ± std over the
                                              seeds), paired per-seed differences, the learned cross-stitch weights
    figures/einv2_pit_convergence.png         the Figure-3-style DOA error convergence (mean over the seeds, std band)

Run from the repository root:

    .venv/bin/python experiments/einv2/run_study.py [--epochs N] [--seeds 0 1 2 3 4] [--work runs/einv2_study]
        [--settings soft_trackwise_tpit none_trackwise_tpit ...]   (recipe names in cpu/; default: all)

A finished run (WORK/<recipe name>/seed<k>) is not retrained (delete it to
redo it); an interrupted one resumes (`seld_tf.studies.multiseed`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seld_tf.datasets.synth.seld import SeldSynthConfig
from seld_tf.plotting import plot_doa_error_convergence, save_figure
from seld_tf.recipes import load_recipe
from seld_tf.layers.cross_stitch import cross_stitch_summary
from seld_tf.runs import load_history, load_run
from seld_tf.studies.homogeneous import evaluate_homogeneous, synthesize_homogeneous_test_set
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
EINV2 = "Soft-PS, trackwise, tPIT (EINV2)"
EINV2_CODE = "Soft-PS as the released code, trackwise, tPIT"
# The paper's Soft-PS with one of the released code's three choices: which one makes the difference.
ONE_CODE_CHOICE = {
    "order": "Soft-PS, sequential cross-stitch only",
    "mhsa": "Soft-PS, no MHSA cross-stitch only",
    "pe": "Soft-PS, no positional encoding only",
}
BF16 = "EINV2, mixed bfloat16"
NO_PS = "No-PS, trackwise, tPIT"
CPIT, NOPIT = "Soft-PS, trackwise, cPIT", "Soft-PS, trackwise, noPIT"
CLASSWISE = "Soft-PS, SELDnet format"
MULTI_ACCDOA = "Soft-PS, multi-ACCDOA"
SETTINGS = {
    EINV2: HERE / "cpu" / "soft_trackwise_tpit.yaml",
    CPIT: HERE / "cpu" / "soft_trackwise_cpit.yaml",
    NOPIT: HERE / "cpu" / "soft_trackwise_nopit.yaml",
    NO_PS: HERE / "cpu" / "none_trackwise_tpit.yaml",
    "Hard-PS, trackwise, tPIT": HERE / "cpu" / "hard_trackwise_tpit.yaml",
    EINV2_CODE: HERE / "cpu" / "soft_trackwise_tpit_code.yaml",
    **{label: HERE / "cpu" / f"soft_trackwise_tpit_code_{one}.yaml" for one, label in ONE_CODE_CHOICE.items()},
    CLASSWISE: HERE / "cpu" / "soft_classwise.yaml",
    "Soft-PS, ACCDOA": HERE / "cpu" / "soft_accdoa.yaml",
    MULTI_ACCDOA: HERE / "cpu" / "soft_multi_accdoa.yaml",
    BF16: HERE / "cpu" / "soft_trackwise_tpit_bf16.yaml",
}
# Figure 3: legend label -> setting.
CONVERGENCE = {"noPIT": NOPIT, "cPIT": CPIT, "tPIT": EINV2}
# Paired per-seed differences (test fold), each shown when both settings ran.
PAIRS = (
    (NO_PS, EINV2),
    (EINV2_CODE, EINV2),
    *((label, EINV2) for label in ONE_CODE_CHOICE.values()),
    (EINV2, CPIT),
    (EINV2, NOPIT),
    (EINV2, CLASSWISE),
    (BF16, EINV2),
)
PAIRED_KEYS = ("F", "ER", "LE", "SELD")
# Table 3 of the paper (DCASE2020 evaluation set, 100 epochs at paper size; EINV2: mean ± std of five trials),
# ER_20 / F_20 / LE_CD / LR_CD, for the settings with a counterpart there.
PAPER_TABLE3 = {
    EINV2: "0.291 / 78.0 % / 8.8 / 83.9 %",
    NO_PS: "0.340 / 73.7 % / 11.9 / 83.8 %",
    "Hard-PS, trackwise, tPIT": "0.339 / 73.9 % / 10.4 / 81.3 %",
    CLASSWISE: "0.350 / 72.1 % / 13.1 / 83.8 %",
}
# The same sharing with the output formats that differ on same-class overlaps, on the homogeneous-overlap set.
HOMOGENEOUS = (EINV2, CLASSWISE, MULTI_ACCDOA)
# (score, header, cell format): Table 3's order, then the SELD score.
COLUMNS = (
    ("ER", "ER_20", ".3f"),
    ("F", "F_20", ".3f"),
    ("LE", "LE_CD", ".2f"),
    ("LR", "LR_CD", ".3f"),
    ("SELD", "SELD", ".3f"),
)
SPLITS = ("validation", "test")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "einv2_study")
    parser.add_argument("--clips", type=int, default=36)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--homogeneous-clips", type=int, default=6, help="clips of the homogeneous-overlap test set")
    parser.add_argument("--epochs", type=int, default=20, help="the same budget for every setting")
    parser.add_argument("--seed", type=int, default=0, help="the dataset's seed, and the training seed without --seeds")
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds: one run of every setting per seed")
    parser.add_argument("--results", type=Path, default=HERE / "results.md")
    parser.add_argument("--figure", type=Path, default=ROOT / "figures" / "einv2_pit_convergence.png")
    parser.add_argument(
        "--settings", nargs="+", choices=[path.stem for path in SETTINGS.values()], help="a subset of the settings (recipe names)"
    )
    args = parser.parse_args()
    seeds = args.seeds or [args.seed]
    settings = {label: path for label, path in SETTINGS.items() if not args.settings or path.stem in args.settings}

    data_dir, homogeneous_dir = args.work / "data", args.work / "homogeneous"
    synthesize_unless_present(data_dir, SeldSynthConfig(num_clips=args.clips, duration=args.duration, seed=args.seed))
    # Another seed: scenes and rooms that no model has trained on.
    synthesize_unless_present(
        homogeneous_dir,
        SeldSynthConfig(num_clips=args.homogeneous_clips, duration=args.duration, seed=args.seed + 1),
        synthesize=synthesize_homogeneous_test_set,
    )

    results = {}
    for label, recipe_path in settings.items():
        recipe = load_recipe(recipe_path).replace(
            # The paper's schedule shape at any budget: x0.1 for the last tenth of the epochs.
            schedule={"decay_epochs": [round(0.9 * args.epochs)]},
            training={"epochs": args.epochs},
        )
        results[label] = run_seeds(recipe, seeds, data_dir, args.work, cache_dir=args.work / "features_foa", splits=SPLITS)

    if set(CONVERGENCE.values()) <= set(results):
        histories = {legend: [load_history(run.run_dir) for run in results[label]] for legend, label in CONVERGENCE.items()}
        title = "DOA error of the trackwise output on synthetic FOA scenes (CPU size)"
        save_figure(plot_doa_error_convergence(histories, title=title), args.figure)
    else:
        args.figure = None
    homogeneous = {
        label: [
            evaluate_homogeneous(run.run_dir, homogeneous_dir, cache_dir=args.work / "features_homogeneous")
            for run in results[label]
        ]
        for label in HOMOGENEOUS
        if label in results
    }
    write_markdown(args.results, results_lines(args, seeds, results, homogeneous))


def stitch_rows(results: dict) -> list[list[str]]:
    """Per soft-sharing setting and cross-stitch, the learned self and cross weights of the best
    snapshots (mean ± std over the seeds; each starts uniform in [0.1, 0.9], mean 0.5)."""
    rows = []
    for label, runs in results.items():
        summaries = [cross_stitch_summary(load_run(run.run_dir)[2]) for run in runs]
        for index, stitch in enumerate(summaries[0]):
            weights = aggregate([summary[index] for summary in summaries], ("self", "cross"))
            rows.append([label, stitch["name"], stitch["order"], weights["self"].format(".3f"), weights["cross"].format(".3f")])
    return rows


def results_lines(args, seeds: list[int], results: dict, homogeneous: dict) -> list[str]:
    """The lines of results.md.

    `results`: setting label -> its `SeedResult`s; `homogeneous`: setting
    label -> one `evaluate_homogeneous` result per seed.
    """
    formats = {key: spec for key, _, spec in COLUMNS}
    headers = [name for _, name, _ in COLUMNS]
    rows = [
        [
            label,
            split,
            *mean_std_cells([run.sample(split) for run in runs], {**formats, "minutes": ".1f"}),
            PAPER_TABLE3.get(label, "") if split == "test" else "",
        ]
        for label, runs in results.items()
        for split in SPLITS
    ]
    homogeneous_rows = []
    for label, trials in homogeneous.items():
        counts = aggregate(
            [counts.to_dict() for _, counts in trials], ("detected", "localized", "detected_fraction", "localized_fraction")
        )
        homogeneous_rows.append(
            [
                label,
                # The cells are the reference's: the same for every seed.
                str(trials[0][1].cells),
                _count(counts["detected"], counts["detected_fraction"]),
                _count(counts["localized"], counts["localized_fraction"]),
                *mean_std_cells([scores for scores, _ in trials], formats),
            ]
        )
    paired_rows = []
    for minuend, subtrahend in PAIRS:
        if not {minuend, subtrahend} <= set(results):
            continue
        differences = paired_differences(results[minuend], results[subtrahend], "test", PAIRED_KEYS)
        spread = aggregate(list(differences.values()), PAIRED_KEYS)
        for seed, row in differences.items():
            paired_rows.append([f"{minuend} - {subtrahend}", f"seed {seed}", *(f"{row[key]:+.3f}" for key in PAIRED_KEYS)])
        paired_rows.append([f"{minuend} - {subtrahend}", "mean ± std", *(spread[key].format("+.3f") for key in PAIRED_KEYS)])
    soft = {label: runs for label, runs in results.items() if label in (EINV2, EINV2_CODE, *ONE_CODE_CHOICE.values())}
    figure = (
        f" Figure 3 analogue: `{shown_path(args.figure, ROOT)}`." if args.figure else " No figure: the PIT settings did not all run."
    )
    missing = [label for label in SETTINGS if label not in results]
    return [
        "# EINV2 (Cao et al. 2021) study on the built-in synthetic data",
        "",
        f"Made by `{study_command(__file__, ROOT)}` (dataset: {args.clips} synthetic FOA clips x {args.duration:g} s,"
        f" seed {args.seed}; train folds 3-6, validation fold 2, test fold 1; CPU-size recipes in"
        f" `experiments/einv2/cpu/`, {args.epochs} epochs each, learning rate x0.1 after epoch"
        f" {round(0.9 * args.epochs)}, best snapshot by validation SELD score, DCASE2020 metric).{figure}"
        f" {describe_seeds(seeds, figure='mean')}. The paper averages five."
        + (f" Not run this time: {'; '.join(missing)}." if missing else ""),
        "",
        "## Output formats, PIT and parameter sharing (Table 3 style)",
        "",
        "The last column is the paper's Table 3 row of the same setting (evaluation set, paper size, 100 epochs):"
        " ER_20 / F_20 / LE_CD / LR_CD.",
        "",
        *markdown_table(["setting", "split", *headers, "train time (min)", "paper (Table 3)"], rows),
        "",
        "## Paired differences on the test fold (same training seed)",
        "",
        *markdown_table(["difference", "seed", *PAIRED_KEYS], paired_rows),
        "",
        "## Learned cross-stitch weights (best snapshots)",
        "",
        "Per cross-stitch, the channel mean of the weight of each stream on itself (self) and on the other (cross),"
        " mean ± std over the seeds; both start at 0.5 on average (uniform in [0.1, 0.9]). Sequential: the released"
        " code's order, which mixes the already-updated SED stream into the DOA stream.",
        "",
        *markdown_table(["setting", "cross-stitch", "order", "self", "cross"], stitch_rows(soft)),
        "",
        "## Homogeneous overlaps",
        "",
        f"A separate test set: {args.homogeneous_clips} clips x {args.duration:g} s (seed {args.seed + 1}), every"
        " clip with two voices, every event that overlaps another of the class it overlaps"
        " (`seld_tf.studies.homogeneous`). Cells: (frame, class) pairs where the reference holds two events of the"
        " class. Detected: the prediction holds two events of the class there; localized: both also within"
        " 20 degrees of the references under the best pairing. A class-wise output holds one event per class and"
        " frame, so it detects none by construction.",
        "",
        *markdown_table(
            ["model", "cells", "both detected", "both detected and within 20 deg", *headers], homogeneous_rows
        ),
    ]


def _count(count: MeanStd, fraction: MeanStd) -> str:
    """A cell count and its fraction of the cells, e.g. "127 (8.4%)"."""
    percent = MeanStd(100 * fraction.mean, 100 * fraction.std)
    return f"{count.format('.0f')} ({percent.format('.1f')}%)"


if __name__ == "__main__":
    main()
