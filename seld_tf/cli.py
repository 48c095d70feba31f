"""The `seld-tf` command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

from seld_tf.errors import SeldTfError

FORMATS = {"foa": ("foa",), "mic": ("mic",), "both": ("foa", "mic")}


def _folds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated fold numbers like 3,4,5,6, got {text!r}") from None


def _labels(text: str) -> list[str]:
    labels = [part.strip() for part in text.split(",") if part.strip()]
    if not labels:
        raise argparse.ArgumentTypeError(f"expected comma-separated labels like Dog,Cat, got {text!r}")
    return labels


def _epochs(text: str) -> int:
    if not (text.isdigit() and int(text) >= 1):
        raise argparse.ArgumentTypeError(f"expected a whole number of epochs >= 1, got {text!r}")
    return int(text)


def _synth_seld(args) -> dict:
    from seld_tf.datasets.synth.seld import SeldSynthConfig, synthesize_seld_dataset

    config = SeldSynthConfig(num_clips=args.clips, duration=args.duration, seed=args.seed)
    return synthesize_seld_dataset(args.out, config, formats=FORMATS[args.format], progress=not args.quiet)


def _synth_desed(args) -> dict:
    from seld_tf.datasets.synth.desed import DesedSynthConfig, synthesize_desed_dataset

    return synthesize_desed_dataset(args.out, DesedSynthConfig.preset(args.size, seed=args.seed), progress=not args.quiet)


def _synth_weakmix(args) -> dict:
    from seld_tf.datasets.synth.weakmix import WeakmixSynthConfig, synthesize_weakmix_dataset

    return synthesize_weakmix_dataset(args.out, WeakmixSynthConfig.preset(args.size, seed=args.seed), progress=not args.quiet)


def _synth_tut(args) -> dict:
    from seld_tf.datasets.synth.tut import TutSynthConfig, synthesize_tut_dataset

    return synthesize_tut_dataset(args.out, TutSynthConfig.preset(args.size, seed=args.seed), progress=not args.quiet)


def cmd_synth(args) -> int:
    summary = {"seld": _synth_seld, "desed": _synth_desed, "weakmix": _synth_weakmix, "tut": _synth_tut}[args.kind](args)
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


def cmd_features(args) -> int:
    from seld_tf.features import get_preset
    from seld_tf.features.extract import extract_dataset

    config = get_preset(args.preset)
    cache = extract_dataset(
        args.dataset_dir, args.out, config, args.format, train_folds=args.train_folds, backend=args.backend, progress=not args.quiet
    )
    names = cache.names()
    shape = cache.load(names[0], mmap=True).shape if names else None
    print(json.dumps({"cache": str(cache.root), "clips": len(names), "first_clip_shape": shape}))
    return 0


def cmd_train(args) -> int:
    from seld_tf.recipes import load_recipe
    from seld_tf.runs import RunFolder
    from seld_tf.training import train

    recipe = load_recipe(args.recipe)
    run_dir = args.out or Path("runs") / recipe.name
    history = train(
        recipe, args.data, run_dir, epochs=args.epochs, strategy=args.strategy, cache_dir=args.cache, progress=not args.quiet
    )
    marker = RunFolder(run_dir).finished_marker
    # In multi-worker training only the chief writes the run folder; another worker may end before it.
    summary = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
    print(json.dumps({"run_dir": str(run_dir), "epochs_run": len(history.epoch), **summary}))
    return 0


def cmd_evaluate(args) -> int:
    from seld_tf.runs import evaluate_run, evaluation_paths

    scores = evaluate_run(
        args.run_dir, args.data, split=args.split, cache_dir=args.cache, progress=not args.quiet, which=args.which
    )
    if scores is None:
        scores = {"outputs": str(evaluation_paths(args.run_dir, args.split, args.which)[0])}
    print(json.dumps(scores))
    return 0


def cmd_predict(args) -> int:
    from seld_tf.runs import predict_file

    events = predict_file(args.run_dir, args.audio, args.out)
    print(json.dumps({"out": str(args.out), "rows": len(events)}))
    return 0


def cmd_export(args) -> int:
    from seld_tf.export import AUDIO_SIGNATURE, FEATURES_SIGNATURE, export_run

    out = export_run(args.run_dir, args.out)
    print(json.dumps({"out": str(out), "signatures": [FEATURES_SIGNATURE, AUDIO_SIGNATURE]}))
    return 0


def _score_task(args) -> dict:
    from seld_tf.errors import ConfigError
    from seld_tf.metrics import sed_scoring

    sed_only = {"--durations": args.durations, "--scores": args.scores}
    given = [flag for flag, value in sed_only.items() if value is not None]
    if args.task != "sed" and given:
        raise ConfigError(f"{', '.join(given)} only apply to --task sed")
    if args.folds or args.split:
        raise ConfigError("--folds and --split select SELD references; with --task the reference TSV is the set")
    if args.task == "tagging":
        return sed_scoring.score_tagging(args.ref, args.pred)
    if args.task == "scene":
        return sed_scoring.score_scene(args.ref, args.pred, labels=args.labels)
    return sed_scoring.score_sed(
        args.ref, args.pred, durations=args.durations, scores=args.scores, labels=args.labels,
        t_collar=args.collar, percentage_of_length=args.percentage_of_length, time_resolution=args.segment,
        empty_system_output_handling=None if args.empty_output == "nan" else args.empty_output,
    )


def cmd_score(args) -> int:
    if args.task is not None:
        print(json.dumps(_score_task(args)))
        return 0
    # Not seld_tf.evaluation: it imports TensorFlow, which would take longer than the scoring.
    from seld_tf.datasets.dcase2020_seld import CHALLENGE_SPLIT
    from seld_tf.metrics.scoring import score_folders

    coordinates = None if args.format == "auto" else args.format
    folds = CHALLENGE_SPLIT[args.split] if args.split else args.folds
    print(json.dumps(score_folders(args.ref, args.pred, coordinates=coordinates, folds=folds).to_dict()))
    return 0


def cmd_demo(args) -> int:
    from seld_tf.demo import run_demo

    run_demo(
        Path(args.out),
        Path(args.figures),
        clips=args.clips,
        duration=args.duration,
        epochs=args.epochs,
        seed=args.seed,
        progress=not args.quiet,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seld-tf", description=__doc__)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synth", help="write a synthetic dataset in a real dataset's layout")
    kinds = synth.add_subparsers(dest="kind", required=True)
    seld = kinds.add_parser("seld", help="spatial sound scenes in the DCASE2020 Task 3 layout")
    seld.add_argument("--format", choices=sorted(FORMATS), default="foa")
    seld.add_argument("--out", required=True, type=Path)
    seld.add_argument("--clips", type=int, default=20)
    seld.add_argument("--duration", type=float, default=60.0, help="seconds per clip")
    seld.add_argument("--seed", type=int, default=0)
    seld.set_defaults(func=cmd_synth)
    desed = kinds.add_parser("desed", help="a DESED (DCASE2022 Task 4) stand-in: synthetic and real-like domains")
    desed.add_argument("--out", required=True, type=Path, help="empty or new folder (the DESED_task dcase/dataset/ root)")
    desed.add_argument("--seed", type=int, default=0)
    desed.add_argument("--size", choices=("cpu", "paper"), default="cpu", help="cpu: 1140 clips; paper: DCASE2022's 33,820")
    desed.set_defaults(func=cmd_synth)
    weakmix = kinds.add_parser("weakmix", help="FSDKaggle2018 + TAU 2019 stand-in sources and their 2APAE remix")
    weakmix.add_argument("--out", required=True, type=Path, help="empty or new folder for both source trees and the workspace")
    weakmix.add_argument("--seed", type=int, default=0)
    weakmix.add_argument("--size", choices=("cpu", "paper"), default="cpu", help="cpu: 10 classes, 400 mixtures per SNR; paper: 41, 8000")
    weakmix.set_defaults(func=cmd_synth)
    tut = kinds.add_parser("tut", help="Imoto's SED+ASC metadata over TUT-style audio: 4 scenes, 25 imbalanced classes")
    tut.add_argument("--out", required=True, type=Path, help="the root of meta/, crossvaridation/ and the TUT audio folders")
    tut.add_argument("--seed", type=int, default=0)
    tut.add_argument("--size", choices=("cpu", "paper"), default="cpu", help="cpu: dev ~26 min, eval ~8 min; paper: ~170 + 74 min")
    tut.set_defaults(func=cmd_synth)

    features = commands.add_parser("features", help="extract features of a DCASE2020-layout dataset into a cache")
    features.add_argument("dataset_dir", type=Path)
    features.add_argument("--format", choices=("foa", "mic"), required=True)
    features.add_argument("--out", required=True, type=Path, help="cache folder")
    features.add_argument("--preset", default="dcase2020", help="feature preset (dcase2020, einv2, ...)")
    features.add_argument("--train-folds", type=_folds, default=(3, 4, 5, 6), help="folds the scaler is fitted on")
    features.add_argument("--backend", choices=("tf", "numpy"), default="tf")
    features.set_defaults(func=cmd_features)

    train = commands.add_parser("train", help="train a recipe with model.fit")
    train.add_argument("recipe", type=Path)
    train.add_argument("--data", type=Path, required=True, help="dataset folder in the DCASE2020 layout")
    train.add_argument("--out", type=Path, help="run folder (default runs/<recipe name>)")
    train.add_argument("--epochs", type=_epochs, help="override training.epochs")
    train.add_argument(
        "--strategy",
        choices=("default", "mirrored", "multiworker"),
        default="default",
        help="default: one device; mirrored: all local GPUs; multiworker: every node of the cluster in TF_CONFIG, "
        "running this same command (docs/distributed_training.md)",
    )
    train.add_argument("--cache", type=Path, help="feature cache folder (default DATA/feature_cache/...)")
    train.set_defaults(func=cmd_train)

    evaluate = commands.add_parser("evaluate", help="write official output files of a split and score them")
    evaluate.add_argument("run_dir", type=Path)
    evaluate.add_argument("--data", type=Path, required=True)
    evaluate.add_argument("--split", choices=("test", "validation", "train", "eval"), default="test")
    evaluate.add_argument("--cache", type=Path)
    evaluate.add_argument(
        "--which",
        choices=("best", "last"),
        default="best",
        help="the best validation snapshot (outputs/<split>/, metrics_<split>.json) or the model after the last "
        "epoch (outputs/<split>_last/, metrics_<split>_last.json)",
    )
    evaluate.set_defaults(func=cmd_evaluate)

    predict = commands.add_parser("predict", help="predict one audio file into an output CSV")
    predict.add_argument("run_dir", type=Path, help="run folder, or an export folder (seld-tf export)")
    predict.add_argument("audio", type=Path)
    predict.add_argument("--out", type=Path, required=True)
    predict.set_defaults(func=cmd_predict)

    export = commands.add_parser(
        "export", help="write a run's best snapshot as a SavedModel with feature and raw-audio signatures, and a .keras"
    )
    export.add_argument("run_dir", type=Path)
    export.add_argument("--out", type=Path, required=True, help="export folder (must not exist, or be empty)")
    export.set_defaults(func=cmd_export)

    score = commands.add_parser(
        "score", help="DCASE2020 SELD scores of an output folder, or with --task the scores of SED, tagging or scene TSVs"
    )
    score.add_argument("--ref", type=Path, required=True, help="metadata folder (--task: reference TSV)")
    score.add_argument("--pred", type=Path, required=True, help="output folder, one CSV per reference file (--task: prediction TSV)")
    score.add_argument("--task", choices=("sed", "tagging", "scene"), help="score TSVs of this task instead of SELD CSVs")
    score.add_argument("--durations", type=Path, help="sed: TSV 'filename<TAB>duration' (needed with --scores)")
    score.add_argument(
        "--scores",
        type=Path,
        help="sed: PSDS1, PSDS2 (and intersection F1 of --pred) from a folder of predictions_th_<threshold>.tsv tables "
        "(DESED_task's per-threshold outputs, used when the folder has any) or <clip_id>.tsv score tables "
        "(sed_scores_eval's format: header onset<TAB>offset<TAB><class>..., one row of class scores per frame "
        "segment), which are thresholded (score > t) at psds_eval's 50 operating points t = 0.01, 0.03 ... 0.99 "
        "and merged into events as the DCASE 2022/2023 baselines do",
    )
    score.add_argument("--labels", type=_labels, help="sed, scene: comma-separated labels (default: those of the reference)")
    score.add_argument("--collar", type=float, default=0.2, help="sed: event onset/offset collar in seconds")
    score.add_argument(
        "--percentage-of-length", type=float, default=0.2, help="sed: offset tolerance as a fraction of the event length"
    )
    score.add_argument("--segment", type=float, default=1.0, help="sed: segment length in seconds")
    score.add_argument(
        "--empty-output",
        choices=("zero_score", "nan"),
        default="zero_score",
        help="sed: event-based precision of a class without output, 0 (DCASE 2022) or NaN (sed_eval default)",
    )
    score.add_argument("--format", choices=("auto", "polar", "cartesian"), default="auto")
    which = score.add_mutually_exclusive_group()
    which.add_argument("--folds", type=_folds, help="score only the references of these folds (names fold<N>_...), e.g. 1")
    which.add_argument(
        "--split",
        choices=("test", "validation", "train"),
        help="score only the references of a challenge split's folds: test 1, validation 2, train 3-6",
    )
    score.set_defaults(func=cmd_score)

    demo = commands.add_parser("demo", help="the package's main job on built-in synthetic data")
    demo.add_argument("--out", type=Path, default=Path("demo_data"))
    demo.add_argument("--figures", type=Path, default=Path("figures"))
    demo.add_argument("--clips", type=int, default=36)
    demo.add_argument("--duration", type=float, default=60.0)
    demo.add_argument("--epochs", type=_epochs, help="override the recipe's epochs")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        code = args.func(args)
    except SeldTfError as error:
        print(f"seld-tf: error: {error}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"[{args.command} finished in {time.perf_counter() - start:.1f} s]", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
