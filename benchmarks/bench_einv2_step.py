"""Paper-size EINV2: training-step and inference throughput, float32 and mixed bfloat16.

The model is `experiments/einv2/table3_soft_trackwise.yaml` (soft sharing,
trackwise output, tPIT; 26.23 M parameters, 26.22 M of them trainable) built as `seld_tf.training`
builds it (`build_task_model` with an identity feature scaler, the task's
`compile_args`), trained with Adam as in the EIN-SELD comparison, on random
features `[8, 160, 256, 7]` and random packed trackwise targets.

One configuration per process (`--measure`), since the dtype policy and the
thread pools are process-wide:

- "train": samples/s of `train_on_batch` (forward, tPIT loss, backward, Adam
  update) at the median of `--steps` steps after `--warmup` steps;
- "forward": samples/s of `predict_on_batch` (inference mode) at the median
  of `--steps` calls after `--warmup` calls.

The driver (no `--measure`) runs every configuration of `--configs` in a
fresh subprocess, `--rounds` times in alternation (A B C, B C A, ...), and
prints per configuration the median over the rounds of the per-run medians.
With `--torch PYTHON` (a Python with PyTorch, `benchmarks/requirements-torch.txt`)
the rounds also run EINV2 as the released PyTorch code builds it
(`einseld_torch.py`) at each precision of the configurations, and each
configuration's samples/s are divided by that side-by-side measurement,
round by round (the median and range of the per-round ratios);
`--torch-channels-last` adds the reference in channels-last memory format:

    python3 -m venv .venv-torch && .venv-torch/bin/pip install -r benchmarks/requirements-torch.txt
    .venv/bin/python benchmarks/bench_einv2_step.py --torch .venv-torch/bin/python [--torch-channels-last] \\
        [--rounds 3] [--configs ...]

The JSON (`--json`) holds the machine's CPU, every round's rates and process CPU seconds, and the summary.

A configuration is `PRECISION[+OPTION...]`: PRECISION "float32" or
"bfloat16" (Keras `mixed_bfloat16`, set as the recipe's `training.precision`),
options "code" (`table3_soft_trackwise_code.yaml`, the network as the
released code configures it: the PyTorch reference's twin, whose trainable
parameter count must equal the reference's), "xla" (`jit_compile=True`),
"inter1" (one inter-op thread instead of two), "intra1" (one intra-op thread
instead of two: each op on one core, the branches side by side) and
"kerasbn" (the conv blocks with `keras.layers.BatchNormalization` instead of
the package's fused one, the model before that change).

`--measure CONFIG --profile DIR` also traces `--steps` training steps and
`--steps` inference calls with `tf.profiler` into DIR/train and DIR/forward (for TensorBoard's profile plugin) and prints the
op types that took the most time, summed over the trace's CPU threads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EINV2_RECIPE = REPO / "experiments" / "einv2" / "table3_soft_trackwise.yaml"
EINV2_CODE_RECIPE = REPO / "experiments" / "einv2" / "table3_soft_trackwise_code.yaml"
TORCH_REFERENCE = Path(__file__).resolve().parent / "einseld_torch.py"
RATIO_TITLES = {"einseld": "EIN-SELD", "einseld_channels_last": "EIN-SELD channels-last"}
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
OPTIONS = ("code", "xla", "inter1", "intra1", "kerasbn")
DEFAULT_CONFIGS = ("float32", "bfloat16")


def parse_config(config: str) -> tuple[str, set[str]]:
    precision, *options = config.split("+")
    if precision not in PRECISIONS or not set(options) <= set(OPTIONS):
        raise SystemExit(f"unknown configuration {config!r}: PRECISION[+OPTION...], {list(PRECISIONS)} x {OPTIONS}")
    return precision, set(options)


def build_einv2_step(batch: int, frames: int, precision: str = "float32", jit_compile: bool = False,
                     keras_batch_norm: bool = False, recipe_optimizer: bool = False, recipe_path: Path = EINV2_RECIPE):
    """The compiled paper-size EINV2 training model and one batch `(features, targets)` for it.

    Trained with Adam, as in the EIN-SELD comparison, or with `recipe_optimizer` the recipe's AdamW.
    """
    import keras
    import numpy as np

    from seld_tf.models import einv2

    from seld_tf.datasets.dcase2020_seld import CLASS_NAMES
    from seld_tf.recipes import load_recipe
    from seld_tf.tasks.seld import SeldTask
    from seld_tf.training import build_task_model, make_optimizer

    recipe = load_recipe(recipe_path).replace(training={"precision": PRECISIONS.get(precision, precision)})
    if not recipe_optimizer:
        recipe = recipe.replace(optimizer={"name": "adam", "weight_decay": None})
    bins, channels = 256, 7  # the "einv2" feature preset, FOA: 4 log-mels + 3 intensity vectors
    task = SeldTask(recipe)
    # No dataset is prepared: the model only needs a feature scaler, an identity one.
    task.feature_scaler = lambda: (np.zeros((bins, channels), np.float32), np.ones((bins, channels), np.float32))
    if keras_batch_norm:
        einv2.FusedBatchNormalization = keras.layers.BatchNormalization
    model = build_task_model(task)
    compile_kwargs, label_transform = task.compile_args()
    model.compile(optimizer=make_optimizer(recipe, steps_per_epoch=100), jit_compile=jit_compile, **compile_kwargs)

    rng = np.random.default_rng(0)
    num_classes, num_tracks, label_frames = len(CLASS_NAMES), recipe.data.num_tracks, frames // 4
    features = rng.standard_normal((batch, frames, bins, channels)).astype(np.float32)
    classes = rng.integers(0, num_classes, size=(batch, label_frames, num_tracks))
    active = rng.random((batch, label_frames, num_tracks)) < 0.6
    sed = (np.eye(num_classes, dtype=np.float32)[classes] * active[..., None]).astype(np.float32)
    doa = rng.standard_normal((batch, label_frames, num_tracks, 3)).astype(np.float32)
    doa = doa / np.linalg.norm(doa, axis=-1, keepdims=True) * active[..., None]
    targets = {key: value.numpy() for key, value in label_transform({"sed": sed, "doa": doa}).items()}
    return model, features, targets


def timed(run, warmup: int, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and process CPU seconds (all threads) of each of `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        run()
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        run()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    return times, cpu_times


def throughput_record(config: str, batch: int, train: tuple, forward: tuple, losses: list[float]) -> dict:
    """The measured part of a `--measure` result, from `timed`'s `(wall, cpu)` of training steps and forwards."""
    return {
        "config": config,
        "train": batch / statistics.median(train[0]),
        "forward": batch / statistics.median(forward[0]),
        "train_times_s": train[0],
        "forward_times_s": forward[0],
        "train_cpu_s": statistics.median(train[1]),
        "forward_cpu_s": statistics.median(forward[1]),
        "loss_first_last": [losses[0], losses[-1]],
    }


