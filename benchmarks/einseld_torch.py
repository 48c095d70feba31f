"""EINV2 as the released PyTorch code builds it, timed like `bench_einv2_step.py` times seld_tf.

The reference side of `bench_einv2_step.py --torch PYTHON`: run by a Python
with PyTorch (`benchmarks/requirements-torch.txt`), never imported by the
package or its tests. It measures, in one process, one precision:

- "train": samples/s of one training step (forward, tPIT loss, backward,
  Adam update) on batch 8 of 160 x 256 x 7 random features and random
  trackwise targets, at the median of `--steps` steps after `--warmup`;
- "forward": samples/s of an inference forward (`eval()`, `inference_mode`),
  the same way;

in "float32" or "bfloat16" (`torch.autocast("cpu", torch.bfloat16)` around
the forward and the loss, as mixed precision is used in PyTorch), and prints
one JSON object: `bench_einv2_step.throughput_record`'s keys, as the seld_tf
side prints them, with `trainable_params`. `--channels-last` puts the network
and the features in PyTorch's channels-last memory format, which the
released code does not use: PyTorch as a user tuning it for CPU would run it.

The network is EINV2 with soft parameter sharing as the released EIN-SELD
code (yinkalario/EIN-SELD, `EINV2` in `seld/methods/ein_seld/models/seld.py`)
composes it, channels-first as there: per branch four double-conv blocks
(Conv 3x3 without bias - BatchNorm - ReLU, twice; average pooling (2, 2),
(2, 2), (1, 2), (1, 2)), the SED branch on the 4 log-mels and the DOA branch
on all 7 channels; a cross-stitch (`[C, 2, 2]`, uniform(0.1, 0.9)) after
blocks 1-3 that updates the SED stream first and mixes the updated one into
the DOA stream; the mean over frequency; per track and task two PyTorch
`TransformerEncoderLayer`s (512, 8 heads, feed-forward 1024, dropout 0.2;
sequence-first); per track a linear SED head (logits) and a tanh DOA head.
It is seld_tf's `table3_soft_trackwise_code.yaml` network, and the parameter
count printed ("trainable_params") is that model's, which the driver checks.
The loss is the released code's tPIT: per frame, the smaller over the two
track orders of 0.5 BCE (from logits) + 0.5 MSE, averaged. seld_tf's loss
masks the DOA error by the reference activity and takes BCE of sigmoid
outputs, so the two sides' loss values are not comparable; their cost (on
`[8, 40, 2, 17]` outputs) is negligible beside the network's.
"""

from __future__ import annotations

import argparse
import itertools
import json

import torch
from torch import nn

# The seld_tf side's own timing and record; that module imports no TensorFlow at load time.
from bench_einv2_step import throughput_record, timed

NUM_CLASSES, NUM_TRACKS, BINS, CHANNELS, LOG_MELS = 14, 2, 256, 7, 4
FILTERS = (64, 128, 256, 512)
POOLS = ((2, 2), (2, 2), (1, 2), (1, 2))


def double_conv(in_channels: int, out_channels: int, pool: tuple[int, int]) -> nn.Sequential:
    layers = []
    for channels in (in_channels, out_channels):
        layers += [nn.Conv2d(channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
                   nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.AvgPool2d(pool))


def transformer_stack() -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(FILTERS[-1], nhead=8, dim_feedforward=1024, dropout=0.2)
    # Nested tensors only apply with a padding mask, which EINV2 has none of; disabling them silences the warning.
    return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)


