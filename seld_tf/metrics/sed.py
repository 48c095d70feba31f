"""Segment-based and event-based SED metrics, numerically as sed_eval 0.2.1 gives them.

Input: per file, a list of `(onset_s, offset_s, label)` tuples,
`{filename: [(onset, offset, label), ...]}` for the reference and for the
estimate. Every filename in either mapping is scored as one sed_eval
`evaluate()` call, a name missing from one mapping counting as a file with no
events there; counts are summed over files and the scores computed once at the
end, as `results()` does. (DESED-style scoring iterates over the reference
files only: restrict the estimate's keys to do that.)

Both functions return sed_eval's `results()` dictionary, same keys and values
(NaN where sed_eval gives NaN):

* `overall`: `f_measure` {`f_measure`, `precision`, `recall`} (micro),
  `error_rate` {`error_rate`, `substitution_rate`, `deletion_rate`,
  `insertion_rate`}, `accuracy` ({`accuracy`, `balanced_accuracy`,
  `sensitivity`, `specificity`} for segments, `{}` for events, as sed_eval);
* `class_wise`: per label, `f_measure`, `error_rate` (no substitutions),
  `accuracy`, `count` {`Nref`, `Nsys`};
* `class_wise_average`: the macro averages, `numpy.nanmean` over the labels,
  so a label whose value is NaN (no reference, or no output) is left out.

Added to sed_eval's keys: `overall['count']` and the rest of
`class_wise[label]['count']` hold the accumulated counts that sed_eval keeps in
its `overall` / `class_wise` attributes (same names: `Ntp`, `Nfp`, `Nfn`,
`Nsubs` or `S`/`D`/`I`, ...), plus `evaluated_files` and
`evaluated_length_seconds` (segment) / `evaluated_length` (event), as its
attributes of those names.

Definitions reproduced from sed_eval, including its quirks:

Segment-based (`SegmentBasedMetrics`)
  * A file's length is `max(0, largest reference offset, largest estimated
    offset)` unless given in `durations`; it has `ceil(length /
    time_resolution)` segments. An event makes segments `floor(onset / r)` up
    to `ceil(offset / r) - 1` active, cut at the file's last segment: any
    overlap with a segment counts, and an event with onset == offset on a
    segment boundary activates nothing (one inside a segment activates it).
  * Per segment: `Ntp` = classes active in both, `S = min(Nref, Nsys) - Ntp`,
    `D = max(0, Nref - Nsys)`, `I = max(0, Nsys - Nref)`; class-wise
    `ER = (Nfn + Nfp) / Nref`.
  * A label outside `event_labels` raises ValueError (sed_eval's event roll
    looks every label up in the list).

Event-based (`EventBasedMetrics`)
  * Onset condition `|on_ref - on_est| <= t_collar`; offset condition
    `|off_ref - off_est| <= max(t_collar, percentage_of_length * (off_ref -
    on_ref))`; a hit also needs equal labels.
  * `optimal`: a maximum bipartite matching of the hits (Hopcroft-Karp);
    `greedy`: each reference in list order takes the first unmatched estimate
    in list order that hits it. Both can give different true positives.
  * Substitutions (overall only): each unmatched reference, in order, takes the
    first unmatched, not yet substituted estimate that meets the onset/offset
    conditions whatever its label. Which references a maximum matching leaves
    unmatched decides this count, so the matching is the one sed_eval's
    `bipartite_match` finds (same visiting order), not just any maximum one.
  * Overall `Nfp = Nsys - Ntp - Nsubs`, `Nfn = Nref - Ntp - Nsubs`, ER = S + D
    + I rates over `Nref`; class-wise `Nfp = Nsys - Ntp`, `Nfn = Nref - Ntp`.
    Labels outside `event_labels` count in the overall scores only.
  * `empty_system_output_handling="zero_score"`: precision 0 instead of NaN
    where `Nsys == 0` (overall and per class), so a class with references and
    no output scores F = 0 and enters the macro average.

Shared: `P = Ntp / Nsys` and `R = Ntp / Nref` (NaN when the count is 0),
`F = 2PR / (P + R)` (0 when P = R = 0, NaN when either is NaN); rates divide
by `Nref + eps` (`eps = numpy.spacing(1)`), so with no reference they are 0 or
huge, never NaN.

Speed: the events of all files go into flat arrays and all (reference,
estimate) pairs of every file are tested at once. Where no estimate meets the
conditions of two candidate references, every matching rule picks, for each
reference, its first hit, which is computed for all files together; only the
files where an estimate is contested run the sequential rule in Python.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Mapping, Sequence

import numpy as np

Event = tuple[float, float, str]
EventsByFile = Mapping[str, Sequence[Event]]

_EPS = np.spacing(1)


@dataclasses.dataclass
class _Events:
    """Events of all files, file after file, each file's events in its list order."""

    file: np.ndarray  # int, index into the scored file list
    onset: np.ndarray
    offset: np.ndarray
    label: np.ndarray  # int, index into event_labels; unknown labels get ids after them
    start: np.ndarray  # [n_files + 1] first event of each file


