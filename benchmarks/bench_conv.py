"""The convolutions of the paper-size EINV2 alone: GFLOP/s of TensorFlow's kernels and a Winograd one; the ceilings.

For each distinct 3 x 3 convolution shape of EINV2's conv blocks (batch 8,
160 x 256 input frames and bins, pooling (2, 2), (2, 2), (1, 2), (1, 2)),
times in float32, at the median of `--repeats` calls after one warm-up call,
each in a `tf.function`:

- "direct": `tf.nn.conv2d` (oneDNN's direct convolution on CPU, what the
  Keras layer runs);
- "winograd": Winograd's F(2 x 2, 3 x 3) minimal filtering (Lavin & Gray,
  "Fast algorithms for convolutional neural networks", CVPR 2016) written
  with TensorFlow ops: the input transform of every overlapping 4 x 4 tile,
  16 batched matmuls with the transformed filters (4 multiplications per
  output instead of 9), the output transform. It checks whether an
  algorithm with fewer multiplications could beat the direct kernel here.

Prints one row per shape: GFLOP (of the direct convolution), milliseconds
and GFLOP/s of each, their ratio, and the largest difference between the
two outputs. A second table gives, per shape and in float32 and
bfloat16, the GFLOP/s of the three kernels a training step runs: the
forward, the input gradient (`Conv2DBackpropInput`, not needed by the
first convolution of each branch) and the filter gradient
(`Conv2DBackpropFilter`). Then, per precision:

- the best rate TensorFlow reaches on the machine: the fastest of the
  convolution kernels above and the median GFLOP/s of a 4096 x 4096 x 4096
  `tf.matmul`, and what it allows the whole forward (its convolutions plus
  the transformers' matmuls, `transformer_gflop_per_sample`) and the whole
  training step (the three kernels of every convolution, three times the
  transformers' matmuls) at most;
- the sum of the network's convolution times at the rates measured (each
  shape times its number of layers), for the forward and the training
  step. The sum is an estimate, not a bound: inside the network the two
  branches' convolutions can overlap.

The float32 forward of the whole paper-size network
(`bench_einv2_step.build_einv2_step`, `predict_on_batch`, median of
`--repeats`) is timed in the same process before and after the tables,
since the host's speed drifts between runs.

    .venv/bin/python benchmarks/bench_conv.py [--repeats 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics

from bench_einv2_step import build_einv2_step, timed

BATCH = 8
# (frames, bins, in channels, out channels, layers of this shape in the network's two branches,
#  of them the layers whose input gradient training computes: all but each branch's first, which sees the features)
EINV2_CONVS = (
    (160, 256, 4, 64, 1, 0),
    (160, 256, 7, 64, 1, 0),
    (160, 256, 64, 64, 2, 2),
    (80, 128, 64, 128, 2, 2),
    (80, 128, 128, 128, 2, 2),
    (40, 64, 128, 256, 2, 2),
    (40, 64, 256, 256, 2, 2),
    (40, 32, 256, 512, 2, 2),
    (40, 32, 512, 512, 2, 2),
)
PRECISIONS = ("float32", "bfloat16")
KERNELS = ("forward", "input gradient", "filter gradient")
# F(2 x 2, 3 x 3): Y = A^T [(G g G^T) * (B^T d B)] A for a 4 x 4 input tile d and a 3 x 3 filter g.
FILTER_TRANSFORM = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))


def winograd_conv(x, transformed_filter):
    """3 x 3 'same' convolution of `x` `[B, H, W, C]` (H, W even) with a `[16, C, K]` transformed filter."""
    import tensorflow as tf

    batch, height, width, channels = x.shape
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])

    def input_transform(values, axis):
        # B^T along `axis` (1: rows, 2: columns): element i of every stride-2 tile is values[i::2], then 4 combinations.
        size = height if axis == 1 else width
        r = [values[:, i:i + size:2] if axis == 1 else values[:, :, i:i + size:2] for i in range(4)]
        return [r[0] - r[2], r[1] + r[2], r[2] - r[1], r[1] - r[3]]

    tiles = [tile for rows in input_transform(padded, 1) for tile in input_transform(rows, 2)]
    products = tf.matmul(tf.reshape(tf.stack(tiles), [16, -1, channels]), transformed_filter)
    m = tf.reshape(products, [4, 4, batch, height // 2, width // 2, -1])
    rows = (m[0] + m[1] + m[2], m[1] - m[2] - m[3])  # A^T along the tile rows, then along the columns
    outputs = tf.stack([tf.stack([r[0] + r[1] + r[2], r[1] - r[2] - r[3]]) for r in rows])  # [2, 2, B, H/2, W/2, K]
    return tf.reshape(tf.transpose(outputs, [2, 3, 0, 4, 1, 5]), [batch, height, width, -1])


def transformer_gflop_per_sample(frames: int = 40, width: int = 512, feed_forward: int = 1024,
                                 layers: int = 8) -> float:
    """The matmuls of EINV2's 2 tracks x 2 tasks x 2 encoder layers: projections, attention, feed-forward."""
    per_token = 2 * (4 * width * width + 2 * width * feed_forward + 2 * frames * width)
    return layers * frames * per_token / 1e9


