"""`make demo`: the package's main job end to end on built-in synthetic data.

Synthesize FOA + MIC scenes in the DCASE2020 layout, extract the baseline
features, plot one clip, train the CPU-size SELDnet with the ACCDOA output
(the DCASE2021 baseline's format) with `model.fit` (best snapshot by
validation SELD score), score it on the test fold next to an untrained model
and a predictor that never detects anything, and plot the training curves.
Why ACCDOA and not the DCASE2020 baseline's two weighted outputs: the recipe's
header says.
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
from pathlib import Path

import numpy as np

from seld_tf.datasets.dcase2020_seld import CLASS_NAMES, LABEL_FRAME_SECONDS, Dcase2020Dataset
from seld_tf.datasets.events import EventList
from seld_tf.features import get_preset
from seld_tf.features.extract import extract_dataset
from seld_tf.metrics import compute_seld_scores
from seld_tf.plotting import plot_clip_features, plot_loss_study, save_figure
from seld_tf.recipes import load_recipe

# Package data, not a path into the source tree: the demo runs from a plain `pip install .` too.
DEFAULT_RECIPE = importlib.resources.files("seld_tf") / "builtin_recipes" / "seldnet_accdoa_foa_cpu.yaml"


def run_demo(
    out: Path,
    figures: Path,
    *,
    clips: int = 36,
    duration: float = 60.0,
    epochs: int | None = None,
    recipe_path: Path = DEFAULT_RECIPE,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Run the demo; returns the test scores of the trained, untrained and silent predictors."""
    from seld_tf.datasets.synth.seld import SeldSynthConfig, synthesize_seld_dataset
    from seld_tf.runs import evaluate_run
    from seld_tf.tasks import prepare_task
    from seld_tf.training import build_task_model, train

    data_dir = out / "data"
    print(f"== 1/5 synthesizing {clips} clips x {duration:g} s (FOA + MIC) into {data_dir}")
    synthesize_seld_dataset(
        data_dir, SeldSynthConfig(num_clips=clips, duration=duration, seed=seed), formats=("foa", "mic"), progress=progress
    )

    print("== 2/5 extracting the DCASE2020 baseline features (FOA 7 x 64, MIC 10 x 64)")
    config = get_preset("dcase2020")
    for array_format in ("foa", "mic"):
        cache = extract_dataset(
            data_dir, out / "features" / array_format, config, array_format, progress=progress, log=lambda *_: None
        )
        shape = cache.load(cache.names()[0], mmap=True).shape
        print(f"   {array_format}: {len(cache.names())} clips, features [frames, bins, channels] = {shape}")
    _plot_one_clip(data_dir, out / "features" / "foa", config, figures / "demo_foa_features.png")

    recipe = load_recipe(recipe_path)
    if epochs is not None:
        recipe = recipe.replace(training={"epochs": epochs})
    run_dir = out / "runs" / recipe.name
    # The demo's run folder is its own scratch space: a re-run trains afresh.
    shutil.rmtree(run_dir, ignore_errors=True)
    print(f"== 3/5 training {recipe.name} ({recipe.model.name}/{recipe.model.preset}) for {recipe.training.epochs} epochs")
    cache_dir = out / "features" / "foa"
    history = train(recipe, data_dir, run_dir, cache_dir=cache_dir, progress=progress, log=lambda *_: None)

    print("== 4/5 scoring the test fold (DCASE2020 metric)")
    scores = {"trained (best validation snapshot)": evaluate_run(run_dir, data_dir, "test", cache_dir=cache_dir, progress=False, log=lambda *_: None)}
    task = prepare_task(recipe, data_dir, cache_dir, progress=False, log=lambda *_: None)
    evaluator = task.evaluator("test")
    scores["untrained (same model, initial weights)"] = evaluator.evaluate(build_task_model(task), with_losses=False).scores.to_dict()
    silent = [(reference, EventList.empty(reference.num_frames)) for reference in evaluator.references]
    scores["silent (never detects)"] = compute_seld_scores(silent).to_dict()
    print(f"   {'predictor':42s} {'ER':>6s} {'F':>6s} {'LE':>7s} {'LR':>6s} {'SELD':>6s}")
    for name, s in scores.items():
        print(f"   {name:42s} {s['ER']:6.3f} {s['F']:6.3f} {s['LE']:7.2f} {s['LR']:6.3f} {s['SELD']:6.3f}")

    print("== 5/5 plotting the training curves")
    curves = figures / "demo_training_curves.png"
    save_figure(plot_loss_study({recipe.name: history.history}, title="SELDnet with ACCDOA output (CPU size) on synthetic FOA scenes"), curves)
    print(f"   wrote {curves} and {figures / 'demo_foa_features.png'}; run folder {run_dir}")
    print(json.dumps(scores["trained (best validation snapshot)"]))
    return scores


def _plot_one_clip(data_dir: Path, cache_dir: Path, config, path: Path) -> None:
    """The feature/label figure of the first clip with overlapping events."""
    dataset = Dcase2020Dataset(data_dir, array_format="foa")
    clips = dataset.clips()
    clip = next((c for c in clips if c.overlap == 2), clips[0])
    events = dataset.read_events(clip)
    figure = plot_clip_features(
        np.load(cache_dir / f"{clip.name}.npy"),
        events,
        frames_per_second=config.frames_per_second,
        label_frame_seconds=LABEL_FRAME_SECONDS,
        array_format="foa",
        class_names=CLASS_NAMES,
        channels=(0, 4, 5),
        title=f"{clip.name}: FOA log-mel (W), intensity vector x, y and the labels",
    )
    save_figure(figure, path)
