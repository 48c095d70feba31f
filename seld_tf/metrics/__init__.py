"""Evaluation metrics: the DCASE SELD scores (numpy, run on decoded event lists)."""

from seld_tf.metrics.seld import (
    BLOCK_FRAMES,
    DOA_THRESHOLD,
    Dcase2020SeldMetric,
    Dcase2021SeldMetric,
    SeldScores,
    compute_seld_scores,
)

__all__ = [
    "BLOCK_FRAMES",
    "DOA_THRESHOLD",
    "Dcase2020SeldMetric",
    "Dcase2021SeldMetric",
    "SeldScores",
    "compute_seld_scores",
]