def _flatten(
    events_by_file: EventsByFile, files: Sequence[str], label_ids: dict[str, int], allow_unknown: bool
) -> _Events:
    per_file = [events_by_file.get(name, ()) for name in files]
    counts = np.array([len(events) for events in per_file], dtype=np.int64)
    rows = [row for events in per_file for row in events]
    columns = list(zip(*rows)) if rows else [(), (), ()]
    onset = np.array(columns[0], dtype=np.float64)
    offset = np.array(columns[1], dtype=np.float64)
    if np.any(onset < 0) or np.any(offset < 0):
        # sed_eval would index its event roll from the end with a negative segment.
        raise ValueError("event times must be >= 0")
    unknown = set(columns[2]).difference(label_ids)
    if unknown and not allow_unknown:
        raise ValueError(f"event labels {sorted(unknown)!r} are not in event_labels")
    # Unknown labels only need to compare equal to themselves, across reference and estimate.
    for label in unknown:
        label_ids[label] = len(label_ids)
    return _Events(
        file=np.repeat(np.arange(len(files)), counts),
        onset=onset,
        offset=offset,
        label=np.array([label_ids[label] for label in columns[2]], dtype=np.int64),
        start=np.concatenate([[0], np.cumsum(counts)]),
    )


def _prepare(
    reference: EventsByFile, estimated: EventsByFile, event_labels: Sequence[str], allow_unknown: bool
) -> tuple[list[str], _Events, _Events]:
    labels = list(event_labels)
    if len(set(labels)) != len(labels):
        raise ValueError("event_labels has duplicates")
    files = list(reference) + [name for name in estimated if name not in reference]
    label_ids = {label: index for index, label in enumerate(labels)}
    ref = _flatten(reference, files, label_ids, allow_unknown)
    est = _flatten(estimated, files, label_ids, allow_unknown)
    return files, ref, est


def _file_max_offset(events: _Events, n_files: int) -> np.ndarray:
    """dcase_util's `max_offset`: starts from 0, so an empty file has length 0."""
    longest = np.zeros(n_files)
    nonempty = np.diff(events.start) > 0
    if nonempty.any():
        # Files are contiguous, so each reduction runs over exactly one file's offsets (all >= 0).
        longest[nonempty] = np.maximum.reduceat(events.offset, events.start[:-1][nonempty])
    return longest


def _precision_recall_f(ntp, nsys, nref, zero_score: bool):
    ntp, nsys, nref = (np.asarray(x, dtype=np.float64) for x in (ntp, nsys, nref))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(nsys == 0, 0.0 if zero_score else np.nan, ntp / nsys)
        recall = np.where(nref == 0, np.nan, ntp / nref)
        f_measure = np.where(
            (precision == 0) & (recall == 0), 0.0, 2.0 * precision * recall / (1.0 * precision + recall)
        )
    return precision, recall, f_measure


