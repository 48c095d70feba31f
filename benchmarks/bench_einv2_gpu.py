"""Paper-size EINV2: one training epoch on a GPU, float32 and mixed bfloat16, with and without XLA.

The GPU machines lent to this project carry no TensorFlow (and take no
download), so the network runs there on Keras' JAX backend: the package's
models, layers and losses use Keras alone (`seld_tf.models.registry.
build_scaled_network`, `seld_tf.losses.pit`), so the same network, scaler,
dtype policies and tPIT loss train on any backend. What runs on the GPU:

- the model of `--recipe` (default `experiments/einv2/table3_soft_trackwise.yaml`:
  Soft-PS, trackwise, tPIT, 26.23 M parameters) with its optimizer (AdamW,
  learning rate 5e-4), batch 32 of 160 frames x 256 bins x 7 channels;
- fed windows of the built-in synthetic FOA dataset, taken once on the CPU
  by the task's own training pipeline (`--make-data`: features and tPIT
  packed targets, saved as float16 / float32 in one `.npz`) and, on the GPU
  machine, cycled in a fresh random order to the size of one epoch of the
  paper's training set (DCASE2020 development folds 2-6: 500 clips of 60 s,
  15 windows each, 7500 windows, 234 batches) by a `keras.utils.PyDataset`
  that prefetches in threads;
- per configuration, one process: `model.fit` for one epoch; samples/s of
  the batches after the first `--skip` (compilation and warm-up), the
  epoch's wall time, and samples/s of `model.predict` (inference).

Configurations are `PRECISION[+OPTION]`: PRECISION "float32" or "bfloat16"
(Keras `mixed_bfloat16`), option "noxla" (`jit_compile=False`: each op
dispatched eagerly; otherwise the JAX backend compiles the whole training
step with XLA). `--max-seconds` ends a configuration's epoch early, the rate
being that of the batches it ran.

Steps (the second on the GPU machine, with KERAS_BACKEND=jax):

    .venv/bin/python benchmarks/bench_einv2_gpu.py --make-data benchmarks/einv2_windows.npz
    python3 benchmarks/bench_einv2_gpu.py --data benchmarks/einv2_windows.npz --out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EINV2_RECIPE = REPO / "experiments" / "einv2" / "table3_soft_trackwise.yaml"
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
DEFAULT_CONFIGS = ("float32", "bfloat16", "float32+noxla", "bfloat16+noxla")
# DCASE2020 development set, folds 2-6 (the paper's training folds): 500 clips x 60 s in 4 s windows.
PAPER_EPOCH_WINDOWS = 500 * 15


def make_data(args) -> None:
    """Windows of the synthetic dataset through the recipe's training pipeline, and the network's spec, to one `.npz`."""
    import numpy as np

    from seld_tf.datasets.synth.seld import SeldSynthConfig
    from seld_tf.fileio import atomic_open
    from seld_tf.recipes import load_recipe
    from seld_tf.studies.multiseed import synthesize_unless_present
    from seld_tf.tasks import prepare_task

    data_dir = args.work / "data"
    synthesize_unless_present(data_dir, SeldSynthConfig(num_clips=args.clips, duration=60.0, seed=0))
    recipe = load_recipe(args.recipe)
    task = prepare_task(recipe, data_dir, args.work / "features", progress=False, log=lambda *_: None)
    compile_kwargs, label_transform = task.compile_args()
    (loss_name, loss), = compile_kwargs["loss"].items()
    dataset, _ = task.train_dataset(label_transform)
    features, targets = [], []
    for batch_features, batch_targets in dataset.take(-(-args.windows // recipe.pipeline.batch_size)):
        features.append(batch_features.numpy())
        targets.append(batch_targets[loss_name].numpy())
    mean, scale = task.feature_scaler()
    spec = {
        "recipe": recipe.name,
        "model": {"name": recipe.model.name, "preset": recipe.model.preset,
                  "args": {**task.model_args(), **recipe.model.args}},
        "input_frames": task.input_frames(),
        "loss": {"output": loss_name, "config": loss.get_config(), "class": type(loss).__name__},
        "optimizer": {"name": recipe.optimizer.name, "learning_rate": recipe.schedule.initial_learning_rate,
                      "weight_decay": recipe.optimizer.weight_decay},
        "batch_size": recipe.pipeline.batch_size,
    }
    args.make_data.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.make_data, "wb") as stream:
        np.savez(stream, features=np.concatenate(features)[: args.windows].astype(np.float16),
                 targets=np.concatenate(targets)[: args.windows], mean=mean, scale=scale, spec=json.dumps(spec))
    print(f"{args.make_data}: {args.windows} windows of {features[0].shape[1:]}, "
          f"{args.make_data.stat().st_size / 2**20:.1f} MiB", file=sys.stderr)


def measure(config: str, args) -> dict:
    """Trains the network one epoch (or `--max-seconds`) in this process; the result as a dict."""
    import keras
    import numpy as np

    from seld_tf.losses import pit
    from seld_tf.models.registry import build_scaled_network

    precision, *options = config.split("+")
    if precision not in PRECISIONS or not set(options) <= {"noxla"}:
        raise SystemExit(f"unknown configuration {config!r}: PRECISION[+noxla], PRECISION one of {list(PRECISIONS)}")
    stored = np.load(args.data)
    spec = json.loads(str(stored["spec"]))
    features, targets = stored["features"], stored["targets"]
    batch = args.batch or spec["batch_size"]
    keras.utils.set_random_seed(0)
    inputs, outputs = build_scaled_network(
        spec["model"]["name"], spec["model"]["preset"], spec["model"]["args"], stored["mean"], stored["scale"],
        spec["input_frames"], PRECISIONS[precision],
    )
    model = keras.Model(inputs, outputs, name=spec["recipe"])
    optimizer = spec["optimizer"]
    optimizer_class = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW}[optimizer["name"]]
    extra = {"weight_decay": optimizer["weight_decay"]} if optimizer["weight_decay"] is not None else {}
    loss = getattr(pit, spec["loss"]["class"]).from_config(spec["loss"]["config"])
    model.compile(optimizer=optimizer_class(learning_rate=optimizer["learning_rate"], **extra),
                  loss={spec["loss"]["output"]: loss}, jit_compile="noxla" not in options)

    class Windows(keras.utils.PyDataset):
        """The stored windows, cycled in a random order to `windows` per epoch."""

        def __init__(self, windows: int, with_targets: bool):
            super().__init__(workers=4, use_multiprocessing=False, max_queue_size=8)
            self.order = np.random.default_rng(0).permutation(windows) % len(features)
            self.with_targets = with_targets

        def __len__(self):
            return len(self.order) // batch

        def __getitem__(self, index):
            rows = np.sort(self.order[index * batch:(index + 1) * batch])
            x = features[rows].astype(np.float32)
            return (x, {spec["loss"]["output"]: targets[rows]}) if self.with_targets else (x,)

    class Clock(keras.callbacks.Callback):
        """Wall time at the end of batch `--skip` and at the epoch's end; stops after `--max-seconds`."""

        def __init__(self):
            super().__init__()
            self.start = self.first = self.end = None
            self.batches = 0

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, index, logs=None):
            self.batches = index + 1
            if self.batches == args.skip:
                self.first = time.perf_counter()
            elif self.first is not None and time.perf_counter() - self.first > args.max_seconds:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            self.end = time.perf_counter()

    clock = Clock()
    history = model.fit(Windows(args.epoch_windows, True), epochs=1, verbose=0, callbacks=[clock])
    measured = clock.batches - args.skip
    predict_data = Windows(batch * args.predict_batches, False)
    predict_start = time.perf_counter()
    model.predict(Windows(batch * args.skip, False), verbose=0)  # compiles the inference step
    predict_mid = time.perf_counter()
    model.predict(predict_data, verbose=0)
    predict_end = time.perf_counter()
    return {
        "config": config,
        "backend": keras.backend.backend(),
        "device": _device_name(),
        "batch": batch,
        "params": int(model.count_params()),
        "epoch_batches": len(Windows(args.epoch_windows, True)),
        "batches_run": clock.batches,
        "train_samples_per_s": batch * measured / (clock.end - clock.first),
        "epoch_wall_s": clock.end - clock.start,
        "first_batches_s": clock.first - clock.start,
        "predict_samples_per_s": batch * args.predict_batches / (predict_end - predict_mid),
        "predict_compile_s": predict_mid - predict_start,
        "loss": float(history.history["loss"][-1]),
    }


