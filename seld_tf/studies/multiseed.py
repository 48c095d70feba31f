"""Multi-seed studies: train recipes once per seed, score them, tabulate mean ± std.

A study script makes its data (`synthesize_unless_present`), runs each of its
settings over the seeds (`run_seeds`), reduces the per-seed scores
(`aggregate`) and writes markdown tables (`markdown_table`,
`write_markdown`). Calling it again after a kill, or with more seeds, trains
only what is missing: a finished run is never retrained, an interrupted one
resumes (`seld_tf.runs`).

The spread over seeds is the sample standard deviation (ddof=1), the usual
"mean ± std over N trials" of a paper's table. With one seed it is undefined
(NaN), and the cell shows the mean alone.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import shlex
import sys
from pathlib import Path
from time import perf_counter
from typing import Callable, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from seld_tf.datasets.synth.seld import SeldSynthConfig, synthesize_seld_dataset
from seld_tf.fileio import atomic_open, write_json
from seld_tf.runs import RunFolder, evaluate_run

MINUTES_RECORD = "study_minutes.json"


def synthesize_unless_present(
    out_dir: str | os.PathLike, config: SeldSynthConfig, synthesize: Callable = synthesize_seld_dataset
) -> None:
    """Write a synthetic dataset with `synthesize(out_dir, config)` unless `out_dir` holds a complete one.

    Synthesis writes `synth_config.json` last, so a dataset cut short by a
    kill is made again.
    """
    if not (Path(out_dir) / "synth_config.json").exists():
        synthesize(out_dir, config, progress=False)


@dataclasses.dataclass(frozen=True)
class SeedResult:
    """One seed's run of a recipe.

    Attributes:
        seed: `training.seed`.
        run_dir: the run folder.
        minutes: training minutes, summed over every invocation that trained it.
        scores: split -> its scores (`evaluate_run`).
    """

    seed: int
    run_dir: Path
    minutes: float
    scores: dict[str, dict]

    def sample(self, split: str) -> dict[str, float]:
        """The scores of `split` and the training `minutes`: what a table row aggregates over the seeds."""
        return {**self.scores[split], "minutes": self.minutes}


def run_seeds(
    recipe,
    seeds: Sequence[int],
    data_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    splits: Sequence[str] = ("validation", "test"),
    train_fn: Callable | None = None,
    evaluate_fn: Callable = evaluate_run,
    log: Callable = functools.partial(print, flush=True),
) -> list[SeedResult]:
    """Train `recipe` once per seed unless finished, score `splits` of each best snapshot.

    Seed `k` trains `recipe` with `training.seed: k` into
    `work_dir/<recipe.name>/seed<k>`; a finished run is left as it is, any
    other is trained (an interrupted one resumes). The training minutes of
    every invocation, a killed one included, are added to the run's
    `study_minutes.json`.

    The scores of a split are those of the run's `metrics_<split>.json`
    when it was written after the run finished (the best snapshot cannot
    change any more); otherwise the split is evaluated, which writes it.

    Args:
        recipe: the recipe; its `training.seed` is replaced by each seed.
        train_fn: `seld_tf.training.train` by default (imported on use: it loads Keras).
        evaluate_fn: `seld_tf.runs.evaluate_run` by default.
        log: receives one line per seed with its scores.

    Returns:
        One `SeedResult` per seed, in the order of `seeds`.
    """
    if train_fn is None:
        from seld_tf.training import train as train_fn
    results = []
    for seed in seeds:
        run_dir = Path(work_dir) / recipe.name / f"seed{seed}"
        minutes = _train_unless_finished(train_fn, recipe.replace(training={"seed": seed}), data_dir, run_dir, cache_dir)
        scores = {split: _scores(evaluate_fn, run_dir, data_dir, split, cache_dir) for split in splits}
        log(f"{recipe.name} seed {seed}: {json.dumps(scores)}")
        results.append(SeedResult(seed, run_dir, minutes, scores))
    return results


def _train_unless_finished(train_fn, recipe, data_dir, run_dir: Path, cache_dir) -> float:
    record = run_dir / MINUTES_RECORD
    minutes = json.loads(record.read_text(encoding="utf-8"))["minutes"] if record.exists() else 0.0
    if RunFolder(run_dir).finished:
        return minutes
    start = perf_counter()
    try:
        train_fn(recipe, data_dir, run_dir, cache_dir=cache_dir, verbose=2, progress=False)
    finally:
        minutes += (perf_counter() - start) / 60
        write_json(record, {"minutes": minutes})
    return minutes


def _scores(evaluate_fn, run_dir: Path, data_dir, split: str, cache_dir) -> dict:
    run = RunFolder(run_dir)
    metrics = run.path / f"metrics_{split}.json"
    # Scores written before the run finished (`seld-tf evaluate` on a running
    # run) are of an earlier best snapshot.
    if run.finished and metrics.exists() and metrics.stat().st_mtime >= run.finished_marker.stat().st_mtime:
        return json.loads(metrics.read_text(encoding="utf-8"))
    return evaluate_fn(run_dir, data_dir, split, cache_dir=cache_dir, progress=False, log=lambda *_: None)


class MeanStd(NamedTuple):
    """A mean and the sample standard deviation (NaN for a single value)."""

    mean: float
    std: float

    def format(self, spec: str) -> str:
        """`"mean ± std"`, both with the format `spec` (e.g. ".3f"; a sign flag such as "+.3f" signs
        the mean only, since a spread has none); the mean alone when `std` is NaN."""
        if math.isnan(self.std):
            return format(self.mean, spec)
        return f"{self.mean:{spec}} ± {self.std:{spec.replace('+', '')}}"


def aggregate(samples: Sequence[Mapping[str, float]], keys: Iterable[str]) -> dict[str, MeanStd]:
    """Mean and sample standard deviation (ddof=1) of each key over `samples` (one mapping per seed).

    Raises:
        ValueError: no samples.
    """
    if not samples:
        raise ValueError("nothing to aggregate: no samples")
    aggregated = {}
    for key in keys:
        values = np.array([sample[key] for sample in samples], dtype=np.float64)
        # One value has no sample spread (np.std would warn, then give NaN).
        std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
        aggregated[key] = MeanStd(float(np.mean(values)), std)
    return aggregated


def paired_differences(
    minuend: Sequence[SeedResult], subtrahend: Sequence[SeedResult], split: str, keys: Sequence[str], scale: float = 1.0
) -> dict[int, dict[str, float]]:
    """Per training seed, `scale * (minuend - subtrahend)` of each score in `keys` on `split`: the paired
    differences of two settings run with the same seeds, which cancel what a seed does to both.

    Raises:
        ValueError: the two settings were not run with the same seeds.
    """
    first = {run.seed: run.sample(split) for run in minuend}
    second = {run.seed: run.sample(split) for run in subtrahend}
    if set(first) != set(second):
        raise ValueError(f"paired differences need the same seeds, got {sorted(first)} and {sorted(second)}")
    return {seed: {key: scale * (first[seed][key] - second[seed][key]) for key in keys} for seed in sorted(first)}


def describe_seeds(seeds: Sequence[int], figure: str = "first") -> str:
    """The sentence of a results file that says over which training seeds its cells are taken, and
    what its curves show: `figure` "first" (the first seed's runs) or "mean" (the mean over the
    seeds with a ± std band)."""
    if len(seeds) == 1:
        return f"One trial per setting (training seed {seeds[0]})"
    curves = f"the runs of seed {seeds[0]}" if figure == "first" else "the mean over the trials with a ± std band"
    return (
        f"{len(seeds)} trials per setting (training seeds {', '.join(map(str, seeds))}): cells are mean ± sample"
        f" standard deviation over the trials; the figure shows {curves}"
    )


def shown_path(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """`path` relative to the repository `root` when inside it, as a results file names it."""
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def study_command(script: str | os.PathLike, root: str | os.PathLike) -> str:
    """The command line that ran `script` with this process's arguments, as typed in the repository `root`."""
    return " ".join([".venv/bin/python", shown_path(script, root), shlex.join(sys.argv[1:])]).strip()


def mean_std_cells(samples: Sequence[Mapping[str, float]], formats: Mapping[str, str]) -> list[str]:
    """One `MeanStd.format` cell per key of `formats` (key -> format spec, e.g. ".3f"), in its order."""
    aggregated = aggregate(samples, formats)
    return [aggregated[key].format(spec) for key, spec in formats.items()]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a markdown table with one header row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def write_markdown(path: str | os.PathLike, lines: Iterable[str]) -> None:
    """Write `lines` (each without its newline) to `path` atomically.

    `lines` may be a generator: if it raises, `path` keeps its previous
    content, so a results file is never half a table.
    """
    with atomic_open(path, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
