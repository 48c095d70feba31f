"""Time the package's DCASE2020 scoring against the official algorithm, side by side.

Generates 100 synthetic 600-frame (60 s) files (14 classes, two tracks, so
0-2 reference events per frame, events 0.5-4 s long) and a plausible system
output for each (up to three events per frame), and measures three pairs:

1. Metric only, on event lists in memory: the vectorised `Dcase2020SeldMetric`
   against its loop reference `_reference_loop_scores`.
2. Reading and scoring, in this process: the files written with the
   package's writers to a temporary folder, scored by
   `seld_tf.metrics.scoring.score_folders` and by
   `benchmarks/official_style_score.py` (a straightforward implementation of
   the official algorithm, reading included).
3. Whole processes: `seld-tf score` against `official_style_score.py`, wall
   time and peak resident memory (GNU `/usr/bin/time`).

Each pair is timed alternately, best of `--repeats`; the scores are checked to
agree.

    .venv/bin/python benchmarks/bench_seld_metrics.py [--files 100] [--repeats 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import official_style_score
from seld_tf.datasets.dcase2020_seld import write_metadata, write_output
from seld_tf.datasets.events import EventList, wrap_azimuth
from seld_tf.metrics.scoring import score_folders
from seld_tf.metrics.seld import NUM_CLASSES, _reference_loop_scores, compute_seld_scores

NUM_FRAMES = 600
NUM_TRACKS = 2


def _events_on_track(rng: np.random.Generator, num_frames: int) -> list[tuple[int, int, int, int, float, float]]:
    """`(onset, offset, class, track_slot, azimuth, elevation)` of events separated by silences on one track."""
    placed = []
    frame = int(rng.integers(0, 20))
    while frame < num_frames:
        duration = int(rng.integers(5, 41))
        azimuth, elevation = float(rng.integers(-180, 180)), float(rng.integers(-45, 46))
        placed.append((frame, min(frame + duration, num_frames), int(rng.integers(NUM_CLASSES)), azimuth, elevation))
        frame += duration + int(rng.integers(0, 30))
    return placed


def synthetic_file(rng: np.random.Generator) -> tuple[EventList, EventList]:
    """A reference with up to two overlapping events and a prediction that misses, confuses,
    shifts and mislocates some of them and adds false alarms."""
    reference, prediction = [], []
    for track in range(NUM_TRACKS):
        for onset, offset, cls, azimuth, elevation in _events_on_track(rng, NUM_FRAMES):
            reference += [(f, cls, track, azimuth, elevation) for f in range(onset, offset)]
            if rng.random() < 0.15:
                continue
            predicted_cls = int(rng.integers(NUM_CLASSES)) if rng.random() < 0.1 else cls
            start = int(np.clip(onset + rng.integers(-3, 4), 0, NUM_FRAMES - 1))
            stop = int(np.clip(offset + rng.integers(-3, 4), start + 1, NUM_FRAMES))
            spread = rng.choice([5.0, 30.0])
            for f in range(start, stop):
                predicted_azimuth = wrap_azimuth(azimuth + rng.normal(0, spread))
                predicted_elevation = np.clip(elevation + rng.normal(0, 5), -90, 90)
                prediction.append((f, predicted_cls, track, predicted_azimuth, predicted_elevation))
    for _ in range(rng.integers(0, 4)):
        onset = int(rng.integers(0, NUM_FRAMES - 10))
        prediction += [(f, int(rng.integers(NUM_CLASSES)), NUM_TRACKS, 0.0, 0.0) for f in range(onset, onset + 10)]
    return EventList.from_rows(reference, NUM_FRAMES), EventList.from_rows(prediction, NUM_FRAMES)


def _best_times(functions: dict, repeats: int) -> tuple[dict, dict]:
    """Best wall time and last result of each function, the functions run in turn `repeats` times."""
    best, results = dict.fromkeys(functions, math.inf), {}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            results[name] = function()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, results


def _process(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident MiB and standard output of a command run under GNU time.

    Not `os.wait4` on a child of this process: a child started from a large
    process inherits its memory high-water mark in `ru_maxrss`.
    """
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    return wall, int(result.stderr.split()[-1]) / 1024, result.stdout


