"""A straightforward implementation of the official DCASE2020 SELD scoring, reading included.

Written the way the official baseline (seld-dcase2020) scores an output folder:
each CSV is read row by row (here with the csv module) into a dict
frame -> list of [class, direction] (`load_output_format_file`), regrouped into
1 s blocks of class -> frame -> directions (`segment_labels`), and scored
block by block, class by class and frame by frame (`SELDMetrics`), the
same-class instances of a frame paired by the Hungarian method (scipy). The
counting rules are those of `seld_tf.metrics.seld` (see its docstring); the
scores use the official formulas, `eps` denominators included. It does not
import the package, so that `bench_seld_metrics.py` can time it as a process of
its own against `seld-tf score`:

    .venv/bin/python benchmarks/official_style_score.py --ref REF_DIR --pred PRED_DIR

prints the same JSON keys as `seld-tf score`. Reading uses the csv and math
modules where the official code calls numpy on every row, which makes it
faster than the official code.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os

import numpy as np
from scipy.optimize import linear_sum_assignment

NUM_CLASSES = 14
BLOCK_FRAMES = 10
DOA_THRESHOLD = 20.0
EPS = np.finfo(float).eps


def load_output_format_file(path: str) -> dict[int, list[list]]:
    """frame -> [[class, x, y, z], ...] of a polar or Cartesian DCASE2020 CSV (track ignored)."""
    output: dict[int, list[list]] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for row in csv.reader(handle):
            if not row:
                continue
            values = [float(value) for value in row[3:]]
            if len(values) == 2:
                azimuth, elevation = math.radians(values[0]), math.radians(values[1])
                x, y, z = math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation)
            else:
                norm = math.sqrt(sum(value * value for value in values))
                x, y, z = (value / norm for value in values)
            output.setdefault(int(row[0]), []).append([int(row[1]), x, y, z])
    return output


def segment_labels(frames: dict[int, list[list]], num_frames: int) -> dict[int, dict[int, dict[int, list]]]:
    """block -> class -> frame -> [(x, y, z), ...]."""
    blocks: dict[int, dict[int, dict[int, list]]] = {block: {} for block in range(-(-num_frames // BLOCK_FRAMES))}
    for frame in sorted(frames):
        for cls, *xyz in frames[frame]:
            blocks[frame // BLOCK_FRAMES].setdefault(cls, {}).setdefault(frame, []).append(xyz)
    return blocks


def least_distance(reference: list, prediction: list) -> float:
    """Sum of the angles between a frame's same-class instances paired by the Hungarian method.

    As the official `least_distance_between_gt_pred`: a numpy cost matrix and
    scipy's solver for every frame, one instance on each side included.
    """
    cost = np.rad2deg(np.arccos(np.clip(np.array(reference) @ np.array(prediction).T, -1.0, 1.0)))
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].sum())


class SeldMetrics:
    def __init__(self, num_classes: int = NUM_CLASSES, doa_threshold: float = DOA_THRESHOLD):
        self.num_classes, self.doa_threshold = num_classes, doa_threshold
        self.counts = dict.fromkeys(("tp", "fp", "fn", "S", "D", "I", "nref", "nsys", "de_tp"), 0)
        self.total_de = 0.0

    def update(self, prediction: dict, reference: dict) -> None:
        counts = self.counts
        for block in range(len(reference)):
            block_fn = block_fp = 0
            for cls in range(self.num_classes):
                in_ref, in_pred = cls in reference[block], cls in prediction[block]
                counts["nref"] += in_ref
                counts["nsys"] += in_pred
                if in_ref and in_pred:
                    ref_frames, pred_frames = reference[block][cls], prediction[block][cls]
                    total, matched = 0.0, 0
                    for frame in sorted(ref_frames):
                        if frame in pred_frames:
                            total += least_distance(ref_frames[frame], pred_frames[frame])
                            matched += 1
                    if not matched:
                        block_fn += 1
                        continue
                    distance = total / matched
                    self.total_de += distance
                    counts["de_tp"] += 1
                    if distance <= self.doa_threshold:
                        counts["tp"] += 1
                    else:
                        block_fn += 1
                elif in_ref:
                    block_fn += 1
                elif in_pred:
                    block_fp += 1
            counts["fn"] += block_fn
            counts["fp"] += block_fp
            counts["S"] += min(block_fp, block_fn)
            counts["D"] += max(0, block_fn - block_fp)
            counts["I"] += max(0, block_fp - block_fn)

    def scores(self) -> dict[str, float]:
        c = self.counts
        error_rate = (c["S"] + c["D"] + c["I"]) / (c["nref"] + EPS)
        precision, recall = c["tp"] / (c["nsys"] + EPS), c["tp"] / (c["nref"] + EPS)
        f_score = 2 * precision * recall / (precision + recall + EPS)
        localization_error = self.total_de / (c["de_tp"] + EPS) if c["de_tp"] else 180.0
        de_precision, de_recall = c["de_tp"] / (c["nsys"] + EPS), c["de_tp"] / (c["nref"] + EPS)
        localization_recall = 2 * de_precision * de_recall / (de_precision + de_recall + EPS)
        seld = (error_rate + 1 - f_score + localization_error / 180 + 1 - localization_recall) / 4
        return {"ER": error_rate, "F": f_score, "LE": localization_error, "LR": localization_recall, "SELD": seld}


def score_folders(reference_dir: str, prediction_dir: str) -> SeldMetrics:
    metrics = SeldMetrics()
    for name in sorted(os.listdir(reference_dir)):
        reference = load_output_format_file(os.path.join(reference_dir, name))
        prediction = load_output_format_file(os.path.join(prediction_dir, name))
        num_frames = max([*reference, *prediction], default=-1) + 1
        metrics.update(segment_labels(prediction, num_frames), segment_labels(reference, num_frames))
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True)
    parser.add_argument("--pred", required=True)
    args = parser.parse_args()
    print(json.dumps(score_folders(args.ref, args.pred).scores()))


if __name__ == "__main__":
    main()
