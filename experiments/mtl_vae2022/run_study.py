"""Giannakopoulos & Pikrakis (2022) MTL-VAE study on the built-in synthetic DESED data, on CPU.

On one CPU-size synthetic dataset in the exact DESED layout (`seld-tf synth
desed --size cpu`: a "synthetic" domain for the strong synthetic subset, a
"real" domain for weak, unlabeled, AudioSet-strong, validation and public
eval), trains once per training seed the CPU-size recipes of
`experiments/mtl_vae2022/cpu/`:

    Fig. 2: the task combinations S_syn, S_syn + W, S_syn + W + U,
        S_syn + W + U + S_real (all four) and S_real alone, variational encoder;
    Fig. 3: the deterministic encoder on all four tasks (the variational one
        is the Fig. 2 all-tasks runs, not trained twice);
    beyond the paper, the DCASE2022 baseline CRNN with its mean teacher
        (`experiments/dcase2022_baseline/cpu/crnn_mean_teacher.yaml`, its
        best snapshot kept by its objective with the same validation set as
        the others: the intersection F1 there plus the weak F1 of the 10 % of
        weak clips it holds out), so that the comparison with the baseline is run;

scores each best snapshot (highest validation frame macro-F1, as the
authors' code keeps it) on the validation and public evaluation sets, and
writes

    experiments/mtl_vae2022/results.md           Fig. 2 and Fig. 3 shapes (mean ± std, the paper's numbers beside),
                                                 PSDS1/PSDS2/intersection F1 beside the published DCASE2022 baseline
    figures/mtl_vae2022_loss_curves.png          every loss term and the validation event F1 per epoch (first seed)
    figures/mtl_vae2022_strong_predictions.png   one validation clip's strong predictions against its reference

Run from the repository root:

    .venv/bin/python experiments/mtl_vae2022/run_study.py [--seeds 0 1 2] [--epochs N] [--work runs/mtl_vae2022_study]

`--settings` runs some settings only (e.g. a smoke test: `--settings
fig2_ssyn --seeds 0 --epochs 1`); `--epochs` replaces the recipes' epoch
count and renames the runs (`<recipe>_e<N>`), so a short run is never taken
for a full one. A finished run (WORK/<recipe name>/seed<k>) is not retrained
(delete it to redo it); an interrupted one resumes (`seld_tf.studies.multiseed`).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from seld_tf.datasets.desed import CLASS_NAMES
from seld_tf.datasets.synth.desed import DesedSynthConfig, synthesize_desed_dataset
from seld_tf.plotting import plot_loss_terms, plot_strong_predictions, save_figure
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
CPU = HERE / "cpu"
SSYN, SSYN_W, SSYN_W_U, ALL_TASKS, SREAL = "S_syn", "S_syn + W", "S_syn + W + U", "S_syn + W + U + S_real", "S_real"
DETERMINISTIC, VARIATIONAL = "Deterministic", "Variational"
MEAN_TEACHER = "DCASE2022 baseline CRNN + mean teacher"
# Setting name (recipe stem) -> label, in table order.
SETTINGS = {
    "fig2_ssyn": SSYN,
    "fig2_ssyn_w": SSYN_W,
    "fig2_ssyn_w_u": SSYN_W_U,
    "fig2_ssyn_w_u_sreal": ALL_TASKS,
    "fig2_sreal": SREAL,
    "fig3_deterministic": DETERMINISTIC,
    "mean_teacher": MEAN_TEACHER,
}
# Settings whose recipe is not `cpu/<setting>.yaml`.
RECIPE_PATHS = {"mean_teacher": ROOT / "experiments" / "dcase2022_baseline" / "cpu" / "crnn_mean_teacher.yaml"}
FIG2 = (SSYN, SSYN_W, SSYN_W_U, ALL_TASKS, SREAL)
# Fig. 3 rows -> the setting whose runs they are.
FIG3 = {DETERMINISTIC: DETERMINISTIC, VARIATIONAL: ALL_TASKS}
# The paper's Fig. 2 and Fig. 3 (%): validation EB-F1, SB-F1, public eval EB-F1, SB-F1.
PAPER = {
    SSYN: (12.6, 31.4, 12.4, 38.0),
    SSYN_W: (11.0, 48.4, 11.2, 52.5),
    SSYN_W_U: (12.5, 50.9, 11.6, 54.4),
    ALL_TASKS: (32.5, 60.6, 31.8, 60.6),
    SREAL: (19.8, 41.8, 18.5, 37.6),
    DETERMINISTIC: (28.6, 59.1, 27.2, 59.7),
}
PAPER[VARIATIONAL] = PAPER[ALL_TASKS]
# DESED_task recipes/dcase2022_task4_baseline/README.md (validation = "dev-test"): params, PSDS1, PSDS2,
# intersection F1 (%), collar F1 (%, percentage of length 0.2).
PUBLISHED = {
    "DCASE2022 baseline CRNN + mean teacher": ("1,112,420", "0.336", "0.536", "64.1", "40.1"),
    "DCASE2022 baseline + AudioSet strong (--strong_real)": ("1,112,420", "0.351", "0.552", "64.3", "42.9"),
    "MTL-VAE (paper, all tasks)": ("4,868,746", "n/r", "n/r", "n/r", "32.5 (percentage of length 0.5?)"),
}
SPLITS = ("validation", "test")
SPLIT_NAMES = {"validation": "validation", "test": "public eval"}
# The paper's columns: event-based F1 at 50 % of length (the code's sed_eval default) and 1 s segment F1.
PAPER_KEYS = ("event_f1", "segment_f1")
DCASE_KEYS = ("psds1", "psds2", "intersection_f1", "event_f1_pol20")
# The strong predictions figure: these settings, on one validation clip.
CLIP_SETTINGS = (SSYN, SREAL, ALL_TASKS, DETERMINISTIC)


def study_recipe(stem: str, epochs: int | None):
    """The CPU recipe of a setting, scored on the DESED validation and public eval sets, with `epochs` (and
    a name saying so) when given."""
    recipe = load_recipe(RECIPE_PATHS.get(stem, CPU / f"{stem}.yaml"))
    if (recipe.data.validation, recipe.data.test) != ("validation", "public_eval"):
        # The baseline keeps its best snapshot on the synthetic validation set and tests on DESED's validation
        # set; here every setting keeps it on the validation set and is scored on both, with the tables' event
        # F1 settings (50 % of the length, and 20 % beside it). Its decoding stays its own.
        recipe = recipe.replace(
            data={"validation": "validation", "test": "public_eval"},
            evaluation={"percentage_of_length": 0.5, "extra_percentages_of_length": [0.2]},
        )
        recipe = dataclasses.replace(recipe, name=f"{recipe.name}_study")
    if epochs is None:
        return recipe
    recipe = recipe.replace(training={"epochs": epochs})
    return dataclasses.replace(recipe, name=f"{recipe.name}_e{epochs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "mtl_vae2022_study")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic dataset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every run (default: the recipes', 30)")
    parser.add_argument(
        "--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS), help="the settings to run (default: all seven)"
    )
    parser.add_argument("--results", type=Path, default=HERE / "results.md")
    parser.add_argument("--loss-figure", type=Path, default=ROOT / "figures" / "mtl_vae2022_loss_curves.png")
    parser.add_argument("--clip-figure", type=Path, default=ROOT / "figures" / "mtl_vae2022_strong_predictions.png")
    args = parser.parse_args()
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be >= 1")

    data_dir = args.work / "data"
    synthesize_unless_present(data_dir, DesedSynthConfig.preset("cpu", seed=args.data_seed), synthesize=synthesize_desed_dataset)
    recipes = {SETTINGS[stem]: study_recipe(stem, args.epochs) for stem in args.settings}
    # One feature cache per feature preset (the baseline's differs from the MTL-VAE's).
    caches = {label: args.work / "features" / recipe.data.features for label, recipe in recipes.items()}
    results = {
        label: run_seeds(recipe, args.seeds, data_dir, args.work, cache_dir=caches[label], splits=SPLITS)
        for label, recipe in recipes.items()
    }

    first = {label: runs[0].run_dir for label, runs in results.items() if label != MEAN_TEACHER}
    if first:
        save_figure(
            plot_loss_terms(
                {label: load_history(run_dir) for label, run_dir in first.items()},
                title=f"MTL-VAE loss terms, synthetic DESED, CPU size (seed {args.seeds[0]})",
            ),
            args.loss_figure,
        )
    shown = {label: first[label] for label in CLIP_SETTINGS if label in first} or first
    if shown:
        label = next(iter(shown))
        save_figure(clip_figure(recipes[label], shown, data_dir, caches[label]), args.clip_figure)
    write_markdown(args.results, results_lines(args, recipes, results))


def clip_figure(recipe, run_dirs: dict, data_dir: Path, cache: Path):
    """The strong probabilities of each run in `run_dirs` (label -> run folder) on one validation clip, the one
    with the most reference events among those with the most classes, against its reference events."""
    from seld_tf.pipeline import predict_features
    from seld_tf.runs import load_run
    from seld_tf.tasks.desed_sed import DesedSedTask, decode_strong, label_rate

    task = DesedSedTask(recipe)
    task.prepare(data_dir, cache, progress=False, log=lambda *_: None)
    clips, references = task.clips("validation")
    index = max(range(len(clips)), key=lambda i: (len({label for *_, label in references[i]}), len(references[i]), -i))
    features = np.load(clips[index].feature_path)
    rate = label_rate(task.feature_config, task.frames_per_label)
    probabilities, detections = {}, {}
    for label, run_dir in run_dirs.items():
        run_recipe, _, model = load_run(run_dir)
        model = task.inference_model(model)
        outputs = predict_features(model, features, frames_per_label=task.frames_per_label, clip_outputs=("weak",))
        probabilities[label] = outputs["strong"]
        detections[label] = decode_strong(outputs["strong"], rate, run_recipe.evaluation)
    evaluation = recipe.evaluation
    return plot_strong_predictions(
        probabilities,
        references[index],
        class_names=CLASS_NAMES,
        frame_rate=rate,
        detections=detections,
        title=(
            f"Validation clip {clips[index].name}: best snapshots (first seed); white: events after the median filter"
            f" ({evaluation.median_filter} frames) and threshold {evaluation.threshold}"
        ),
    )


def _percent(samples: list[dict], key: str) -> str:
    return mean_std_cells([{key: 100 * sample[key]} for sample in samples], {key: ".1f"})[0]


def _cell(samples: list[dict], key: str) -> str:
    if key.startswith("psds"):
        return mean_std_cells(samples, {key: ".3f"})[0]
    return _percent(samples, key)


def results_lines(args, recipes: dict, results: dict) -> list[str]:
    """The lines of results.md; `results`: label -> its `SeedResult`s."""
    from seld_tf.features import get_preset
    from seld_tf.models.registry import build_model
    from seld_tf.tasks.desed_sed import DesedSedTask

    samples = {label: {split: [run.sample(split) for run in runs] for split in SPLITS} for label, runs in results.items()}
    epochs = {label: recipe.training.epochs for label, recipe in recipes.items()}

    def paper_row(label: str, setting: str) -> list[str]:
        ours = [_percent(samples[setting][split], key) for split in SPLITS for key in PAPER_KEYS]
        paper = " / ".join(f"{value:.1f}" for value in PAPER[label])
        return [label, *ours, paper, mean_std_cells(samples[setting]["validation"], {"minutes": ".1f"})[0]]

    paper_header = [
        "tasks", "val EB-F1", "val SB-F1", "pub EB-F1", "pub SB-F1", "paper (val EB / SB, pub EB / SB)", "train time (min)",
    ]  # fmt: skip
    fig2_rows = [paper_row(label, label) for label in FIG2 if label in results]
    fig3_rows = [paper_row(label, setting) for label, setting in FIG3.items() if setting in results]

    dcase_rows = []
    for label, recipe in recipes.items():
        task = DesedSedTask(recipe)
        features = get_preset(recipe.data.features, **recipe.data.feature_overrides).n_mels
        model = build_model(recipe.model.name, recipe.model.preset, input_shape=(None, features, 1), **{**task.model_args(), **recipe.model.args})
        cells = [_cell(samples[label][split], key) for split in SPLITS for key in DCASE_KEYS]
        dcase_rows.append([label, f"{model.count_params():,}", *cells])
    published_rows = [[f"{name} (published)", params, *values, *(["-"] * len(DCASE_KEYS))] for name, (params, *values) in PUBLISHED.items()]

    extra_rows = []
    for label in results:
        cells = [_percent(samples[label][split], key) for split in SPLITS for key in ("frame_f1", "event_f1_micro", "segment_f1_micro")]
        extra_rows.append([label, *cells])

    lines = [
        "# Giannakopoulos & Pikrakis (2022) MTL-VAE study on the built-in synthetic DESED data",
        "",
        f"Made by `{study_command(__file__, ROOT)}`. Dataset: `seld-tf synth desed --size cpu --seed {args.data_seed}`"
        " (the exact DESED layout at CPU size: 240 synthetic strong, 120 weak, 480 unlabeled, 60 AudioSet-strong,"
        " 100 validation and 100 public-eval clips; the strong synthetic subset in a dry \"synthetic\" domain, every"
        " other subset in a reverberant, band-limited \"real\" domain, spec `mtl_vae.md` §7). Recipes:"
        " `experiments/mtl_vae2022/cpu/` (the \"cpu\" network, 64 mels at 40 ms, 16 clips per subset per step,"
        f" Adam 2e-3, {', '.join(sorted({f'{n} epochs' for n in epochs.values()}))}; an epoch is one pass of the"
        " strong training subset: 15 steps, 3 for S_real alone, the paper's 313 : 108 ratio). Loss: Eq. (1), each"
        " term the sum of its subsets' means, beta = 1 with the analytic KL. Best snapshot by the validation frame"
        " macro-F1 at 0.5, as the authors' code keeps it: the validation columns are therefore optimistic, the"
        " public-eval ones are the clean numbers. Decoding as the code: median filter of 11 frames (440 ms) on the"
        " probabilities, threshold 0.51. EB-F1: sed_eval event-based macro F1, collar 0.2 s, 50 % of length (the"
        " code's setting); SB-F1: 1 s segment-based macro F1; all files of each set."
        f" {describe_seeds(args.seeds)}. Paper columns: the paper's single numbers on the real DESED data, for the"
        " shape of the comparison, not as a target.",
        "",
        "## Fig. 2 shape: which tasks (variational encoder), %",
        "",
        *markdown_table(paper_header, fig2_rows),
        "",
        "## Fig. 3 shape: encoder type (all four tasks), %",
        "",
        "The variational row is the Fig. 2 all-tasks runs.",
        "",
        *markdown_table(["encoder", *paper_header[1:]], fig3_rows),
        "",
        "## DCASE metrics beside the published DCASE2022 baseline",
        "",
        "PSDS1, PSDS2 (psds_eval 0.5.3 definitions, 50 operating points 0.01 ... 0.99, each decoded with the"
        " median filter), intersection F1 (dtc = gtc = 0.5, cttc = 0.3) of the decoded events, and the collar"
        " event F1 at 20 % of length (DCASE). Published rows: real DESED validation (dev-test), DESED_task"
        " `recipes/dcase2022_task4_baseline/README.md`; ours are synthetic data, CPU-size networks: the rows show"
        " the metrics side by side, not a comparison of systems. The mean-teacher row, where run, is the CPU-size"
        " baseline (`experiments/dcase2022_baseline/cpu/crnn_mean_teacher.yaml`: its features, batches, mixup,"
        " ramp-ups, weak split and decoding) trained on the same data, its best snapshot kept by its objective,"
        " the intersection F1 on the validation set plus the weak F1 of its 12 held-out weak clips (the baseline"
        " takes the intersection F1 on its synthetic validation set): that comparison is run.",
        "",
        *markdown_table(
            [
                "system", "params", *(f"{SPLIT_NAMES[split]} {name}" for split in SPLITS
                for name in ("PSDS1", "PSDS2", "inters. F1 (%)", "EB-F1 pct 0.2 (%)")),
            ],
            [*dcase_rows, *published_rows],
        ),  # fmt: skip
        "",
        "## Other scores (%)",
        "",
        "Frame F1: the checkpoint metric (frame macro F1 of the undecoded probabilities at 0.5, all frames pooled);"
        " micro averages of the event (50 % of length) and segment F1.",
        "",
        *markdown_table(
            ["tasks", *(f"{SPLIT_NAMES[split]} {name}" for split in SPLITS for name in ("frame F1", "EB-F1 micro", "SB-F1 micro"))],
            extra_rows,
        ),
        "",
        "## The paper's claims, on these runs (reported, never asserted)",
        "",
        *claims(samples),
        "",
        f"Figures: `{shown_path(args.loss_figure, ROOT)}` (every loss term, training solid and validation dashed,"
        f" and the validation event F1, per epoch, first seed), `{shown_path(args.clip_figure, ROOT)}` (one"
        " validation clip's strong probabilities against its reference events).",
    ]
    return lines


def claims(samples: dict) -> list[str]:
    """One line per claim of the paper whose settings were run: the mean scores compared."""

    def mean(label: str, split: str, key: str) -> float:
        return 100 * float(np.mean([sample[key] for sample in samples[label][split]]))

    checks = [
        ("all tasks beat S_syn alone on EB-F1", ALL_TASKS, SSYN, "event_f1"),
        ("adding W raises SB-F1", SSYN_W, SSYN, "segment_f1"),
        ("adding U raises SB-F1", SSYN_W_U, SSYN_W, "segment_f1"),
        ("adding S_real raises EB-F1 (the jump)", ALL_TASKS, SSYN_W_U, "event_f1"),
        ("all tasks beat S_real alone on EB-F1", ALL_TASKS, SREAL, "event_f1"),
        ("the variational encoder beats the deterministic one on EB-F1", ALL_TASKS, DETERMINISTIC, "event_f1"),
        ("the variational encoder beats the deterministic one on SB-F1", ALL_TASKS, DETERMINISTIC, "segment_f1"),
    ]
    lines = []
    for text, better, worse, key in checks:
        if better not in samples or worse not in samples:
            continue
        cells = []
        for split in SPLITS:
            high, low = mean(better, split, key), mean(worse, split, key)
            cells.append(f"{SPLIT_NAMES[split]} {high:.1f} vs {low:.1f} ({'holds' if high > low else 'does not hold'})")
        lines.append(f"- {text}: {'; '.join(cells)}.")
    return lines or ["- (no pair of settings run)"]


if __name__ == "__main__":
    main()
