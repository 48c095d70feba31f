"""Compare two Python environments (dependency stacks) on the package's hot paths.

Measures, in the Python that runs it, and prints one JSON object:

- "einv2_step": one `train_on_batch` step of the paper-size EINV2 recipe
  (`experiments/einv2/table3_soft_trackwise.yaml`: soft sharing, trackwise
  output, tPIT, AdamW), built by `bench_einv2_step.build_einv2_step` as
  `seld_tf.training` builds it, with the recipe's optimizer, on random features `[8, 160, 256, 7]` and random packed
  trackwise targets `{"tracks": [8, 40, 2, 14 + 3]}` (the layout of
  `pit_compile_args`' label transform). Median of `--steps` steps after
  `--warmup` steps.
- "foa_features": FOA features (4 log-mels + 3 intensity vectors) of 60 s of
  4-channel 24 kHz audio with `make_extractor(get_preset("dcase2020"), "foa",
  backend="tf")`, the extractor `extract_dataset` uses. Median of `--repeats`
  calls after one warm-up call (which traces the graph).

Each measure runs in a process of its own (`--measure`), so that its peak
resident memory (`ru_maxrss`) is its own.

Driver: `--compare PY_A PY_B` runs both Pythons alternately (A B A B ...,
`--rounds` times, each measure in a fresh subprocess) and prints, per
measure, each Python's median of the per-run medians (wall and process CPU
time), the ratio B / A of those, the range of the per-round ratios, and the
peak memory of each::

    .venv/bin/python benchmarks/bench_stack.py --compare .venv/bin/python /tmp/venv-new/bin/python

The benchmarked source is the `seld_tf` of this file's repository (put first
on `sys.path`), whichever environment runs it, so both stacks run the same code.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench_einv2_step import build_einv2_step, timed

REPO = Path(__file__).resolve().parent.parent
MEASURES = ("einv2_step", "foa_features")
EINV2_RECIPE = REPO / "experiments" / "einv2" / "table3_soft_trackwise.yaml"


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _versions() -> dict:
    import importlib.metadata as metadata

    versions = {"python": sys.version.split()[0]}
    for name in ("tensorflow", "keras", "numpy", "tensorflow-io", "ml-dtypes", "protobuf"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def measure_einv2_step(batch: int, frames: int, warmup: int, steps: int) -> dict:
    import numpy as np

    model, features, targets = build_einv2_step(batch, frames, recipe_optimizer=True)
    bins, channels = features.shape[2:]
    losses = []
    times, cpu_times = timed(
        lambda: losses.append(float(np.asarray(model.train_on_batch(features, targets)).ravel()[0])), warmup, steps
    )
    return {
        "times_s": times,
        "median_s": statistics.median(times),
        "median_cpu_s": statistics.median(cpu_times),
        "params": int(model.count_params()),
        "jit_compile": bool(model.jit_compile),
        "input": [batch, frames, bins, channels],
        "targets": {key: list(value.shape) for key, value in targets.items()},
        "loss_first_last": [losses[0], losses[-1]],
    }


def measure_foa_features(seconds: float, warmup: int, repeats: int) -> dict:
    import numpy as np

    from seld_tf.features import get_preset
    from seld_tf.features.extract import make_extractor

    config = get_preset("dcase2020")
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * config.sample_rate)) / config.sample_rate
    tones = np.sin(2 * np.pi * rng.uniform(100, 8000, size=4) * t[:, None])
    audio = (0.3 * tones + 0.05 * rng.standard_normal(tones.shape)).astype(np.float32)
    extract = make_extractor(config, "foa", backend="tf")
    shapes = []
    times, cpu_times = timed(lambda: shapes.append(extract(audio).shape), warmup, repeats)
    return {"times_s": times, "median_s": statistics.median(times), "median_cpu_s": statistics.median(cpu_times),
            "output": list(shapes[-1]),
            "audio": [len(audio), 4], "sample_rate": config.sample_rate}


def run_measure(args) -> dict:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if args.measure == "einv2_step":
        result = measure_einv2_step(args.batch, args.frames, args.warmup, args.steps)
    else:
        result = measure_foa_features(args.seconds, max(args.warmup, 1), args.repeats)
    import seld_tf

    return {
        "measure": args.measure,
        **result,
        "peak_rss_mib": _peak_rss_mib(),
        "versions": _versions(),
        "seld_tf": os.path.dirname(seld_tf.__file__),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "cpus": os.cpu_count(),
    }


def compare(args) -> dict:
    pythons = {"A": args.compare[0], "B": args.compare[1]}
    runs = {label: {measure: [] for measure in args.measures} for label in pythons}
    for round_index in range(args.rounds):
        for measure in args.measures:
            for label, python in pythons.items():
                command = [python, str(Path(__file__).resolve()), "--measure", measure,
                           "--batch", str(args.batch), "--frames", str(args.frames), "--warmup", str(args.warmup),
                           "--steps", str(args.steps), "--seconds", str(args.seconds), "--repeats", str(args.repeats)]
                done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
                if done.returncode != 0:
                    raise SystemExit(f"{python} --measure {measure} failed ({done.returncode}):\n{done.stderr[-4000:]}")
                result = json.loads(done.stdout.strip().splitlines()[-1])
                runs[label][measure].append(result)
                print(f"round {round_index + 1} {label} {measure}: median {result['median_s']:.3f} s "
                      f"(CPU {result['median_cpu_s']:.3f} s), "
                      f"peak {result['peak_rss_mib']:.0f} MiB", file=sys.stderr, flush=True)
    summary = {"pythons": pythons, "rounds": args.rounds,
               "versions": {label: runs[label][args.measures[0]][0]["versions"] for label in pythons},
               "settings": {"batch": args.batch, "frames": args.frames, "warmup": args.warmup, "steps": args.steps,
                            "seconds": args.seconds, "repeats": args.repeats},
               "measures": {}}
    for measure in args.measures:
        medians = {label: [run["median_s"] for run in runs[label][measure]] for label in pythons}
        peaks = {label: [run["peak_rss_mib"] for run in runs[label][measure]] for label in pythons}
        cpu = {label: [run["median_cpu_s"] for run in runs[label][measure]] for label in pythons}
        per_round = [b / a for a, b in zip(medians["A"], medians["B"])]
        per_round_cpu = [b / a for a, b in zip(cpu["A"], cpu["B"])]
        summary["measures"][measure] = {
            "median_s": {label: statistics.median(values) for label, values in medians.items()},
            "per_run_median_s": medians,
            "ratio_B_over_A": statistics.median(medians["B"]) / statistics.median(medians["A"]),
            "per_round_ratio_range": [min(per_round), max(per_round)],
            "median_cpu_s": {label: statistics.median(values) for label, values in cpu.items()},
            "per_run_median_cpu_s": cpu,
            "cpu_ratio_B_over_A": statistics.median(cpu["B"]) / statistics.median(cpu["A"]),
            "per_round_cpu_ratio_range": [min(per_round_cpu), max(per_round_cpu)],
            "peak_rss_mib": {label: max(values) for label, values in peaks.items()},
            "peak_rss_ratio_B_over_A": max(peaks["B"]) / max(peaks["A"]),
            "samples_per_run": len(runs["A"][measure][0]["times_s"]),
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", choices=MEASURES)
    parser.add_argument("--compare", nargs=2, metavar=("PY_A", "PY_B"))
    parser.add_argument("--measures", nargs="+", choices=MEASURES, default=list(MEASURES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=160)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.compare:
        print(json.dumps(compare(args), indent=2))
    elif args.measure:
        print(json.dumps(run_measure(args)))
    else:
        parser.error("give --measure NAME or --compare PY_A PY_B")


if __name__ == "__main__":
    main()
