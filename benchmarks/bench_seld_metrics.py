"""Time the vectorised DCASE2020 SELD metric against its loop reference.

Generates 100 synthetic 600-frame files (14 classes, two tracks, so 0-2 events
per frame, events 0.5-4 s long) and a plausible system output for each, scores
them with `Dcase2020SeldMetric` and with `_reference_loop_scores`, checks that
both agree and prints the timings and their ratio.

    .venv/bin/python benchmarks/bench_seld_metrics.py [--files 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import numpy as np

from seld_tf.datasets.events import EventList, wrap_azimuth
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


def _best_time(function, repeats: int) -> tuple[float, object]:
    best, result = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    pairs = [synthetic_file(rng) for _ in range(args.files)]
    rows = sum(len(ref) + len(pred) for ref, pred in pairs)
    print(f"{args.files} files x {NUM_FRAMES} frames, {NUM_CLASSES} classes, {rows} event rows")

    fast_s, fast = _best_time(lambda: compute_seld_scores(pairs), args.repeats)
    loop_s, loop = _best_time(lambda: _reference_loop_scores(pairs), args.repeats)

    exact = {f.name for f in dataclasses.fields(fast)} - {"total_de", "LE", "SELD"}
    assert all(getattr(fast, name) == getattr(loop, name) for name in exact), (fast, loop)
    assert math.isclose(fast.total_de, loop.total_de, rel_tol=1e-12), (fast.total_de, loop.total_de)
    assert math.isclose(fast.SELD, loop.SELD, rel_tol=1e-12), (fast.SELD, loop.SELD)

    print("scores:", {name: round(value, 4) for name, value in fast.to_dict().items()})
    print(f"vectorised: {fast_s:8.3f} s ({1e3 * fast_s / args.files:6.2f} ms/file)")
    print(f"loop:       {loop_s:8.3f} s ({1e3 * loop_s / args.files:6.2f} ms/file)")
    print(f"speed-up:   {loop_s / fast_s:8.1f}x (results agree)")


if __name__ == "__main__":
    main()