def measure(config: str, batch: int, frames: int, warmup: int, steps: int, threads: int, profile: Path | None = None) -> dict:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    precision, options = parse_config(config)
    tf.config.threading.set_intra_op_parallelism_threads(1 if "intra1" in options else threads)
    tf.config.threading.set_inter_op_parallelism_threads(1 if "inter1" in options else threads)
    model, features, targets = build_einv2_step(
        batch, frames, precision, jit_compile="xla" in options, keras_batch_norm="kerasbn" in options,
        recipe_path=EINV2_CODE_RECIPE if "code" in options else EINV2_RECIPE,
    )
    losses = []
    train_times, train_cpu = timed(
        lambda: losses.append(float(np.asarray(model.train_on_batch(features, targets)).ravel()[0])), warmup, steps
    )
    forward_times, forward_cpu = timed(lambda: model.predict_on_batch(features), warmup, steps)
    if profile:
        for kind, run in (("train", lambda: model.train_on_batch(features, targets)),
                          ("forward", lambda: model.predict_on_batch(features))):
            tf.profiler.experimental.start(str(profile / kind))
            for _ in range(steps):
                run()
            tf.profiler.experimental.stop()
            print_op_profile(profile / kind, steps)
    return {
        **throughput_record(config, batch, (train_times, train_cpu), (forward_times, forward_cpu), losses),
        "params": int(model.count_params()),
        "trainable_params": int(sum(np.prod(weight.shape) for weight in model.trainable_weights)),
        "threads": threads,
        "tensorflow": tf.__version__,
    }


def print_op_profile(logdir: Path, steps: int, top: int = 25) -> None:
    """The op types that took the most time in the newest trace under `logdir`, per step, to stderr.

    Sums the durations of the host threads' op events (named `op_name:OpType`)
    by op type; an op that runs its work in another op's event counts in both.
    """
    from collections import Counter

    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    trace = max(logdir.rglob("*.xplane.pb"), key=lambda path: path.stat().st_mtime)
    space = xplane_pb2.XSpace.FromString(trace.read_bytes())
    totals, counts = Counter(), Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if ":" not in name:
                    continue
                op_type = name.rsplit(":", 1)[1]
                totals[op_type] += event.duration_ps / 1e12 / steps
                counts[op_type] += 1
    print(f"op types by time per step (s), from {trace}:", file=sys.stderr)
    for op_type, seconds in totals.most_common(top):
        print(f"  {seconds:8.3f}  {counts[op_type] // steps:5d}x  {op_type}", file=sys.stderr)


