"""Time seld_tf.metrics.psds against psds_eval 0.5.3 at DCASE size.

Generates 200 ten-second clips (10 classes, 0-2 events per class and clip),
turns noisy frame scores (hop 64 ms; the truth plus a confused neighbour class
plus drifting noise) into detections at the 50 thresholds 0.01 ... 0.99, and
times PSDS1, PSDS2 and the intersection F1 at 0.5, from per-file event lists in
memory to the scores: the package's functions against `PSDSEval` fed the same
events as pandas tables (building the tables is counted). Timed alternately,
best of `--repeats`; the scores are checked to agree to 1e-9.

    .venv/bin/python benchmarks/bench_psds.py [--files 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from psds_eval import PSDSEval

from seld_tf.metrics.psds import PSDS_THRESHOLDS, intersection_f1, psds1, psds2

CLASSES = [f"class_{c}" for c in range(10)]
HOP = 0.064


def _runs(active):
    edges = np.diff(np.concatenate([[0], active.astype(int), [0]]))
    return [(s * HOP, e * HOP) for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def make_case(n_files, seed=0):
    rng = np.random.default_rng(seed)
    ground_truth, durations, scores = {}, {}, {}
    for i in range(n_files):
        name = f"clip_{i:04d}.wav"
        durations[name] = 10.0
        frames = int(10.0 / HOP)
        truth = np.zeros((len(CLASSES), frames))
        events = []
        for c, label in enumerate(CLASSES):
            bounds = np.sort(rng.uniform(0.0, 10.0, 2 * int(rng.integers(0, 3))))
            for on, off in bounds.reshape(-1, 2):
                events.append((float(on), float(off), label))
                truth[c, int(on / HOP):int(off / HOP) + 1] = 1.0
        ground_truth[name] = events
        confusion = np.roll(truth, 1, axis=0) * rng.uniform(0.0, 0.5, (len(CLASSES), 1))
        noise = np.cumsum(rng.normal(0, 0.1, (len(CLASSES), frames)), axis=1) * 0.2
        scores[name] = np.clip(0.8 * truth + confusion + noise, 0, 1)
    tables = [
        {
            name: [(on, off, label) for c, label in enumerate(CLASSES) for on, off in _runs(s[c] > t)]
            for name, s in scores.items()
        }
        for t in PSDS_THRESHOLDS
    ]
    return ground_truth, tables, durations


def _frame(per_file):
    rows = [(name, on, off, label) for name, events in per_file.items() for on, off, label in events]
    return pd.DataFrame(rows, columns=["filename", "onset", "offset", "event_label"])


def package(ground_truth, tables, durations):
    f1 = intersection_f1(ground_truth, tables[int(np.argmin(abs(PSDS_THRESHOLDS - 0.5)))], durations)[0]
    return psds1(ground_truth, tables, durations), psds2(ground_truth, tables, durations), f1


def reference(ground_truth, tables, durations):
    gt = _frame(ground_truth)
    metadata = pd.DataFrame(list(durations.items()), columns=["filename", "duration"])
    frames = [_frame(table) for table in tables]
    scores = []
    for dtc, gtc, cttc, alpha_ct in ((0.7, 0.7, 0.3, 0.0), (0.1, 0.1, 0.3, 0.5)):
        evaluator = PSDSEval(dtc, gtc, cttc, ground_truth=gt, metadata=metadata)
        for frame in frames:
            evaluator.add_operating_point(frame)
        scores.append(evaluator.psds(alpha_ct, 1.0, 100).value)
    evaluator = PSDSEval(0.5, 0.5, 0.3, ground_truth=gt, metadata=metadata)
    scores.append(evaluator.compute_macro_f_score(frames[int(np.argmin(abs(PSDS_THRESHOLDS - 0.5)))])[0])
    return tuple(scores)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    case = make_case(args.files)
    n_rows = sum(len(events) for table in case[1] for events in table.values())
    print(f"{args.files} clips, {sum(len(e) for e in case[0].values())} reference events, "
          f"{n_rows} detections over {PSDS_THRESHOLDS.size} thresholds")
    best = {"package": np.inf, "psds_eval": np.inf}
    for _ in range(args.repeats):
        for name, fn in (("package", package), ("psds_eval", reference)):
            start = time.perf_counter()
            result = fn(*case)
            best[name] = min(best[name], time.perf_counter() - start)
            if name == "package":
                ours = result
            else:
                assert np.allclose(ours, result, rtol=0, atol=1e-9), (ours, result)
    print("PSDS1 %.6f  PSDS2 %.6f  intersection F1 %.6f" % ours)
    print(f"package {best['package']:.3f} s, psds_eval {best['psds_eval']:.3f} s, "
          f"ratio {best['psds_eval'] / best['package']:.1f}x")


if __name__ == "__main__":
    main()