def _rate(count, nref):
    return np.asarray(count, dtype=np.float64) / (np.asarray(nref, dtype=np.float64) + _EPS)


def _accuracy(ntp, ntn, nfp, nfn) -> dict[str, np.ndarray]:
    ntp, ntn, nfp, nfn = (np.asarray(x, dtype=np.float64) for x in (ntp, ntn, nfp, nfn))
    sensitivity = ntp / (ntp + nfn + _EPS)
    specificity = ntn / (ntn + nfp + _EPS)
    return {
        "accuracy": (ntp + ntn) / (ntp + ntn + nfn + nfp + _EPS),
        "balanced_accuracy": 0.5 * sensitivity + 0.5 * specificity,
        "sensitivity": sensitivity,
        "specificity": specificity,
    }


def _nanmean(values: np.ndarray) -> float:
    # sed_eval's numpy.nanmean warns and gives NaN when every class is NaN.
    finite = values[~np.isnan(values)]
    return float(np.mean(finite)) if finite.size else math.nan


def _results(
    event_labels: Sequence[str],
    overall_counts: dict[str, float],
    class_counts: dict[str, np.ndarray],
    overall_rates: dict[str, float],
    zero_score: bool,
    with_accuracy: bool,
) -> dict:
    p, r, f = _precision_recall_f(overall_counts["Ntp"], overall_counts["Nsys"], overall_counts["Nref"], zero_score)
    overall = {
        "f_measure": {"f_measure": float(f), "precision": float(p), "recall": float(r)},
        "error_rate": overall_rates,
        "accuracy": {},
        "count": {key: float(value) for key, value in overall_counts.items()},
    }
    if with_accuracy:
        acc = _accuracy(overall_counts["Ntp"], overall_counts["Ntn"], overall_counts["Nfp"], overall_counts["Nfn"])
        overall["accuracy"] = {key: float(value) for key, value in acc.items()}

    cp, cr, cf = _precision_recall_f(class_counts["Ntp"], class_counts["Nsys"], class_counts["Nref"], zero_score)
    deletion = _rate(class_counts["Nfn"], class_counts["Nref"])
    insertion = _rate(class_counts["Nfp"], class_counts["Nref"])
    error = 0.0 + deletion + insertion
    class_accuracy = (
        _accuracy(class_counts["Ntp"], class_counts["Ntn"], class_counts["Nfp"], class_counts["Nfn"])
        if with_accuracy
        else {}
    )
    class_wise = {}
    for index, label in enumerate(event_labels):
        class_wise[label] = {
            "f_measure": {"f_measure": float(cf[index]), "precision": float(cp[index]), "recall": float(cr[index])},
            "accuracy": {key: float(value[index]) for key, value in class_accuracy.items()},
            "error_rate": {
                "error_rate": float(error[index]),
                "deletion_rate": float(deletion[index]),
                "insertion_rate": float(insertion[index]),
            },
            "count": {key: float(value[index]) for key, value in class_counts.items()},
        }

    average: dict[str, dict[str, float]] = {"f_measure": {}, "error_rate": {}, "accuracy": {}}
    if len(event_labels):
        average["f_measure"] = {"f_measure": _nanmean(cf), "precision": _nanmean(cp), "recall": _nanmean(cr)}
        average["error_rate"] = {
            "error_rate": _nanmean(error),
            "deletion_rate": _nanmean(deletion),
            "insertion_rate": _nanmean(insertion),
        }
        average["accuracy"] = {key: _nanmean(value) for key, value in class_accuracy.items()}
    return {"overall": overall, "class_wise": class_wise, "class_wise_average": average}


