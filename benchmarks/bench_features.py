"""Time in-graph TF feature extraction against the librosa/numpy reference.

Both run on the same synthetic 4-channel clips (tones plus noise), one clip
at a time as a feature cache would, for the FOA and MIC formats. The TF
function is traced once (with an unknown clip length) before timing.

    .venv/bin/python benchmarks/bench_features.py --files 10 --seconds 60
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np
import tensorflow as tf

from seld_tf.features import compute_features, compute_features_tf, get_preset


def make_clips(num_files: int, seconds: float, sample_rate: int) -> list[np.ndarray]:
    """Reproducible 4-channel float32 clips of tones plus white noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    clips = []
    for _ in range(num_files):
        tones = np.sin(2 * np.pi * rng.uniform(100, 8000, size=4) * t[:, None])
        clips.append((0.3 * tones + 0.05 * rng.standard_normal(tones.shape)).astype(np.float32))
    return clips


def best_of(repeats: int, run: Callable[[], None]) -> float:
    """Fastest wall time of `repeats` runs: the least disturbed by other load on the machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--preset", default="dcase2020")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    config = get_preset(args.preset)
    clips = make_clips(args.files, args.seconds, config.sample_rate)
    print(f"{args.files} x {args.seconds:g} s x 4 channels, preset {args.preset!r}, "
          f"TF {tf.__version__}, {tf.config.threading.get_intra_op_parallelism_threads() or 'all'} intra-op threads")
    print(f"{'format':<6} {'numpy (s)':>10} {'TF (s)':>8} {'numpy / TF':>11}")
    for array_format in ("foa", "mic"):
        extract = tf.function(
            lambda audio, array_format=array_format: compute_features_tf(audio, config, array_format),
            input_signature=[tf.TensorSpec([None, 4], tf.float32)],
        )
        extract(clips[0])  # trace outside the timing

        def run_tf() -> None:
            for clip in clips:
                extract(clip).numpy()

        def run_numpy() -> None:
            for clip in clips:
                compute_features(clip, config, array_format)

        numpy_s, tf_s = best_of(args.repeats, run_numpy), best_of(args.repeats, run_tf)
        print(f"{array_format:<6} {numpy_s:>10.2f} {tf_s:>8.2f} {numpy_s / tf_s:>11.2f}")


if __name__ == "__main__":
    main()
