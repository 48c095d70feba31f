"""Training input pipeline: `fit` steps/s fed from the feature cache with augmentation vs from in-memory tensors.

One model (`--recipe`, by default the CPU-size EINV2, whose short steps show
the pipeline's cost most) is trained alternately, `--rounds` times, for
`--steps` steps each, on:

- "cache": the task's training dataset as `seld-tf train` builds it
  (`Task.train_dataset`): random windows read from the on-disk `.npy` feature
  cache, FOA rotation and SpecAugment (`--augment`, on by default: the EINV2
  "-DA" recipes' settings), the label transform (tPIT packing);
- "memory": `--batches` batches taken once from that same dataset, held as
  tensors and repeated (no reading, no augmentation).

It prints the steps/s of each per round and the ratio cache / memory (1.0:
the pipeline costs the training nothing), and the same as process CPU seconds
per step (memory / cache). Run from the repository root:

    .venv/bin/python benchmarks/bench_input_pipeline.py [--rounds 3] [--steps 40] [--data DIR]

Without `--data`, a synthetic FOA dataset (`--clips` x 60 s) is written to
`--work` first (about a second per clip) and its features cached there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "experiments" / "einv2" / "cpu" / "soft_trackwise_tpit.yaml"
# The augmentation of the EINV2 "-DA" recipes (table3_soft_trackwise_aug.yaml), SpecAugment scaled to 64 mels.
AUGMENTATION = {
    "foa_rotation": True,
    "spec_augment": {
        "time_masks": 1, "time_mask_width": 41, "freq_masks": 1, "freq_mask_width": 22, "per_channel": False,
        "fill": "mean",
    },
}


def build(args):
    """The compiled model, the cache-fed dataset and the in-memory one."""
    import tensorflow as tf

    from seld_tf.datasets.synth.seld import SeldSynthConfig
    from seld_tf.recipes import load_recipe
    from seld_tf.studies.multiseed import synthesize_unless_present
    from seld_tf.tasks import prepare_task
    from seld_tf.training import build_task_model, make_optimizer

    data_dir = args.data or args.work / "data"
    if args.data is None:
        synthesize_unless_present(data_dir, SeldSynthConfig(num_clips=args.clips, duration=60.0, seed=0))
    recipe = load_recipe(args.recipe)
    if args.augment:
        recipe = recipe.replace(pipeline=AUGMENTATION)
    task = prepare_task(recipe, data_dir, args.work / "features", progress=False, log=lambda *_: None)
    compile_kwargs, label_transform = task.compile_args()
    cache_fed, steps_per_epoch = task.train_dataset(label_transform)
    cache_fed = cache_fed.repeat()
    model = build_task_model(task)
    model.compile(optimizer=make_optimizer(recipe, steps_per_epoch), **compile_kwargs)
    batches = list(cache_fed.take(args.batches))
    stacked = tf.nest.map_structure(lambda *parts: tf.stack(parts), *batches)
    in_memory = tf.data.Dataset.from_tensor_slices(stacked).repeat()
    return model, {"cache": cache_fed, "memory": in_memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, default=RECIPE)
    parser.add_argument("--data", type=Path, help="a SELD dataset folder (default: synthesize one in --work)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/seld_tf_bench_pipeline"))
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--batches", type=int, default=8, help="distinct batches held in memory")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))

    model, datasets = build(args)
    for dataset in datasets.values():  # traces the training step and fills the prefetch buffers
        model.fit(dataset, steps_per_epoch=5, epochs=1, verbose=0, shuffle=False)
    # Wall-clock steps/s, and CPU seconds per step of the whole process (all threads: the pipeline's too),
    # which other jobs on shared cores disturb less.
    rates, cpu = {name: [] for name in datasets}, {name: [] for name in datasets}
    for round_index in range(args.rounds):
        for name, dataset in datasets.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            model.fit(dataset, steps_per_epoch=args.steps, epochs=1, verbose=0, shuffle=False)
            rates[name].append(args.steps / (time.perf_counter() - start))
            cpu[name].append((time.process_time() - cpu_start) / args.steps)
        print(f"round {round_index + 1}: cache {rates['cache'][-1]:.2f}, memory {rates['memory'][-1]:.2f} steps/s "
              f"(ratio {rates['cache'][-1] / rates['memory'][-1]:.3f}); CPU s/step cache {cpu['cache'][-1]:.3f}, "
              f"memory {cpu['memory'][-1]:.3f} (ratio memory / cache {cpu['memory'][-1] / cpu['cache'][-1]:.3f})",
              flush=True)
    for label, values, numerator, denominator in (("steps/s", rates, "cache", "memory"),
                                                   ("CPU s/step", cpu, "memory", "cache")):
        ratios = [a / b for a, b in zip(values[numerator], values[denominator])]
        print(f"median {label}: cache {statistics.median(values['cache']):.3f}, memory "
              f"{statistics.median(values['memory']):.3f}; ratio {numerator} / {denominator} "
              f"{statistics.median(ratios):.3f} (rounds {min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