def _device_name() -> str:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return str(jax.devices()[0].device_kind)
    return keras.backend.backend()


def drive(args) -> list[dict]:
    results = []
    for config in args.configs:
        command = [sys.executable, str(Path(__file__).resolve()), "--measure", config, "--data", str(args.data),
                   "--epoch-windows", str(args.epoch_windows), "--skip", str(args.skip),
                   "--max-seconds", str(args.max_seconds), "--predict-batches", str(args.predict_batches),
                   "--batch", str(args.batch)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{config} failed ({done.returncode}):\n{done.stderr[-3000:]}", file=sys.stderr, flush=True)
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result), flush=True)
        if args.out:
            args.out.write_text(json.dumps(results, indent=1))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--make-data", type=Path, help="write the windows and the network's spec here (TensorFlow backend)")
    parser.add_argument("--recipe", type=Path, default=EINV2_RECIPE)
    parser.add_argument("--work", type=Path, default=Path("/tmp/seld_tf_bench_einv2_gpu"))
    parser.add_argument("--clips", type=int, default=12, help="synthetic clips (60 s) to take the windows from")
    parser.add_argument("--windows", type=int, default=64, help="windows to store")
    parser.add_argument("--data", type=Path, help="the .npz that --make-data wrote")
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--epoch-windows", type=int, default=PAPER_EPOCH_WINDOWS)
    parser.add_argument("--batch", type=int, default=0, help="batch size (default: the recipe's)")
    parser.add_argument("--skip", type=int, default=10, help="batches not timed (compilation, warm-up)")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="timed training per configuration, at most")
    parser.add_argument("--predict-batches", type=int, default=40)
    parser.add_argument("--out", type=Path, help="also write the results (JSON) here")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    if args.make_data:
        make_data(args)
    elif args.measure:
        print(json.dumps(measure(args.measure, args)))
    elif args.data:
        os.environ.setdefault("KERAS_BACKEND", "jax")
        drive(args)
    else:
        parser.error("give --make-data or --data")


if __name__ == "__main__":
    main()
