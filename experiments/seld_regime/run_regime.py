"""Which CPU-size SELD training regime learns on the built-in synthetic FOA scenes.

The SELD studies (`experiments/phan2020`, `experiments/einv2`) need a budget in
which their models detect, or no comparison between them means anything. This
script trains each candidate (a recipe with a few overrides, on a
dataset of a given size) once per seed for the same 40 epochs, scores the best snapshot on
the validation and test folds, and writes

    experiments/seld_regime/results.md     one row per candidate: DCASE2020 scores and training minutes,
                                            and how well a linear classifier tags the frames (are the classes learnable?)

Run from the repository root:

    .venv/bin/python experiments/seld_regime/run_regime.py [--work runs/seld_regime]

A finished run (WORK/<candidate>/seed<k>) is not retrained (`seld_tf.studies.multiseed`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds of every candidate")
    parser.add_argument(
        "--more-seeds", nargs="*", default=[], metavar="CANDIDATE=SEED,...", help="extra seeds of some candidates"
    )
    args = parser.parse_args()
    extra = {name: [int(seed) for seed in seeds.split(",")] for name, seeds in (item.split("=") for item in args.more_seeds)}

    rows = []
    for name, (description, recipe_path, overrides, dataset) in CANDIDATES.items():
        data_dir = args.work / "data" / dataset.split(",")[0].replace(" ", "_")
        synthesize_unless_present(data_dir, SeldSynthConfig(seed=0, **DATASETS[dataset]))
        recipe = load_recipe(recipe_path)
        recipe = recipe.replace(**overrides, training={"epochs": EPOCHS})
        seeds = sorted({*args.seeds, *extra.get(name, [])})
        results = run_seeds(
            _renamed(recipe, name), seeds, data_dir, args.work, cache_dir=data_dir.parent / f"features_{data_dir.name}"
        )
        test = mean_std_cells([result.sample("test") for result in results], FORMATS)
        validation = mean_std_cells([result.sample("validation") for result in results], {"F": ".3f", "minutes": ".1f"})
        rows.append([description, dataset, str(len(seeds)), *test, *validation])
    probe_data = args.work / "data" / "36_clips"
    probe = linear_probe_f1(probe_data, probe_data.parent / "features_36_clips")
    write_markdown(
        args.results,
        [
            "# CPU-size SELD training regimes on the built-in synthetic FOA scenes",
            "",
            f"Made by `{study_command(__file__, ROOT)}`: the seeds column says how many training seeds each row"
            " averages (cells: mean ± sample std when more than one; a single seed shows its value only, and"
            f" decides nothing on its own), {EPOCHS} epochs each (batch 8,"
            " 6 s windows), best snapshot by validation SELD score, DCASE2020 metric on the test fold (fold 1, unseen"
            " rooms). Datasets: synthetic FOA, 60 s clips, seed 0; train folds 3-6, validation fold 2. Minutes on"
            " 2 CPU cores shared with other jobs (compare them within this table only). The silent predictor scores"
            " F 0, ER 1, LE 180, LR 0, SELD 1. What the rows show: `docs/synthetic_data.md`, \"SELD training regime\".",
            "",
            *markdown_table(["candidate", "data", "seeds", "test F_20", "ER_20", "LE_CD", "LR_CD", "SELD", "validation F_20", "minutes"], rows),
            "",
            "Are the classes learnable from the training folds? One logistic regression per class on the"
            " omnidirectional log-mel of each label frame (no spatial features, no context), 36-clip data, test fold:"
            f" frame F1 {probe[0]:.3f} (micro), {probe[1]:.3f} (macro).",
        ],
    )


def linear_probe_f1(data_dir: Path, cache_dir: Path) -> tuple[float, float]:
    """Test-fold frame F1 (micro, macro) of one logistic regression per class on the omnidirectional
    log-mel of each 100 ms label frame (the mean of its feature frames), trained on folds 3-6: a
    floor for what any SELD model's SED branch should reach."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier

    from seld_tf.datasets.dcase2020_seld import CLASS_NAMES, Dcase2020Dataset

    from seld_tf.features import get_preset
    from seld_tf.tasks.seld import frames_per_label

    per_label = frames_per_label(get_preset("dcase2020"))
    dataset = Dcase2020Dataset(data_dir, "foa")
    frames, labels = {}, {}
    for clip in dataset.clips():
        features = np.load(cache_dir / f"{clip.name}.npy")
        events = dataset.read_events(clip, features.shape[0] // per_label)
        count = events.num_frames
        logmel = features[: count * per_label, :, 0].reshape(count, per_label, -1).mean(axis=1)
        activity = np.zeros((count, len(CLASS_NAMES)))
        activity[events.frame, events.cls] = 1
        frames.setdefault(clip.fold, []).append(logmel)
        labels.setdefault(clip.fold, []).append(activity)
    train = [fold for fold in frames if fold >= 3]
    x_train = np.concatenate([x for fold in train for x in frames[fold]])
    y_train = np.concatenate([y for fold in train for y in labels[fold]])
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    classifier = OneVsRestClassifier(LogisticRegression(max_iter=300)).fit((x_train - mean) / std, y_train)
    predicted = classifier.predict_proba((np.concatenate(frames[1]) - mean) / std) > 0.5
    reference = np.concatenate(labels[1])
    return (
        float(f1_score(reference, predicted, average="micro")),
        float(f1_score(reference, predicted, average="macro", zero_division=0)),
    )


def _renamed(recipe, name: str):
    """The recipe under the candidate's name: its run folders are WORK/<name>/seed<k>."""
    from seld_tf.recipes import recipe_from_dict

    return recipe_from_dict({**recipe.to_dict(), "name": name})


if __name__ == "__main__":
    main()