def segment_based_metrics(
    reference: EventsByFile,
    estimated: EventsByFile,
    event_labels: Sequence[str],
    *,
    time_resolution: float = 1.0,
    durations: Mapping[str, float] | None = None,
    empty_system_output_handling: str | None = None,
) -> dict:
    """sed_eval `SegmentBasedMetrics(event_labels, time_resolution).results()` over all files.

    `durations` maps filenames to the `evaluated_length_seconds` passed to
    `evaluate()` (files left out use sed_eval's default, the last offset).
    `empty_system_output_handling` is not a constructor argument of
    `SegmentBasedMetrics` in sed_eval 0.2.1 (it is always None there), but the
    class honours the attribute when set on an instance; "zero_score" gives
    that.
    """
    time_resolution = float(time_resolution)
    if not time_resolution > 0:
        raise ValueError("time_resolution must be > 0")
    _check_empty_handling(empty_system_output_handling)
    files, ref, est = _prepare(reference, estimated, event_labels, allow_unknown=False)
    n_files, n_classes = len(files), len(event_labels)

    length_s = np.maximum(_file_max_offset(ref, n_files), _file_max_offset(est, n_files))
    if durations:
        for index, name in enumerate(files):
            if name in durations:
                length_s[index] = float(durations[name])
    n_segments = np.ceil(length_s * 1 / time_resolution).astype(np.int64)
    segment_start = np.concatenate([[0], np.cumsum(n_segments)])
    total = int(segment_start[-1])

    def roll(events: _Events) -> np.ndarray:
        first = np.floor(events.onset * 1 / time_resolution).astype(np.int64)
        stop = np.minimum(np.ceil(events.offset * 1 / time_resolution).astype(np.int64), n_segments[events.file])
        keep = stop > first
        base = segment_start[events.file[keep]]
        starts = (base + first[keep]) * n_classes + events.label[keep]
        stops = (base + stop[keep]) * n_classes + events.label[keep]
        size = (total + 1) * n_classes
        edges = np.bincount(starts, minlength=size) - np.bincount(stops, minlength=size)
        return np.cumsum(edges.reshape(total + 1, n_classes), axis=0)[:total] > 0

    ref_roll, est_roll = roll(ref), roll(est)
    both = ref_roll & est_roll
    class_counts = {
        "Nref": ref_roll.sum(axis=0),
        "Nsys": est_roll.sum(axis=0),
        "Ntp": both.sum(axis=0),
        "Ntn": (~ref_roll & ~est_roll).sum(axis=0),
        "Nfp": (est_roll & ~ref_roll).sum(axis=0),
        "Nfn": (ref_roll & ~est_roll).sum(axis=0),
    }
    seg_ref, seg_sys, seg_tp = ref_roll.sum(axis=1), est_roll.sum(axis=1), both.sum(axis=1)
    overall_counts = {key: value.sum() for key, value in class_counts.items()}
    overall_counts["S"] = (np.minimum(seg_ref, seg_sys) - seg_tp).sum()
    overall_counts["D"] = np.maximum(0, seg_ref - seg_sys).sum()
    overall_counts["I"] = np.maximum(0, seg_sys - seg_ref).sum()

    results = _results(
        list(event_labels),
        overall_counts,
        class_counts,
        _overall_error_rates(overall_counts["Nref"], overall_counts["S"], overall_counts["D"], overall_counts["I"]),
        empty_system_output_handling == "zero_score",
        with_accuracy=True,
    )
    results["evaluated_files"] = n_files
    results["evaluated_length_seconds"] = sum(length_s.tolist(), 0.0)
    return results


def _overall_error_rates(nref, substitutions, deletions, insertions) -> dict[str, float]:
    s, d, i = (float(_rate(count, nref)) for count in (substitutions, deletions, insertions))
    return {"error_rate": float(s + d + i), "substitution_rate": s, "deletion_rate": d, "insertion_rate": i}


def _check_empty_handling(value: str | None) -> None:
    if value not in (None, "zero_score"):
        raise ValueError("empty_system_output_handling must be None or 'zero_score'")


def _first_free_matching(refs: np.ndarray, ests: np.ndarray) -> list[tuple[int, int]]:
    """Each reference in turn takes its first estimate not taken before.

    `refs`/`ests` list the candidate pairs reference-major, estimates ascending:
    sed_eval's greedy hit matching and its substitution count.
    """
    taken: set[int] = set()
    pairs = []
    last_ref = -1
    for ref, est in zip(refs.tolist(), ests.tolist()):
        if ref != last_ref and est not in taken:
            taken.add(est)
            pairs.append((ref, est))
            last_ref = ref
    return pairs