def cpu_description() -> dict:
    """The CPU's model and the instruction sets that decide which precision is fast (bfloat16 convolutions
    are several times faster than float32 with AMX, 2x on AMD Zen 4, slower on some CPUs without AMX)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = set(fields.get("flags", "").split())
    # A virtual machine may name only the vendor ("AMD EPYC"); family and model number tell the generation.
    return {"model": fields.get("model name"), "family": fields.get("cpu family"), "model_number": fields.get("model"),
            "cpus": len(os.sched_getaffinity(0)),
            "isa": sorted(flags & {"avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16", "amx_tile"})}


def run_measure(command: list[str], label: str) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if done.returncode != 0:
        raise SystemExit(f"measuring {label} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def drive(args) -> dict:
    """Every configuration (and with `--torch` the PyTorch reference per precision), alternated round by round.

    Each round starts one position further along the list, so no configuration always runs first or right
    after the same one. A ratio to the reference is the median of the per-round ratios: the host's load moves
    both sides of a round together, so pairs within a round are what compare.
    """
    shared = ["--batch", str(args.batch), "--frames", str(args.frames), "--warmup", str(args.warmup),
              "--steps", str(args.steps), "--threads", str(args.threads)]
    commands = {config: [sys.executable, str(Path(__file__).resolve()), "--measure", config, *shared]
                for config in args.configs}
    precisions = {config: parse_config(config)[0] for config in args.configs}
    # ratio name -> precision -> label of the PyTorch runs at that precision that the ratio divides by
    references = {name: {} for name in RATIO_TITLES}
    if args.torch:
        for precision in dict.fromkeys(precisions.values()):
            torch_command = [str(args.torch), str(TORCH_REFERENCE), "--measure", precision, *shared]
            references["einseld"][precision] = f"einseld-{precision}"
            commands[f"einseld-{precision}"] = torch_command
            if args.torch_channels_last:
                references["einseld_channels_last"][precision] = f"einseld-{precision}+channels_last"
                commands[f"einseld-{precision}+channels_last"] = [*torch_command, "--channels-last"]
    labels = list(commands)
    runs = {label: [] for label in labels}
    for round_index in range(args.rounds):
        shift = round_index % len(labels)
        for label in labels[shift:] + labels[:shift]:
            result = run_measure(commands[label], label)
            runs[label].append(result)
            print(f"round {round_index + 1} {label}: train {result['train']:.2f}, forward {result['forward']:.2f} "
                  f"samples/s", file=sys.stderr, flush=True)
        if round_index == 0:
            check_twins(runs, precisions, references["einseld"])
    summary = {}
    for label, results in runs.items():
        row = {"trainable_params": results[0]["trainable_params"],
               "rounds": [{key: result[key] for key in ("train", "forward", "train_cpu_s", "forward_cpu_s")}
                          for result in results]}
        for kind in ("train", "forward"):
            values = [result[kind] for result in results]
            row[kind] = statistics.median(values)
            row[f"{kind}_range"] = [min(values), max(values)]
            for name, labels_by_precision in references.items():
                if label in precisions and precisions[label] in labels_by_precision:
                    reference = runs[labels_by_precision[precisions[label]]]
                    per_round = [value / base[kind] for value, base in zip(values, reference)]
                    row[f"{kind}_vs_{name}"] = statistics.median(per_round)
                    row[f"{kind}_vs_{name}_range"] = [min(per_round), max(per_round)]
        summary[label] = row
    return {"settings": {**vars(args), "torch": str(args.torch) if args.torch else None}, "cpu": cpu_description(),
            "results": summary}


def check_twins(runs: dict, precisions: dict, references: dict) -> None:
    """Stop early if a `+code` configuration is not the PyTorch reference's network (trainable parameters)."""
    for config, precision in precisions.items():
        if "code" not in parse_config(config)[1] or precision not in references:
            continue
        ours, theirs = runs[config][0]["trainable_params"], runs[references[precision]][0]["trainable_params"]
        if ours != theirs:
            raise SystemExit(f"{config} has {ours} trainable parameters, the PyTorch reference {theirs}: "
                             f"they are not the same network")


def print_table(summary: dict) -> None:
    names = [name for name in RATIO_TITLES
             if any(f"train_vs_{name}" in row for row in summary["results"].values())]

    def ratio(row, kind, name):
        if f"{kind}_vs_{name}" not in row:
            return "-"
        low, high = row[f"{kind}_vs_{name}_range"]
        return f"{row[f'{kind}_vs_{name}']:.2f} ({low:.2f}-{high:.2f})"

    def rate(row, kind):
        return f"{row[kind]:.2f} ({row[f'{kind}_range'][0]:.2f}-{row[f'{kind}_range'][1]:.2f})"

    columns = [f"{kind} samples/s" if name is None else f"{kind} x {RATIO_TITLES[name]}"
               for kind in ("train", "forward") for name in (None, *names)]
    print("| configuration | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for config, row in summary["results"].items():
        cells = [rate(row, kind) if name is None else ratio(row, kind, name)
                 for kind in ("train", "forward") for name in (None, *names)]
        print(f"| {config} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", metavar="CONFIG", help="measure one configuration in this process")
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=160)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--torch", type=Path, metavar="PYTHON",
                        help="a Python with PyTorch: also measure the released code's EINV2 (einseld_torch.py)")
    parser.add_argument("--torch-channels-last", action="store_true",
                        help="with --torch: also measure the reference in channels-last memory format")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--profile", type=Path, help="with --measure: trace training steps into this folder")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.batch, args.frames, args.warmup, args.steps, args.threads, args.profile)))
        return
    for config in args.configs:
        parse_config(config)
    summary = drive(args)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    print_table(summary)


if __name__ == "__main__":
    main()