class Einv2(nn.Module):
    def __init__(self):
        super().__init__()
        widths = list(zip((LOG_MELS, *FILTERS[:-1]), (CHANNELS, *FILTERS[:-1]), FILTERS, POOLS))
        self.sed_blocks = nn.ModuleList(double_conv(sed_in, out, pool) for sed_in, _, out, pool in widths)
        self.doa_blocks = nn.ModuleList(double_conv(doa_in, out, pool) for _, doa_in, out, pool in widths)
        self.stitches = nn.ParameterList(
            nn.Parameter(torch.empty(width, 2, 2).uniform_(0.1, 0.9)) for width in FILTERS[:-1]
        )
        self.sed_tracks = nn.ModuleList(transformer_stack() for _ in range(NUM_TRACKS))
        self.doa_tracks = nn.ModuleList(transformer_stack() for _ in range(NUM_TRACKS))
        self.sed_heads = nn.ModuleList(nn.Linear(FILTERS[-1], NUM_CLASSES) for _ in range(NUM_TRACKS))
        self.doa_heads = nn.ModuleList(nn.Linear(FILTERS[-1], 3) for _ in range(NUM_TRACKS))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`x` `[B, 7, T, F]` -> SED logits `[B, T', M, K]`, DOA `[B, T', M, 3]`."""
        sed, doa = x[:, :LOG_MELS], x
        for index, (sed_block, doa_block) in enumerate(zip(self.sed_blocks, self.doa_blocks)):
            sed, doa = sed_block(sed), doa_block(doa)
            if index < len(self.stitches):
                alpha = self.stitches[index][None, :, :, :, None, None]  # [1, C, 2, 2, 1, 1] against [B, C, T, F]
                sed = alpha[:, :, 0, 0] * sed + alpha[:, :, 0, 1] * doa
                doa = alpha[:, :, 1, 0] * sed + alpha[:, :, 1, 1] * doa
        sed, doa = sed.mean(dim=3).permute(2, 0, 1), doa.mean(dim=3).permute(2, 0, 1)  # [T', B, C]
        sed_out = [head(stack(sed)).transpose(0, 1) for stack, head in zip(self.sed_tracks, self.sed_heads)]
        doa_out = [torch.tanh(head(stack(doa))).transpose(0, 1) for stack, head in zip(self.doa_tracks, self.doa_heads)]
        return torch.stack(sed_out, dim=2), torch.stack(doa_out, dim=2)


def tpit_loss(sed_logits, doa, sed_target, doa_target) -> torch.Tensor:
    """Mean over frames of the smaller, over the track orders, of 0.5 BCE + 0.5 MSE."""
    per_order = []
    for order in itertools.permutations(range(NUM_TRACKS)):
        order = list(order)
        bce = nn.functional.binary_cross_entropy_with_logits(sed_logits[:, :, order], sed_target, reduction="none")
        mse = nn.functional.mse_loss(doa[:, :, order], doa_target, reduction="none")
        per_order.append(0.5 * bce.mean(dim=(2, 3)) + 0.5 * mse.mean(dim=(2, 3)))
    return torch.stack(per_order).min(dim=0).values.mean()


def measure(precision: str, batch: int, frames: int, warmup: int, steps: int, threads: int,
            channels_last: bool = False) -> dict:
    torch.set_num_threads(threads)
    # TensorFlow's thread pools flush denormals to zero; the same here, so neither side pays for them.
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    model = Einv2()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    features = torch.randn(batch, CHANNELS, frames, BINS)
    if channels_last:
        model, features = model.to(memory_format=torch.channels_last), features.to(memory_format=torch.channels_last)
    label_frames = frames // 4
    classes = torch.randint(NUM_CLASSES, (batch, label_frames, NUM_TRACKS))
    active = (torch.rand(batch, label_frames, NUM_TRACKS) < 0.6).float()[..., None]
    sed_target = nn.functional.one_hot(classes, NUM_CLASSES).float() * active
    doa_target = nn.functional.normalize(torch.randn(batch, label_frames, NUM_TRACKS, 3), dim=-1) * active
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16")
    losses = []

    def train_step():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = tpit_loss(*model(features), sed_target, doa_target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    def forward():
        model.eval()
        with torch.inference_mode(), autocast:
            model(features)

    train, inference = timed(train_step, warmup, steps), timed(forward, warmup, steps)
    return {
        **throughput_record(f"einseld-{precision}{'+channels_last' * channels_last}", batch, train, inference, losses),
        "trainable_params": sum(parameter.numel() for parameter in model.parameters()),
        "threads": threads,
        "torch": torch.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", choices=("float32", "bfloat16"), required=True)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=160)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--channels-last", action="store_true",
                        help="the network and features in channels-last memory format (not the released code's)")
    args = parser.parse_args()
    print(json.dumps(measure(args.measure, args.batch, args.frames, args.warmup, args.steps, args.threads,
                             args.channels_last)))


if __name__ == "__main__":
    main()