def _hopcroft_karp_matching(refs: np.ndarray, ests: np.ndarray) -> list[tuple[int, int]]:
    """A maximum matching of the hit pairs, the one sed_eval's `bipartite_match` returns.

    Which events stay unmatched decides the substitution count, so the
    visiting order follows sed_eval: estimates keyed in order of their first
    hit (reference-major), a greedy start, then phases of a breadth-first
    layering from the free estimates that stops at the first layer reaching a
    free reference, and depth-first augmentation from those references in the
    order reached.
    """
    candidates: dict[int, list[int]] = {}
    for ref, est in zip(refs.tolist(), ests.tolist()):
        candidates.setdefault(est, []).append(ref)
    owner: dict[int, int] = {}  # reference -> its estimate
    for est, est_refs in candidates.items():
        for ref in est_refs:
            if ref not in owner:
                owner[ref] = est
                break
    while True:
        matched_ests = set(owner.values())
        # None marks a free estimate (a layer-0 root); otherwise the reference that reached it.
        est_parent: dict[int, int | None] = {est: None for est in candidates if est not in matched_ests}
        ref_parents: dict[int, list[int]] = {}
        free_refs: list[int] = []
        layer = list(est_parent)
        while layer and not free_refs:
            reached: dict[int, list[int]] = {}
            for est in layer:
                for ref in candidates[est]:
                    if ref not in ref_parents:
                        reached.setdefault(ref, []).append(est)
            layer = []
            for ref, parents in reached.items():
                ref_parents[ref] = parents
                if ref in owner:
                    layer.append(owner[ref])
                    est_parent[owner[ref]] = ref
                else:
                    free_refs.append(ref)
        if not free_refs:
            return list(owner.items())

        def augment(ref: int) -> bool:
            parents = ref_parents.pop(ref, None)
            for est in parents or ():
                if est in est_parent:
                    previous = est_parent.pop(est)
                    if previous is None or augment(previous):
                        owner[ref] = est
                        return True
            return False

        for ref in free_refs:
            augment(ref)


def _match_by_file(
    refs: np.ndarray,
    ests: np.ndarray,
    pair_file: np.ndarray,
    est_file: np.ndarray,
    n_files: int,
    rule: Callable[[np.ndarray, np.ndarray], list[tuple[int, int]]],
) -> tuple[np.ndarray, np.ndarray]:
    """Apply `rule` file by file to the candidate pairs; returns matched (refs, ests).

    In a file where no estimate is a candidate of two references, every rule
    here gives each reference its first candidate; only the other files need
    the sequential rule.
    """
    contested_est = np.bincount(ests, minlength=est_file.size) > 1
    contested_file = np.zeros(n_files, dtype=bool)
    contested_file[est_file[contested_est]] = True
    simple = ~contested_file[pair_file]
    simple_refs, first = np.unique(refs[simple], return_index=True)
    matched_refs = [simple_refs]
    matched_ests = [ests[simple][first]]
    hard = ~simple
    hard_files = pair_file[hard]
    if hard_files.size:
        bounds = np.flatnonzero(np.diff(hard_files)) + 1
        for file_refs, file_ests in zip(np.split(refs[hard], bounds), np.split(ests[hard], bounds)):
            pairs = np.array(rule(file_refs, file_ests), dtype=np.int64).reshape(-1, 2)
            matched_refs.append(pairs[:, 0])
            matched_ests.append(pairs[:, 1])
    return np.concatenate(matched_refs), np.concatenate(matched_ests)


