"""Semi-supervised sound event detection on DESED (DCASE2022 Task 4).

Recipes name it `task: seld_tf.tasks.desed_sed:DesedSedTask`. Its recipe
groups are `data` (`DesedDataSpec`), `loss` (`DesedLossSpec`) and
`evaluation` (`DesedEvaluationSpec`).

Splits: "train", "validation" and "test" map to the DESED subsets the `data`
group names; any DESED subset name (`seld_tf.datasets.desed.SUBSETS`) is a
split too, which is how `pipeline.subsets` mixes e.g.
`{synthetic_train: 12, weak: 12, unlabeled: 24}` in every batch. With
`data.weak_split` < 1 the split "weak" is the share of the weak clips
trained on, and the split "weak_validation" the rest (scored, never trained on).

The model's contract: outputs "strong" `[B, T, 10]` and "weak" `[B, 10]`
(sigmoid probabilities), which evaluation, prediction and export use, and,
with `loss.from_logits` (the default), "strong_logits" and "weak_logits",
their pre-activations, which the losses read. A model may add the outputs of
the optional loss terms: "reconstruction" (`[B, T, F, C]`, the standardised
input features it reconstructs) and "kl" (`[B]`, each clip's KL term, e.g.
`seld_tf.models.mtl_vae2022`). Any other clip-level output must be of rank
<= 2 and every frame-level one of rank >= 3 (that is how predictions are
reassembled per clip).

Loss terms (`DesedLossSpec`; a weight of 0 drops the term and its target, so
e.g. the task ablations of Giannakopoulos & Pikrakis (2022) are recipe
settings), and which subsets feed each, by the kind of DESED subset a clip
comes from (the pipeline's per-target sample weights are 0 for the others):

- strong: frame BCE on the strong subsets (synthetic, AudioSet strong);
- weak: clip BCE on the weak subset, and on the strong subsets' clip tags
  unless `weak_from_strong: false` (MTL-VAE: weak clips only);
- reconstruction: MSE between "reconstruction" and the standardised input
  features, on the unlabeled subset only (needs `data.frames_per_label: 1`);
- kl: the mean of the "kl" output over every clip of the batch (its weight
  is the KL's beta), with a zero target;
- consistency (`loss.mean_teacher` with `consistency_weight > 0`): the mean
  teacher of the DCASE2022 baseline, the MSE between the "strong" and "weak"
  outputs of the model and of its EMA teacher on every clip, its weight
  ramped up (`seld_tf.losses.mean_teacher.MeanTeacherModel`).

Each term is the sum, over the subsets that feed it, of that subset's mean
loss (a mixed batch scales each row's sample weight by `batch / its subset's
count`), which is Eq. (1) of the MTL-VAE paper and the DCASE2022 baseline's
per-subset means; the KL and consistency terms are means over all clips.
Keras logs each term under its output's name (`strong_logits_loss`,
`weak_logits_loss`, `reconstruction_loss`, `kl_loss`, before the loss
weights; with a mean teacher also `consistency_loss` and
`consistency_weight`).

Evaluation decodes "strong" into events (threshold, optional median filter)
and scores them with sed_eval's event-based F1 (collar and percentage of
length as set, one more column per `extra_percentages_of_length`),
segment-based F1, the frame-level macro F1 of the undecoded probabilities at
0.5, and, with `psds: true`, PSDS1, PSDS2 (50 operating points) and the
intersection-based F1 of the decoded events (`seld_tf.metrics.psds`, no
psds_eval needed). With `weak_f1: true` the validation also scores the "weak"
outputs of the held-out weak clips, and `objective` sums scores into one (the
DCASE2022 baseline's `obj_metric`). The best snapshot is kept by the highest
`val_<evaluation.monitor>` (default `val_event_f1`). Official output: one
DESED prediction TSV (`filename onset offset event_label`) per split.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import scipy.ndimage

from seld_tf.datasets.desed import CLASS_NAMES, SUBSETS, DesedClip, DesedDataset, split_names
from seld_tf.datasets.strong_events import StrongEvent, events_to_roll, roll_to_events, weak_to_multihot
from seld_tf.errors import ConfigError
from seld_tf.evaluation import Evaluator
from seld_tf.features import FeatureConfig, get_preset
from seld_tf.features.extract import AudioRecord, extract_clips, extract_file
from seld_tf.fileio import atomic_open
from seld_tf.metrics.frame import frame_scores
from seld_tf.metrics.psds import PSDS_THRESHOLDS, intersection_f1, psds1, psds2
from seld_tf.metrics.sed import event_based_metrics, segment_based_metrics
from seld_tf.pipeline import ClipRecord, TargetSpec, predict_clips, predict_features
from seld_tf.recipes import field
from seld_tf.tasks.base import FeatureFrontEnd, Task

ARRAY_FORMAT = "logmel"
PREDICTION_FILE = "predictions.tsv"
PREDICTION_HEADER = ("filename", "onset", "offset", "event_label")
FILTER_TARGETS = ("probabilities", "binary")
MEDIAN_EDGES = ("reflect", "zeros")
SCORED_FILES = ("all", "with_events")
# The loss terms, in the order of `DesedLossSpec`'s weights.
TERMS = ("strong", "weak", "reconstruction", "kl")
# The outputs an exported model serves (`DesedSedTask.inference_model`).
INFERENCE_OUTPUTS = ("strong", "weak")
# [code]'s checkpoint metric (`val_out_f1_score`): frame macro F1 of the strong sigmoids at 0.5.
FRAME_THRESHOLD = 0.5
# The weak clips `data.weak_split` holds out from training.
WEAK_VALIDATION = "weak_validation"


@dataclasses.dataclass(frozen=True)
class DesedDataSpec:
    """Features, the model's time pooling, and which DESED subset each named split is.

    `frames_per_label` feature frames make one frame of the "strong" target
    (the DCASE2022 baseline pools 626 frames to 156: 4; the MTL-VAE does not
    pool: 1).

    `weak_split`: the share of the weak TSV's clips trained on (the DCASE2022
    baseline's 0.9); the others are the "weak_validation" split. The clips
    are the rows the baseline draws, `weak_df.sample(frac=weak_split,
    random_state=seed)` (`seld_tf.datasets.desed.split_names`), with seed
    `weak_split_seed`, or `training.seed` when null: the baseline draws with
    its one training seed (42 in its configuration).
    """

    features: str = "desed"
    feature_overrides: dict = dataclasses.field(default_factory=dict)
    frames_per_label: int = field(4, ge=1)
    train: str = "synthetic_train"
    validation: str = "validation"
    test: str = "public_eval"
    weak_split: float = field(1.0, gt=0, le=1)
    weak_split_seed: int | None = field(None, ge=0)


INFERENCE_NETWORKS = ("student", "teacher")


@dataclasses.dataclass(frozen=True)
class MeanTeacherSpec:
    """The mean teacher of the DCASE2022 baseline (`seld_tf.losses.mean_teacher.MeanTeacherModel`); off
    with `consistency_weight` 0 (the default).

    `consistency_weight`: the consistency MSE's weight after the ramp-up (the
    baseline's `const_max`, 2). `ema`: the teacher's EMA factor (0.999).
    `rampup_epochs`: epochs of the exponential ramp-up of the weight (50).
    `inference`: the network that predicts after training (validation scores,
    the best snapshot, evaluation, export): "student" (the baseline's
    published numbers) or "teacher". `teacher_training`: the teacher makes
    its consistency targets in training mode (dropout, BatchNorm on batch
    statistics, its own moving statistics), as the baseline's does; else in
    inference mode.
    """

    consistency_weight: float = field(0.0, ge=0)
    ema: float = field(0.999, ge=0, lt=1)
    rampup_epochs: int = field(50, ge=0)
    inference: str = "student"
    teacher_training: bool = False

    def __post_init__(self):
        if self.inference not in INFERENCE_NETWORKS:
            raise ConfigError(
                f"loss.mean_teacher.inference: expected one of {list(INFERENCE_NETWORKS)}, found {self.inference!r}"
            )
        if self.inference == "teacher" and self.consistency_weight == 0:
            raise ConfigError("loss.mean_teacher.inference: teacher needs a mean teacher (consistency_weight > 0)")


@dataclasses.dataclass(frozen=True)
class DesedLossSpec:
    """The loss terms' weights (0 drops a term) and where their targets come from (see the module docstring).

    The DCASE2022 baseline sums the strong and weak BCE; the MTL-VAE's Eq. (1)
    adds the reconstruction MSE and the KL with weight (beta) 1. The authors'
    code weighs a per-clip summed Monte-Carlo KL by 1e-4 once per subset
    call: the model's `kl_estimator: mc`, `kl_reduction: sum_per_clip` with
    `kl_weight` = 1e-4 x the number of equal-sized subsets, since the KL term
    here is the mean over all clips.

    `from_logits`: the losses read "strong_logits" and "weak_logits" (BCE
    from logits); False: the "strong" and "weak" probabilities (for models
    whose weak output has no logits, e.g. attention pooling).
    `weak_from_strong`: the strong subsets' clip tags are weak targets too.
    `mean_teacher`: `MeanTeacherSpec` (the DCASE2022 baseline: `{consistency_weight: 2.0}`).
    """

    strong_weight: float = field(1.0, ge=0)
    weak_weight: float = field(1.0, ge=0)
    reconstruction_weight: float = field(0.0, ge=0)
    kl_weight: float = field(0.0, ge=0)
    from_logits: bool = True
    weak_from_strong: bool = True
    mean_teacher: MeanTeacherSpec = MeanTeacherSpec()

    def __post_init__(self):
        if self.strong_weight == 0 and self.weak_weight == 0:
            raise ConfigError("loss: strong_weight and weak_weight are both 0, so no detection output is trained")
        extra = sorted(set(self.outputs.values()) - set(INFERENCE_OUTPUTS))
        if self.mean_teacher.inference == "teacher" and extra:
            # `DesedSedTask.inference_model` rebuilds such a model from the student's graph.
            raise ConfigError(
                f"loss.mean_teacher.inference: teacher needs a model whose only outputs are {list(INFERENCE_OUTPUTS)}, "
                f"but the losses read {extra} too (from_logits: false, no reconstruction or kl term)"
            )

    @property
    def weights(self) -> dict[str, float]:
        """Term -> weight, for every term."""
        return dict(zip(TERMS, (self.strong_weight, self.weak_weight, self.reconstruction_weight, self.kl_weight)))

    @property
    def outputs(self) -> dict[str, str]:
        """Term -> the model output its loss reads, for the terms with a weight > 0."""
        suffix = "_logits" if self.from_logits else ""
        names = {"strong": f"strong{suffix}", "weak": f"weak{suffix}", "reconstruction": "reconstruction", "kl": "kl"}
        return {term: names[term] for term, weight in self.weights.items() if weight > 0}


@dataclasses.dataclass(frozen=True)
class DesedEvaluationSpec:
    """Decoding (`roll_to_events`), the sed_eval settings of the scores, and the monitored score.

    Defaults are the DCASE2022 baseline's: threshold 0.5, a 7-frame median
    filter on the binarised frames, event collar 0.2 s with offsets allowed
    20 % of the reference length, 1 s segments. The MTL-VAE's code: threshold
    0.51, a 19-frame median filter on the probabilities with zero edges,
    percentage of length 0.5 (sed_eval's default).

    `extra_percentages_of_length`: more event-based F1 columns
    (`event_f1_pol<100 p>`, e.g. `event_f1_pol20`). `psds`: also PSDS1, PSDS2
    and the intersection F1. `scored_files`: "all" the split's files (DCASE)
    or "with_events", those with at least one reference event (the MTL-VAE
    code). `weak_f1`: the validation also scores the weak clips that
    `data.weak_split` holds out: `weak_f1`, the macro F1 of their "weak"
    probabilities above 0.5 over all classes, a class without true positives,
    false positives and false negatives counting 0, as torchmetrics'
    `MultilabelF1Score(average="macro")`, which versions of the baseline use
    (others use the older `F1`, which drops such a class and counts a
    probability of exactly 0.5; where every class is tagged in the held-out
    clips, as in DESED's, the two agree). `objective`: summary keys whose sum
    is the summary key "objective" (the baseline's `obj_metric`:
    `[intersection_f1, weak_f1]`), in the splits that have them all.
    `monitor`: the summary key that keeps the best snapshot.
    """

    threshold: float = field(0.5, gt=0, lt=1)
    median_filter: int | None = field(7, ge=1)
    filter_on: str = "binary"
    median_edges: str = "reflect"
    t_collar: float = field(0.2, gt=0)
    percentage_of_length: float = field(0.2, ge=0, le=1)
    extra_percentages_of_length: tuple[float, ...] = field((), ge=0, le=1)
    segment_seconds: float = field(1.0, gt=0)
    psds: bool = False
    scored_files: str = "all"
    weak_f1: bool = False
    objective: tuple[str, ...] = ()
    monitor: str = "event_f1"

    def __post_init__(self):
        if self.filter_on not in FILTER_TARGETS:
            raise ConfigError(f"evaluation.filter_on: expected one of {list(FILTER_TARGETS)}, found {self.filter_on!r}")
        if self.median_edges not in MEDIAN_EDGES:
            raise ConfigError(f"evaluation.median_edges: expected one of {list(MEDIAN_EDGES)}, found {self.median_edges!r}")
        if self.median_filter is not None and self.median_filter % 2 == 0:
            raise ConfigError(f"evaluation.median_filter: expected an odd number of frames, found {self.median_filter}")
        if self.scored_files not in SCORED_FILES:
            raise ConfigError(f"evaluation.scored_files: expected one of {list(SCORED_FILES)}, found {self.scored_files!r}")
        unknown = [key for key in self.objective if key not in self.summary_keys or key == "objective"]
        if unknown:
            raise ConfigError(
                f"evaluation.objective: {unknown} are not scores of this evaluation (weak_f1 needs weak_f1: true, "
                f"psds1, psds2 and intersection_f1 need psds: true); expected some of {self.summary_keys[:-1]}"
            )
        if len(set(self.objective)) != len(self.objective):
            raise ConfigError(f"evaluation.objective: a score is named twice in {list(self.objective)}")
        if self.monitor not in self.summary_keys:
            raise ConfigError(f"evaluation.monitor: expected one of {self.summary_keys}, found {self.monitor!r}")

    @property
    def summary_keys(self) -> list[str]:
        """The keys of `DesedEvaluator.summary` (the metrics files, and `val_<key>` in the training logs)."""
        keys = ["event_f1", "event_f1_micro"]
        for percentage in self.extra_percentages_of_length:
            keys += [f"event_f1_{_pol(percentage)}", f"event_f1_micro_{_pol(percentage)}"]
        keys += ["segment_f1", "segment_f1_micro", "frame_f1"]
        if self.psds:
            keys += ["psds1", "psds2", "intersection_f1"]
        if self.weak_f1:
            keys.append("weak_f1")
        if self.objective:
            keys.append("objective")
        return keys


def _pol(percentage: float) -> str:
    return f"pol{100 * percentage:g}"


def label_rate(config: FeatureConfig, frames_per_label: int) -> float:
    """Frames per second of the "strong" target and output."""
    return config.sample_rate / config.hop_length / frames_per_label


def write_prediction_tsv(predictions: Mapping[str, Sequence[StrongEvent]], out_path: str | os.PathLike) -> None:
    """A DESED prediction TSV: header, then one row per event, files in the order given."""
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_path, "w", encoding="utf-8", newline="") as handle:
        handle.write("\t".join(PREDICTION_HEADER) + "\n")
        for filename, events in predictions.items():
            handle.writelines(f"{filename}\t{onset:.3f}\t{offset:.3f}\t{label}\n" for onset, offset, label in events)


def clip_outputs(model) -> tuple[str, ...]:
    """The model's clip-level outputs: those of rank <= 2 (`[B]`, `[B, K]`); "weak" for a model without output shapes (an export)."""
    outputs = getattr(model, "output", None)
    if isinstance(outputs, Mapping):
        return tuple(name for name, tensor in outputs.items() if len(tensor.shape) <= 2)
    return ("weak",)


class DesedEvaluator(Evaluator):
    """Decodes "strong" probabilities into events and scores them (see `DesedEvaluationSpec`).

    References are each clip's annotated events (`DesedClip.events`), not the
    target rolls, which quantise times to the label frames. `durations` (one
    per clip, seconds) are needed for PSDS. `weak_clips` and their multi-hot
    `weak_references` `[N, 10]` are scored by the "weak" output (`weak_f1`).
    """

    def __init__(
        self,
        clips: Sequence[ClipRecord],
        references: Sequence[Sequence[StrongEvent]] | None,
        *,
        frames_per_label: int,
        frame_rate: float,
        spec: DesedEvaluationSpec,
        durations: Sequence[float] | None = None,
        label_transform: Callable | None = None,
        weak_clips: Sequence[ClipRecord] = (),
        weak_references: np.ndarray | None = None,
    ):
        super().__init__(
            clips, references, frames_per_label=frames_per_label, label_transform=label_transform, clip_outputs=("weak",)
        )
        if spec.psds and (durations is None or len(durations) != len(self.clips)):
            raise ValueError("evaluation.psds needs one duration per clip")
        self.frame_rate = frame_rate
        self.spec = spec
        self.durations = None if durations is None else list(durations)
        self.weak_clips = list(weak_clips)
        self.weak_references = weak_references
        if self.weak_clips and (weak_references is None or len(weak_references) != len(self.weak_clips)):
            raise ValueError("weak_clips need one multi-hot weak reference each")

    def evaluate(self, model, with_losses: bool = True):
        # The training model has more clip outputs than "weak" ("weak_logits", "kl").
        self.clip_outputs = clip_outputs(model)
        result = super().evaluate(model, with_losses)
        if not self.weak_clips or result.scores is None:
            return result
        outputs = predict_clips(model, self.weak_clips, frames_per_label=self.frames_per_label, clip_outputs=self.clip_outputs)
        tagged = np.stack([output["weak"] for output in outputs]) > FRAME_THRESHOLD
        # Clips as the rows of one roll: frame_scores' macro F1 counts every class, as torchmetrics does.
        weak_f1 = frame_scores(self.weak_references, tagged).macro_f
        return dataclasses.replace(result, scores={**result.scores, "weak_f1": weak_f1})

    def decode(self, outputs, reference):
        return decode_strong(outputs["strong"], self.frame_rate, self.spec)

    def score(self, references, predictions, outputs) -> dict:
        spec = self.spec
        names = [clip.name for clip in self.clips]
        kept = [i for i, events in enumerate(references) if spec.scored_files == "all" or len(events)]
        reference = {names[i]: references[i] for i in kept}
        estimated = {names[i]: predictions[i] for i in kept}

        def events(percentage):
            return event_based_metrics(
                reference,
                estimated,
                CLASS_NAMES,
                t_collar=spec.t_collar,
                percentage_of_length=percentage,
                empty_system_output_handling="zero_score",
            )

        scores = {
            "event": events(spec.percentage_of_length),
            "extra_event": {percentage: events(percentage) for percentage in spec.extra_percentages_of_length},
            # Like the baseline, file lengths come from the events, not the audio durations.
            "segment": segment_based_metrics(reference, estimated, CLASS_NAMES, time_resolution=spec.segment_seconds),
            "frame_f1": self._frame_f1([references[i] for i in kept], [outputs[i]["strong"] for i in kept]),
        }
        if spec.psds:
            scores["psds"] = self._psds(
                reference, estimated, {names[i]: outputs[i]["strong"] for i in kept}, {names[i]: self.durations[i] for i in kept}
            )
        return scores

    def _frame_f1(self, references, probabilities) -> float:
        """Frame macro F1 over all frames of all clips pooled, undecoded sigmoids at 0.5 (the MTL-VAE code's
        checkpoint metric; every class counts, one without true positives with F 0)."""
        rolls = [events_to_roll(events, CLASS_NAMES, len(p), self.frame_rate) for events, p in zip(references, probabilities)]
        return frame_scores(np.concatenate(rolls), np.concatenate(probabilities) >= FRAME_THRESHOLD).macro_f

    def _psds(self, reference, estimated, probabilities, durations) -> dict[str, float]:
        """PSDS1 and PSDS2 over the 50 operating points `PSDS_THRESHOLDS`, each decoded with the recipe's median
        filter, and the intersection F1 (dtc = gtc = 0.5, cttc 0.3) of the decoded predictions; NaN where
        psds_eval refuses (fewer than two classes in the reference)."""
        spec = self.spec
        tables = [{} for _ in PSDS_THRESHOLDS]
        for name, values in probabilities.items():
            # A median commutes with thresholding: filter once, threshold 50 times (`roll_to_events`).
            filtered = median_filter_frames(values, spec.median_filter, spec.median_edges)
            for table, threshold in zip(tables, PSDS_THRESHOLDS):
                table[name] = roll_to_events(filtered, CLASS_NAMES, self.frame_rate, threshold=float(threshold))
        scores = {}
        for key, scenario in (("psds1", psds1), ("psds2", psds2)):
            try:
                scores[key] = scenario(reference, tables, durations)
            except ValueError:
                scores[key] = math.nan
        try:
            scores["intersection_f1"] = intersection_f1(reference, estimated, durations)[0]
        except ValueError:
            scores["intersection_f1"] = math.nan
        return scores

    def summary(self, scores) -> dict[str, float]:
        summary = {
            "event_f1": scores["event"]["class_wise_average"]["f_measure"]["f_measure"],
            "event_f1_micro": scores["event"]["overall"]["f_measure"]["f_measure"],
        }
        for percentage, event in scores["extra_event"].items():
            summary[f"event_f1_{_pol(percentage)}"] = event["class_wise_average"]["f_measure"]["f_measure"]
            summary[f"event_f1_micro_{_pol(percentage)}"] = event["overall"]["f_measure"]["f_measure"]
        summary["segment_f1"] = scores["segment"]["class_wise_average"]["f_measure"]["f_measure"]
        summary["segment_f1_micro"] = scores["segment"]["overall"]["f_measure"]["f_measure"]
        summary["frame_f1"] = scores["frame_f1"]
        summary.update(scores.get("psds", {}))
        if "weak_f1" in scores:
            summary["weak_f1"] = scores["weak_f1"]
        objective = self.spec.objective
        if objective and all(key in summary for key in objective):
            summary["objective"] = sum(summary[key] for key in objective)
        return summary


def median_filter_frames(probabilities: np.ndarray, window: int | None, edges: str) -> np.ndarray:
    """Each class's frames `[T, K]` median-filtered over `window` frames (None: unchanged), as `roll_to_events` filters."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if window is None:
        return probabilities
    mode = {"reflect": "reflect", "zeros": "constant"}[edges]
    return scipy.ndimage.median_filter(probabilities, size=(int(window), 1), mode=mode, cval=0.0)


def decode_strong(probabilities: np.ndarray, frame_rate: float, spec: DesedEvaluationSpec) -> list[StrongEvent]:
    """Events of one clip's "strong" probabilities `[T, 10]`."""
    return roll_to_events(
        probabilities,
        CLASS_NAMES,
        frame_rate,
        threshold=spec.threshold,
        median_filter=spec.median_filter,
        filter_on=spec.filter_on,
        median_edges=spec.median_edges,
    )


def _feeds(term: str, kind: str, weak_from_strong: bool) -> bool:
    """Whether clips of a DESED subset of `kind` ("strong", "weak", "unlabeled") have the target of loss `term`."""
    if term == "strong":
        return kind == "strong"
    if term == "weak":
        return kind == "weak" or (kind == "strong" and weak_from_strong)
    if term == "reconstruction":
        return kind == "unlabeled"
    return True  # kl: every clip


class DesedSedTask(Task):
    """SED on a DESED tree (real, or the stand-in of `seld-tf synth desed`)."""

    groups = {"data": DesedDataSpec, "loss": DesedLossSpec, "evaluation": DesedEvaluationSpec}
    pipeline_augmentations = ("mixup",)
    mode = "max"

    def __init__(self, recipe):
        super().__init__(recipe)
        self.frames_per_label = recipe.data.frames_per_label
        loss = recipe.loss
        if "reconstruction" in loss.outputs and self.frames_per_label != 1:
            raise ConfigError(
                f"loss.reconstruction_weight > 0 needs data.frames_per_label 1 (the reconstruction has the input's "
                f"frames), found {self.frames_per_label}"
            )
        kinds = {SUBSETS[subset].kind for subset in self._training_subsets()}
        for term in loss.outputs:
            if not any(_feeds(term, kind, loss.weak_from_strong) for kind in kinds):
                raise ConfigError(
                    f"loss.{term}_weight > 0 but no training subset ({', '.join(self._training_subsets())}) "
                    f"has {term} targets; add one to pipeline.subsets or set the weight to 0"
                )
        if recipe.evaluation.weak_f1 and recipe.data.weak_split == 1:
            raise ConfigError("evaluation.weak_f1 needs held-out weak clips: data.weak_split < 1 (the baseline's 0.9)")
        trained = [recipe.data.train, *(recipe.pipeline.subsets or {})]
        if WEAK_VALIDATION in trained:
            raise ConfigError(
                f"{WEAK_VALIDATION} is held out for validation; train on the split weak (data.train, pipeline.subsets)"
            )

    @property
    def monitor(self) -> str:
        return f"val_{self.recipe.evaluation.monitor}"

    def _subset(self, split: str) -> str:
        data = self.recipe.data
        named = {"train": data.train, "validation": data.validation, "test": data.test, WEAK_VALIDATION: "weak"}
        subset = named.get(split, split)
        if subset not in SUBSETS:
            raise ConfigError(
                f"unknown split {split!r} (DESED subset {subset!r}); expected train, validation, test, "
                f"{WEAK_VALIDATION} or a DESED subset: {', '.join(SUBSETS)}"
            )
        return subset

    def _split_clips(self, split: str) -> list[DesedClip]:
        """The clips of `split`: its subset's, less the held-out weak clips (or only them, for "weak_validation")."""
        subset = self._subset(split)
        clips = self.dataset.clips(subset)
        data = self.recipe.data
        if subset != "weak" or data.weak_split == 1:
            if split == WEAK_VALIDATION:
                raise ConfigError(
                    f"split {WEAK_VALIDATION} needs held-out weak clips: data.weak_split < 1 (the baseline's 0.9)"
                )
            return clips
        seed = self.recipe.training.seed if data.weak_split_seed is None else data.weak_split_seed
        kept, held_out = split_names(self.dataset.listed(subset), data.weak_split, seed)
        chosen = set(held_out if split == WEAK_VALIDATION else kept)
        # TSV order, as the other subsets' clips.
        return [clip for clip in clips if clip.name in chosen]

    def _training_subsets(self) -> list[str]:
        return [self._subset(name) for name in (self.recipe.pipeline.subsets or {"train": None})]

    def prepare(self, data_dir, cache_dir=None, *, progress: bool = True, log=print) -> None:
        data = self.recipe.data
        self.data_dir = Path(data_dir)
        self.dataset = DesedDataset(data_dir)
        self.feature_config = get_preset(data.features, **data.feature_overrides)
        if cache_dir is None:
            cache_dir = self.data_dir / "feature_cache" / data.features
        # Only the subsets the recipe uses: a real DESED tree holds thousands of clips it may not.
        training = self._training_subsets()
        evaluated = ["validation", "test", *([WEAK_VALIDATION] if self.recipe.evaluation.weak_f1 else [])]
        used = dict.fromkeys([*training, *(self._subset(split) for split in evaluated)])
        used = [subset for subset in used if subset in self.dataset.subsets]
        records = [AudioRecord(self._entry(subset, clip.name), clip.path) for subset in used for clip in self.dataset.clips(subset)]
        scaler_names = [self._entry(subset, clip.name) for subset in training for clip in self._split_clips(subset)]
        self.cache = extract_clips(
            records, cache_dir, self.feature_config, ARRAY_FORMAT, scaler_names=scaler_names, progress=progress, log=log
        )

    @staticmethod
    def _entry(subset: str, filename: str) -> str:
        # Subsets reuse file names (synthetic_train and synthetic_validation are both 0.wav, 1.wav, ...).
        return f"{subset}-{Path(filename).stem}"

    def clips(self, split: str, with_targets: bool = True):
        subset = self._subset(split)
        clips = self._split_clips(split)
        if not clips:
            weak_split = self.recipe.data.weak_split
            share = f" with data.weak_split {weak_split}" if subset == "weak" and weak_split < 1 else ""
            raise ConfigError(f"no clips of split {split!r} (DESED subset {subset!r}){share} in {self.dataset.root}")
        kind = SUBSETS[subset].kind
        loss = self.recipe.loss
        # The targets of this subset's clips, by output name (module docstring).
        strong, weak = (
            loss.outputs[term] if with_targets and term in loss.outputs and _feeds(term, kind, loss.weak_from_strong) else None
            for term in ("strong", "weak")
        )
        rate = label_rate(self.feature_config, self.frames_per_label)
        records = []
        for clip in clips:
            path = self.cache.entry_path(self._entry(subset, clip.name))
            labels, clip_labels = {}, {}
            if strong:
                num_frames = math.ceil(np.load(path, mmap_mode="r").shape[0] / self.frames_per_label)
                labels[strong] = events_to_roll(clip.events, CLASS_NAMES, num_frames, rate)
            if weak:
                clip_labels[weak] = weak_to_multihot(clip.weak, CLASS_NAMES)
            # Named by file name: the prediction TSV's `filename` column.
            records.append(ClipRecord(clip.name, os.fspath(path), labels, clip_labels))
        references = [clip.events for clip in clips] if with_targets and kind == "strong" else None
        return records, references

    def targets(self) -> Mapping[str, TargetSpec]:
        """The labelled targets; "reconstruction" and "kl" are made per batch by `train_dataset`."""
        outputs = self.recipe.loss.outputs
        specs = {"strong": TargetSpec("frame", (len(CLASS_NAMES),)), "weak": TargetSpec("clip", (len(CLASS_NAMES),))}
        return {outputs[term]: spec for term, spec in specs.items() if term in outputs}

    def train_dataset(self, label_transform: Callable | None):
        """The base's batches, each subset's rows weighted to its mean, with the "reconstruction" and "kl" targets added.

        Rows of subset `s` (`c_s` of the batch's `B` rows) have their sample
        weights multiplied by `B / c_s`, so that Keras's mean over the batch
        gives the sum of the subsets' means. "reconstruction" is the batch's
        standardised features (as the model's scaler layer standardises
        them), weighted on the unlabeled rows only; "kl" is zeros, weight 1
        on every row (the mean over all clips).
        """
        import tensorflow as tf

        dataset, steps = super().train_dataset(label_transform)
        return dataset.map(self._complete_batch(), num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE), steps

    def augmentations(self) -> list:
        """`pipeline.mixup`: `seld_tf.augment.Mixup`, pairing clips of the same subset."""
        mixup = self.recipe.pipeline.mixup
        if not mixup:
            return []
        from seld_tf.augment import Mixup

        return [Mixup(**mixup, seed=self.recipe.training.seed + 3)]

    def _complete_batch(self) -> Callable:
        import keras
        import tensorflow as tf

        pipeline, loss = self.recipe.pipeline, self.recipe.loss
        counts = dict(pipeline.subsets or {"train": pipeline.batch_size})
        total = sum(counts.values())
        scale = tf.constant(np.concatenate([np.full(count, total / count) for count in counts.values()]), tf.float32)
        unlabeled = np.concatenate(
            [np.full(count, _feeds("reconstruction", SUBSETS[self._subset(name)].kind, False)) for name, count in counts.items()]
        )
        reconstruction_weight = tf.reshape(scale * tf.constant(unlabeled, tf.float32), (-1, 1, 1))
        outputs = loss.outputs
        if "reconstruction" in outputs:
            mean, std = self.feature_scaler()
            mean = tf.constant(mean, tf.float32)
            std = tf.constant(np.maximum(std, keras.config.epsilon()), tf.float32)

        def complete(features, labels, weights):
            weights = {name: weight * tf.reshape(scale, (-1,) + (1,) * (len(weight.shape) - 1)) for name, weight in weights.items()}
            labels = dict(labels)
            if "reconstruction" in outputs:
                labels["reconstruction"] = (features - mean) / std
                weights["reconstruction"] = reconstruction_weight
            if "kl" in outputs:
                labels["kl"] = tf.zeros([total])
                weights["kl"] = tf.ones([total])
            return features, labels, weights

        return complete

    def model_args(self) -> dict:
        return {"num_classes": len(CLASS_NAMES)}

    def functional_model(self, inputs, outputs, name: str):
        """A `MeanTeacherModel` comparing the "strong" and "weak" probabilities with `loss.mean_teacher`, else a plain model."""
        spec = self.recipe.loss.mean_teacher
        if spec.consistency_weight == 0:
            return super().functional_model(inputs, outputs, name)
        from seld_tf.losses.mean_teacher import MeanTeacherModel

        return MeanTeacherModel(
            inputs,
            outputs,
            name=name,
            consistency_outputs=INFERENCE_OUTPUTS,
            consistency_weight=spec.consistency_weight,
            ema=spec.ema,
            rampup_epochs=spec.rampup_epochs,
            inference=spec.inference,
            teacher_training=spec.teacher_training,
        )

    def compile_args(self) -> tuple[dict, Callable | None]:
        import keras

        from seld_tf.losses.vae import OutputMeanLoss

        spec = self.recipe.loss
        losses = {
            "strong": keras.losses.BinaryCrossentropy(from_logits=spec.from_logits),
            "weak": keras.losses.BinaryCrossentropy(from_logits=spec.from_logits),
            "reconstruction": keras.losses.MeanSquaredError(),
            "kl": OutputMeanLoss(),
        }
        outputs, weights = spec.outputs, spec.weights
        return {
            "loss": {output: losses[term] for term, output in outputs.items()},
            "loss_weights": {output: weights[term] for term, output in outputs.items()},
        }, None

    def evaluator(self, split: str, label_transform: Callable | None = None) -> DesedEvaluator:
        """The split's evaluator; "validation" with `evaluation.weak_f1` also scores the held-out weak clips."""
        clips, references = self.clips(split)
        weak_clips, weak_references = [], None
        if split == "validation" and self.recipe.evaluation.weak_f1:
            weak_clips, _ = self.clips(WEAK_VALIDATION, with_targets=False)
            weak_references = np.stack([weak_to_multihot(clip.weak, CLASS_NAMES) for clip in self._split_clips(WEAK_VALIDATION)])
        return DesedEvaluator(
            clips,
            references,
            frames_per_label=self.frames_per_label,
            frame_rate=label_rate(self.feature_config, self.frames_per_label),
            spec=self.recipe.evaluation,
            durations=[clip.duration for clip in self._split_clips(split)],
            label_transform=label_transform,
            weak_clips=weak_clips,
            weak_references=weak_references,
        )

    def write_outputs(self, predictions: Mapping[str, list[StrongEvent]], out_dir) -> None:
        write_prediction_tsv(predictions, Path(out_dir) / PREDICTION_FILE)

    def predict_audio(self, model, audio_path, record: dict) -> dict[str, list[StrongEvent]]:
        """`{audio file name: events}`, the one-file form of a split's predictions."""
        front_end = self.feature_front_end(record)
        features = extract_file(audio_path, front_end.config, ARRAY_FORMAT)
        outputs = predict_features(
            model, features, frames_per_label=front_end.frames_per_label, clip_outputs=clip_outputs(model)
        )
        rate = label_rate(front_end.config, front_end.frames_per_label)
        return {Path(audio_path).name: decode_strong(outputs["strong"], rate, self.recipe.evaluation)}

    def write_prediction(self, prediction: Mapping[str, list[StrongEvent]], out_path) -> None:
        write_prediction_tsv(prediction, out_path)

    def feature_front_end(self, record: dict) -> FeatureFrontEnd:
        return FeatureFrontEnd(FeatureConfig.from_dict(record["feature_config"]), ARRAY_FORMAT, record["frames_per_label"])

    def inference_model(self, model):
        """`model` with only its "strong" and "weak" probabilities (the logits, reconstruction and KL are for training)."""
        import keras

        outputs = getattr(model, "output", None)
        if not isinstance(outputs, Mapping) or set(outputs) <= set(INFERENCE_OUTPUTS):
            return model
        return keras.Model(model.input, {name: outputs[name] for name in INFERENCE_OUTPUTS if name in outputs}, name=model.name)
