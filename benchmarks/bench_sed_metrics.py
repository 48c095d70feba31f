"""Time `seld_tf.metrics.sed` against sed_eval 0.2.1 itself, side by side.

Generates 1,000 synthetic ten-second clips (10 classes, DESED-like: 1-6
reference events per clip, 0.2-10 s long, same-class overlaps possible) and a
system output per clip that shifts onsets/offsets, misses, relabels and splits
events and adds false alarms. Scores them with:

1. segment-based, `time_resolution=1.0`;
2. event-based, the paper setting (`t_collar=0.2, percentage_of_length=0.5`, optimal);
3. event-based, the DCASE2022 setting (`percentage_of_length=0.2`,
   `empty_system_output_handling="zero_score"`, optimal);
4. event-based, greedy matching, onset only.

sed_eval is run as it is used: one `evaluate()` per clip on lists of dicts,
then `results()`; the package takes the `{filename: [(onset, offset, label)]}`
mapping. Each pair is timed alternately, best of `--repeats`, and every
number sed_eval reports is asserted equal to 1e-9.

    .venv/bin/python benchmarks/bench_sed_metrics.py [--files 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
import sed_eval

from seld_tf.metrics.sed import event_based_metrics, segment_based_metrics

LABELS = [f"class{index}" for index in range(10)]
CLIP_S = 10.0


def synthetic_clips(rng: np.random.Generator, n_files: int) -> tuple[dict, dict]:
    reference, estimated = {}, {}
    for index in range(n_files):
        ref = []
        for _ in range(int(rng.integers(1, 7))):
            onset = round(float(rng.uniform(0, 9.5)), 3)
            offset = round(min(CLIP_S, onset + float(rng.choice([rng.uniform(0.2, 1.0), rng.uniform(1.0, 10.0)]))), 3)
            ref.append((onset, offset, LABELS[int(rng.integers(len(LABELS)))]))
        est = []
        for onset, offset, label in ref:
            draw = rng.random()
            if draw < 0.15:
                continue
            if draw < 0.25:
                label = LABELS[int(rng.integers(len(LABELS)))]
            new_onset = max(0.0, onset + float(rng.normal(0, 0.2)))
            new_offset = min(CLIP_S, max(new_onset + 0.02, offset + float(rng.normal(0, 0.5))))
            if draw > 0.9 and new_offset - new_onset > 1.0:
                middle = (new_onset + new_offset) / 2
                est.append((round(new_onset, 3), round(middle - 0.1, 3), label))
                new_onset = middle + 0.1
            est.append((round(new_onset, 3), round(new_offset, 3), label))
        for _ in range(int(rng.integers(0, 3))):
            onset = float(rng.uniform(0, 9.8))
            offset = min(CLIP_S, onset + float(rng.uniform(0.1, 3.0)))
            est.append((round(onset, 3), round(offset, 3), LABELS[int(rng.integers(len(LABELS)))]))
        reference[f"clip{index:04d}.wav"] = ref
        estimated[f"clip{index:04d}.wav"] = est
    return reference, estimated


def as_dicts(name: str, events: list) -> list[dict]:
    return [{"filename": name, "onset": on, "offset": off, "event_label": label} for on, off, label in events]


def sed_eval_results(metric, reference: dict, estimated: dict, **evaluate_kwargs) -> dict:
    for name in reference:
        metric.evaluate(as_dicts(name, reference[name]), as_dicts(name, estimated[name]), **evaluate_kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return metric.results()


def assert_same(ours, theirs, path: str = "results") -> None:
    if isinstance(theirs, dict):
        for key, value in theirs.items():
            assert_same(ours[key], value, f"{path}[{key!r}]")
        return
    theirs, ours = float(theirs), float(ours)
    assert (math.isnan(theirs) and math.isnan(ours)) or abs(ours - theirs) <= 1e-9, f"{path}: {ours} != {theirs}"


def timed(function) -> tuple[float, dict]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    reference, estimated = synthetic_clips(np.random.default_rng(args.seed), args.files)
    n_ref = sum(map(len, reference.values()))
    n_est = sum(map(len, estimated.values()))
    print(f"{args.files} clips of {CLIP_S:g} s, {len(LABELS)} classes, {n_ref} reference / {n_est} estimated events")

    event_settings = {
        "event, paper (0.2 s / 50 %, optimal)": dict(t_collar=0.2, percentage_of_length=0.5),
        "event, DCASE2022 (0.2 s / 20 %, zero_score)": dict(
            t_collar=0.2, percentage_of_length=0.2, empty_system_output_handling="zero_score"
        ),
        "event, greedy, onset only": dict(evaluate_offset=False, event_matching_type="greedy"),
    }
    comparisons = {
        "segment (1 s)": (
            lambda: segment_based_metrics(reference, estimated, LABELS, time_resolution=1.0),
            lambda: sed_eval_results(
                sed_eval.sound_event.SegmentBasedMetrics(LABELS, time_resolution=1.0), reference, estimated
            ),
        )
    }
    for name, kwargs in event_settings.items():
        comparisons[name] = (
            lambda kwargs=kwargs: event_based_metrics(reference, estimated, LABELS, **kwargs),
            lambda kwargs=kwargs: sed_eval_results(
                sed_eval.sound_event.EventBasedMetrics(LABELS, **kwargs), reference, estimated
            ),
        )

    print("| metric | package | sed_eval | ratio | F (micro) | F (macro) | ER |")
    print("|---|---|---|---|---|---|---|")
    total_ours = total_theirs = 0.0
    for name, (ours_fn, theirs_fn) in comparisons.items():
        ours_s = theirs_s = math.inf
        for _ in range(args.repeats):
            elapsed, ours = timed(ours_fn)
            ours_s = min(ours_s, elapsed)
            elapsed, theirs = timed(theirs_fn)
            theirs_s = min(theirs_s, elapsed)
        assert_same(ours, theirs)
        total_ours += ours_s
        total_theirs += theirs_s
        print(
            f"| {name} | {ours_s:.3f} s | {theirs_s:.2f} s | **{theirs_s / ours_s:.0f}x** "
            f"| {ours['overall']['f_measure']['f_measure']:.4f} "
            f"| {ours['class_wise_average']['f_measure']['f_measure']:.4f} "
            f"| {ours['overall']['error_rate']['error_rate']:.4f} |"
        )
    print(f"| all four | {total_ours:.3f} s | {total_theirs:.2f} s | **{total_theirs / total_ours:.0f}x** | | | |")
    print("All numbers identical to sed_eval (to 1e-9).")


if __name__ == "__main__":
    main()
