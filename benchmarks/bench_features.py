"""Time in-graph TF feature extraction against the librosa/numpy reference and the DCASE2020 baseline.

All run on the same synthetic 4-channel clips (tones plus noise), one clip
at a time as a feature cache would, for the FOA and MIC formats. The TF
function is traced once (with an unknown clip length) before timing. For
FOA, the DCASE2020 baseline's own pipeline (`baseline_foa_features`: its
float64 audio, per-channel librosa STFTs into a complex128 array, its mel
and intensity-vector arithmetic) is timed too.

    .venv/bin/python benchmarks/bench_features.py --files 10 --seconds 60
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import librosa
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


def baseline_foa_features(audio: np.ndarray, sample_rate: int = 24000, hop_length: int = 480, n_mels: int = 64) -> np.ndarray:
    """FOA features `[frames, 7 * n_mels]` computed as the DCASE2020 SELD baseline's feature class does.

    Its float choices: the audio is float64 (16-bit samples / 32768 + 1e-8);
    each channel gets its own `librosa.stft` (float64 in, complex128 out; a
    Hann window of 2 hops, n_fft the next power of 2) copied into a complex128
    `[frames, bins, 4]` array; the log-mels are `librosa.power_to_db` of
    `|X|^2 @ mel` with librosa's float32 mel matrix (products in float64);
    the intensity vectors are `Re(conj(W) X)` over their norm + 1e-8, times
    the same mel matrix. ACN channel order W, Y, Z, X.
    """
    eps = 1e-8
    audio = audio.astype(np.float64) + eps
    win_length = 2 * hop_length
    n_fft = 2 ** (win_length - 1).bit_length()
    mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels).T
    frames = -(-audio.shape[0] // hop_length)
    spectra = np.zeros((frames, n_fft // 2 + 1, audio.shape[1]), dtype=complex)
    for channel in range(audio.shape[1]):
        channel_stft = librosa.stft(np.asfortranarray(audio[:, channel]), n_fft=n_fft, hop_length=hop_length,
                                    win_length=win_length, window="hann")
        spectra[:, :, channel] = channel_stft[:, :frames].T
    log_mels = np.zeros((frames, n_mels, audio.shape[1]))
    for channel in range(audio.shape[1]):
        log_mels[:, :, channel] = librosa.power_to_db(np.dot(np.abs(spectra[:, :, channel]) ** 2, mel))
    omni = np.conj(spectra[:, :, 0])
    vectors = [np.real(omni * spectra[:, :, channel]) for channel in (3, 1, 2)]  # x, y, z
    norm = np.sqrt(sum(vector ** 2 for vector in vectors)) + eps
    intensity = np.dstack([np.dot(vector / norm, mel) for vector in vectors])
    return np.concatenate([log_mels.reshape(frames, -1), intensity.reshape(frames, -1)], axis=-1)


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
    print(f"{'format':<6} {'numpy (s)':>10} {'TF (s)':>8} {'numpy / TF':>11} {'baseline (s)':>13} {'baseline / TF':>14}")
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

        def run_baseline() -> None:
            for clip in clips:
                baseline_foa_features(clip, config.sample_rate, config.hop_length, config.n_mels)

        numpy_s, tf_s = best_of(args.repeats, run_numpy), best_of(args.repeats, run_tf)
        line = f"{array_format:<6} {numpy_s:>10.2f} {tf_s:>8.2f} {numpy_s / tf_s:>11.2f}"
        if array_format == "foa" and args.preset == "dcase2020":
            baseline_s = best_of(args.repeats, run_baseline)
            line += f" {baseline_s:>13.2f} {baseline_s / tf_s:>14.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