def _check_agreement(vectorised, loop) -> None:
    exact = {f.name for f in dataclasses.fields(vectorised)} - {"total_de", "LE", "SELD"}
    assert all(getattr(vectorised, name) == getattr(loop, name) for name in exact), (vectorised, loop)
    assert math.isclose(vectorised.total_de, loop.total_de, rel_tol=1e-12), (vectorised.total_de, loop.total_de)
    assert math.isclose(vectorised.SELD, loop.SELD, rel_tol=1e-12), (vectorised.SELD, loop.SELD)


def _official_counts_agree(package, official: official_style_score.SeldMetrics) -> None:
    names = dict(tp="tp", fp="fp", fn="fn", substitutions="S", deletions="D", insertions="I", nref="nref", nsys="nsys", de_tp="de_tp")
    assert all(getattr(package, ours) == official.counts[theirs] for ours, theirs in names.items()), (package, official.counts)
    # Different formulas for the same angles (law of cosines / dot product of unit vectors).
    assert math.isclose(package.total_de, official.total_de, rel_tol=1e-9), (package.total_de, official.total_de)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5, help="best of this many runs is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    pairs = [synthetic_file(rng) for _ in range(args.files)]
    rows = sum(len(ref) + len(pred) for ref, pred in pairs)
    print(f"{args.files} files x {NUM_FRAMES} frames, {NUM_CLASSES} classes, {rows} event rows")

    print("\n1. metric only, event lists in memory")
    times, results = _best_times(
        {"vectorised": lambda: compute_seld_scores(pairs), "loop": lambda: _reference_loop_scores(pairs)}, args.repeats
    )
    _check_agreement(results["vectorised"], results["loop"])
    print(f"   vectorised Dcase2020SeldMetric: {times['vectorised']:8.3f} s")
    print(f"   loop _reference_loop_scores:    {times['loop']:8.3f} s")
    print(f"   ratio: {times['loop'] / times['vectorised']:.1f}x (results agree)")

    with tempfile.TemporaryDirectory() as folder:
        ref, pred = Path(folder, "metadata"), Path(folder, "outputs")
        for index, (reference, prediction) in enumerate(pairs):
            name = f"fold1_room1_mix{index + 1:03d}_ov2.csv"
            write_metadata(ref / name, reference)
            write_output(pred / name, prediction)

        print("\n2. reading the CSV files and scoring, in this process")
        times, results = _best_times(
            {
                "package": lambda: score_folders(ref, pred),
                "official": lambda: official_style_score.score_folders(str(ref), str(pred)),
            },
            args.repeats,
        )
        _official_counts_agree(results["package"], results["official"])
        print(f"   seld_tf.metrics.scoring.score_folders: {times['package']:8.3f} s")
        print(f"   official_style_score.score_folders:    {times['official']:8.3f} s")
        print(f"   ratio: {times['official'] / times['package']:.1f}x (counts agree)")

        print("\n3. whole processes")
        console_script = Path(sys.executable).with_name("seld-tf")
        package = [str(console_script)] if console_script.exists() else [sys.executable, "-m", "seld_tf.cli"]
        commands = {
            "package": [*package, "--quiet", "score", "--ref", str(ref), "--pred", str(pred)],
            "official": [sys.executable, official_style_score.__file__, "--ref", str(ref), "--pred", str(pred)],
        }
        runs = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                runs[name].append(_process(command))
        wall = {name: min(run[0] for run in runs[name]) for name in runs}
        memory = {name: min(run[1] for run in runs[name]) for name in runs}
        outputs = {name: runs[name][-1][2] for name in runs}
        print(f"   seld-tf score:           {wall['package']:6.2f} s {memory['package']:6.0f} MiB  {outputs['package'].strip()}")
        print(f"   official_style_score.py: {wall['official']:6.2f} s {memory['official']:6.0f} MiB  {outputs['official'].strip()}")
        print(f"   ratios: {wall['official'] / wall['package']:.1f}x less time, {memory['official'] / memory['package']:.1f}x less memory")


if __name__ == "__main__":
    main()
