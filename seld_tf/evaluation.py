"""The generic evaluator: predict a split's clips (whole or in segments),
decode each clip's outputs, score the decoded predictions against the split's
references, and report the mean compiled losses. What decoding and scoring
mean is the task's (`seld_tf.tasks`): its evaluator subclasses `Evaluator`."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

from seld_tf.pipeline import ClipRecord, predict_clips


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Scores (None for an unlabelled split), decoded predictions per clip name, and mean per-output losses."""

    scores: Any
    predictions: dict[str, Any]
    losses: dict[str, float]


class Evaluator:
    """Predicts clips, decodes them with `decode` and scores them with `score`.

    Subclasses implement `decode`, `score` and `summary`. `log_names` renames
    summary keys in the training logs (e.g. `{"SELD": "seld"}`).

    Args:
        clips: the clips (features on disk, targets for the losses).
        references: what `score` compares each clip's prediction with; None
            for unlabelled clips (predictions only, no scores).
        frames_per_label: feature frames per frame of the frame-rate outputs.
        segment_frames: feature frames per inference segment; None = whole clips.
        label_transform: maps targets to the compiled losses' targets (for
            losses on packed outputs); None = identity.
        clip_outputs: names of the model's clip-level outputs (no time axis),
            averaged over a clip's segments (`predict_clips`).
        segment_outputs: clip-level outputs kept per segment, `[num_segments, ...]`.
    """

    log_names: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        clips: Sequence[ClipRecord],
        references: Sequence[Any] | None,
        *,
        frames_per_label: int,
        segment_frames: int | None = None,
        label_transform: Callable | None = None,
        clip_outputs: Sequence[str] = (),
        segment_outputs: Sequence[str] = (),
    ):
        if references is not None and len(clips) != len(references):
            raise ValueError(f"{len(clips)} clips but {len(references)} references")
        self.clips = list(clips)
        self.references = None if references is None else list(references)
        self.frames_per_label = frames_per_label
        self.segment_frames = segment_frames
        self.label_transform = label_transform
        self.clip_outputs = tuple(clip_outputs)
        self.segment_outputs = tuple(segment_outputs)

    def decode(self, outputs: Mapping[str, np.ndarray], reference: Any | None) -> Any:
        """One clip's prediction from its outputs (no batch axis); `reference` is None when unlabelled."""
        raise NotImplementedError

    def score(self, references: Sequence[Any], predictions: Sequence[Any], outputs: Sequence[Mapping[str, np.ndarray]]) -> Any:
        """The scores of all clips' predictions against their references."""
        raise NotImplementedError

    def summary(self, scores: Any) -> dict[str, float]:
        """`scores` as a flat dict: the metrics file, and (with `log_names`) the training logs."""
        raise NotImplementedError

    def logged(self, scores: Any) -> dict[str, float]:
        """The summary under the names the training logs use."""
        return {self.log_names.get(name, name): value for name, value in self.summary(scores).items()}

    def evaluate(self, model, with_losses: bool = True) -> EvaluationResult:
        outputs = predict_clips(
            model,
            self.clips,
            frames_per_label=self.frames_per_label,
            segment_frames=self.segment_frames,
            clip_outputs=self.clip_outputs,
            segment_outputs=self.segment_outputs,
        )
        references = self.references or [None] * len(self.clips)
        decoded = [self.decode(clip_outputs, reference) for clip_outputs, reference in zip(outputs, references)]
        scores = None if self.references is None else self.score(self.references, decoded, outputs)
        losses = self._losses(model, outputs) if with_losses else {}
        return EvaluationResult(scores, {clip.name: value for clip, value in zip(self.clips, decoded)}, losses)

    def _losses(self, model, outputs: list[dict[str, np.ndarray]]) -> dict[str, float]:
        """Mean over the clips that have its target of each compiled output loss, named like Keras's training logs."""
        compiled = getattr(model, "loss", None)
        # Keras keeps the compiled dict in a trackable wrapper that is not a Mapping.
        if not hasattr(compiled, "items"):
            return {}
        totals: dict[str, list[float]] = {}
        for clip, clip_outputs in zip(self.clips, outputs):
            labels = {name: value[None] for name, value in {**clip.labels, **clip.clip_labels}.items()}
            if not labels:
                continue
            if self.label_transform is not None:
                labels = {name: np.asarray(value) for name, value in self.label_transform(labels).items()}
            for name, loss in compiled.items():
                if loss is None or name not in labels or name not in clip_outputs:
                    continue
                value = loss(labels[name], clip_outputs[name][None])
                totals.setdefault(f"{name}_loss", []).append(float(value))
        return {name: float(np.mean(values)) for name, values in totals.items()}