def event_based_metrics(
    reference: EventsByFile,
    estimated: EventsByFile,
    event_labels: Sequence[str],
    *,
    t_collar: float = 0.2,
    percentage_of_length: float = 0.5,
    evaluate_onset: bool = True,
    evaluate_offset: bool = True,
    event_matching_type: str = "optimal",
    empty_system_output_handling: str | None = None,
) -> dict:
    """sed_eval `EventBasedMetrics(event_labels, ...).results()` over all files (same arguments)."""
    t_collar, percentage_of_length = float(t_collar), float(percentage_of_length)
    if not t_collar > 0:
        raise ValueError("t_collar must be > 0")
    if not 0.0 <= percentage_of_length <= 1.0:
        raise ValueError("percentage_of_length must be in [0, 1]")
    if not (evaluate_onset or evaluate_offset):
        raise ValueError("evaluate_onset and evaluate_offset cannot both be False")
    rules = {"optimal": _hopcroft_karp_matching, "greedy": _first_free_matching}
    if event_matching_type not in rules:
        raise ValueError("event_matching_type must be 'optimal' or 'greedy'")
    _check_empty_handling(empty_system_output_handling)
    files, ref, est = _prepare(reference, estimated, event_labels, allow_unknown=True)
    n_files, n_classes = len(files), len(event_labels)
    n_ref, n_est = ref.onset.size, est.onset.size

    # Every (reference, estimate) pair of each file, reference-major like sed_eval's loops.
    ref_count, est_count = np.diff(ref.start), np.diff(est.start)
    pairs_per_file = ref_count * est_count
    pair_file = np.repeat(np.arange(n_files), pairs_per_file)
    local = np.arange(int(pairs_per_file.sum())) - np.repeat(np.cumsum(pairs_per_file) - pairs_per_file, pairs_per_file)
    per_row = est_count[pair_file]
    j = ref.start[pair_file] + local // per_row
    i = est.start[pair_file] + local % per_row

    in_collar = np.ones(j.size, dtype=bool)
    if evaluate_onset:
        in_collar &= np.abs(ref.onset[j] - est.onset[i]) <= t_collar
    if evaluate_offset:
        tolerance = np.maximum(t_collar, percentage_of_length * (ref.offset[j] - ref.onset[j]))
        in_collar &= np.abs(ref.offset[j] - est.offset[i]) <= tolerance
    hit = in_collar & (ref.label[j] == est.label[i])

    tp_refs, tp_ests = _match_by_file(j[hit], i[hit], pair_file[hit], est.file, n_files, rules[event_matching_type])
    ref_free = np.ones(n_ref, dtype=bool)
    ref_free[tp_refs] = False
    est_free = np.ones(n_est, dtype=bool)
    est_free[tp_ests] = False
    leftover = in_collar & ref_free[j] & est_free[i]
    sub_refs, _ = _match_by_file(j[leftover], i[leftover], pair_file[leftover], est.file, n_files, _first_free_matching)

    n_tp, n_subs = tp_refs.size, sub_refs.size
    overall_counts = {
        "Nref": n_ref,
        "Nsys": n_est,
        "Nsubs": n_subs,
        "Ntp": n_tp,
        "Nfp": n_est - n_tp - n_subs,
        "Nfn": n_ref - n_tp - n_subs,
    }
    class_nref = np.bincount(ref.label, minlength=n_classes)[:n_classes]
    class_nsys = np.bincount(est.label, minlength=n_classes)[:n_classes]
    class_ntp = np.bincount(ref.label[tp_refs], minlength=n_classes)[:n_classes]
    class_counts = {
        "Nref": class_nref,
        "Nsys": class_nsys,
        "Ntp": class_ntp,
        "Nfp": class_nsys - class_ntp,
        "Nfn": class_nref - class_ntp,
    }
    results = _results(
        list(event_labels),
        overall_counts,
        class_counts,
        _overall_error_rates(n_ref, n_subs, overall_counts["Nfn"], overall_counts["Nfp"]),
        empty_system_output_handling == "zero_score",
        with_accuracy=False,
    )
    results["evaluated_files"] = n_files
    results["evaluated_length"] = sum(_file_max_offset(ref, n_files).tolist(), 0.0)
    return results