def median_seconds(run, repeats: int) -> float:
    """Median wall time of `repeats` calls of `run` (which returns when its result is computed) after one call."""
    return statistics.median(timed(run, 1, repeats)[0])


def conv_kernels(x, kernel):
    """The three `tf.function`s a training step runs for one convolution, each on its own inputs: name -> call."""
    import tensorflow as tf

    output_gradient = tf.ones(x.shape[:3] + kernel.shape[3:], x.dtype)
    forward = tf.function(lambda: tf.nn.conv2d(x, kernel, 1, "SAME"))
    input_gradient = tf.function(
        lambda: tf.compat.v1.nn.conv2d_backprop_input(x.shape, kernel, output_gradient, [1, 1, 1, 1], "SAME"))
    filter_gradient = tf.function(
        lambda: tf.compat.v1.nn.conv2d_backprop_filter(x, kernel.shape, output_gradient, [1, 1, 1, 1], "SAME"))
    return dict(zip(KERNELS, (forward, input_gradient, filter_gradient)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    model, features, _ = build_einv2_step(BATCH, 160)
    forward = [median_seconds(lambda: model.predict_on_batch(features), args.repeats)]
    rng = np.random.default_rng(0)
    transform = np.array(FILTER_TRANSFORM, np.float32)
    # seconds[precision][kernel]: the network's total per batch; best[precision]: the fastest kernel's GFLOP/s.
    seconds = {precision: dict.fromkeys(KERNELS, 0.0) for precision in PRECISIONS}
    best = dict.fromkeys(PRECISIONS, 0.0)
    forward_gflop = training_gflop = 0.0
    winograd_rows, training_rows = [], []
    for height, width, channels, filters, layers, input_gradients in EINV2_CONVS:
        x = tf.constant(rng.standard_normal((BATCH, height, width, channels), np.float32))
        kernel = (rng.standard_normal((3, 3, channels, filters)) / np.sqrt(9 * channels)).astype(np.float32)
        transformed = tf.constant(np.einsum("ai,ijck,bj->abck", transform, kernel, transform).reshape(16, channels, filters))
        winograd = tf.function(lambda inputs, transformed=transformed: winograd_conv(inputs, transformed))
        gflop = 2 * BATCH * height * width * channels * filters * 9 / 1e9
        forward_gflop += layers * gflop
        training_gflop += (2 * layers + input_gradients) * gflop
        difference = float(np.abs(tf.nn.conv2d(x, kernel, 1, "SAME").numpy() - winograd(x).numpy()).max())
        winograd_s = median_seconds(lambda: winograd(x).numpy(), args.repeats)
        shape_seconds = {}  # precision -> kernel -> seconds for this shape
        for precision in PRECISIONS:
            kernels = conv_kernels(tf.cast(x, precision), tf.constant(kernel, precision))
            shape_seconds[precision] = {name: median_seconds(lambda run=run: run().numpy(), args.repeats)
                                        for name, run in kernels.items()}
            for name, count in zip(KERNELS, (layers, input_gradients, layers)):
                seconds[precision][name] += count * shape_seconds[precision][name]
                best[precision] = max(best[precision], gflop / shape_seconds[precision][name])
        direct_s = shape_seconds["float32"]["forward"]
        shape = f"{BATCH} x {height} x {width}, {channels} -> {filters}"
        winograd_rows.append(f"| {shape} | {layers} | {gflop:.2f} | {direct_s * 1e3:.0f} | {gflop / direct_s:.0f} | "
                             f"{winograd_s * 1e3:.0f} | {gflop / winograd_s:.0f} | {winograd_s / direct_s:.2f} | "
                             f"{difference:.1e} |")
        training_rows.append(f"| {shape} | {layers} | {input_gradients} | "
                             + " | ".join(f"{gflop / shape_seconds[precision][name]:.0f}"
                                          for precision in PRECISIONS for name in KERNELS) + " |")
    forward.append(median_seconds(lambda: model.predict_on_batch(features), args.repeats))

    print("| shape (B x H x W, C -> K) | layers | GFLOP | direct ms | direct GFLOP/s | Winograd ms | "
          "Winograd GFLOP/s equivalent | Winograd / direct time | max difference |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(winograd_rows))
    print("\n| shape (B x H x W, C -> K) | layers | layers with an input gradient | "
          + " | ".join(f"{precision} {name} GFLOP/s" for precision in PRECISIONS for name in KERNELS) + " |")
    print("|---|---|---|" + "---|" * len(PRECISIONS) * len(KERNELS))
    print("\n".join(training_rows))

    transformers = transformer_gflop_per_sample()
    forward_per_sample = forward_gflop / BATCH + transformers
    training_per_sample = training_gflop / BATCH + 3 * transformers
    print(f"\nper sample: the forward {forward_per_sample:.1f} GFLOP ({forward_gflop / BATCH:.1f} in convolutions), "
          f"the training step {training_per_sample:.1f} GFLOP ({training_gflop / BATCH:.1f} in convolutions)")
    for precision in PRECISIONS:
        a = tf.cast(tf.constant(rng.standard_normal((4096, 4096), np.float32)), precision)
        matmul = tf.function(lambda a: tf.matmul(a, a))
        matmul_rate = 2 * 4096 ** 3 / 1e9 / median_seconds(lambda: matmul(a).numpy(), max(3, args.repeats // 2))
        rate = max(best[precision], matmul_rate)
        forward_s = seconds[precision]["forward"]
        training_s = sum(seconds[precision].values())
        print(f"{precision}: matmul 4096^3 {matmul_rate:.0f} GFLOP/s, fastest convolution kernel {best[precision]:.0f}; "
              f"at {rate:.0f} GFLOP/s the forward reaches at most {rate / forward_per_sample:.2f} samples/s and the "
              f"training step {rate / training_per_sample:.2f}; the convolutions at the rates above: forward "
              f"{forward_s:.2f} s per batch ({BATCH / forward_s:.2f} samples/s), training step {training_s:.2f} s "
              f"({BATCH / training_s:.2f} samples/s)")
    print(f"\nthe network's float32 forward before and after the tables: {forward[0]:.2f} and {forward[1]:.2f} s per "
          f"batch ({forward[0] / seconds['float32']['forward']:.2f} and {forward[1] / seconds['float32']['forward']:.2f} "
          f"x the sum of its convolutions)")


if __name__ == "__main__":
    main()
