"""Matching the organs of two label sets by name (never by value).

A model trained on VISCERAL (20 labels) is evaluated against the 8-label torso set: both label sets are
resolved through :mod:`torsoseg.organs`, organs present on both sides are compared, and organs present on
one side only are reported, never guessed. A structure one side stores in parts is combined when *all*
its parts are there:

* parts of the vocabulary (``organs.whole_of``): the five lung lobes of TotalSegmentator combine into
  ``lung_right`` / ``lung_left``;
* bilateral unions: ``lungs`` = ``lung_right`` + ``lung_left``, ``kidneys`` and ``adrenal_glands``
  likewise (CT-ORG style label sets without laterality).

When a reference organ is a part the prediction does not separate (reference lobes, predicted whole
lungs), the whole is evaluated on both sides instead.

Example:
    >>> m = match_labels({"background": 0, "liver": 1, "kidney_right": 2},
    ...                  {"background": 0, "Liver": 3, "aorta": 1})
    >>> [o.organ for o in m.matched], m.missing_in_prediction, m.missing_in_reference
    (['liver'], ('kidney_right',), ('aorta',))
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from torsoseg import organs as vocab
from torsoseg.fileio import read_json

logger = logging.getLogger(__name__)

# Structures without laterality that the union of a right/left pair forms.
BILATERAL_UNIONS: Mapping[str, tuple[str, str]] = {
    "lungs": ("lung_right", "lung_left"),
    "kidneys": ("kidney_right", "kidney_left"),
    "adrenal_glands": ("adrenal_gland_right", "adrenal_gland_left"),
}


@dataclass(frozen=True)
class OrganMatch:
    """One organ evaluated: which label values form it on each side.

    Attributes:
        organ: canonical name (or the literal name of a structure unknown to the vocabulary).
        reference_values: label values of the reference that together form the organ.
        prediction_values: label values of the prediction that together form the organ.
        reference_names: the reference's label names used.
        prediction_names: the prediction's label names used.
    """

    organ: str
    reference_values: tuple[int, ...]
    prediction_values: tuple[int, ...]
    reference_names: tuple[str, ...]
    prediction_names: tuple[str, ...]

    def describe(self) -> str:
        """``liver: reference 'liver' (3) <-> prediction 'Liver' (1)``."""
        def side(names: tuple[str, ...], values: tuple[int, ...]) -> str:
            return " + ".join(f"{n!r} ({v})" for n, v in zip(names, values))

        return (
            f"{self.organ}: reference {side(self.reference_names, self.reference_values)} <-> "
            f"prediction {side(self.prediction_names, self.prediction_values)}"
        )

    def to_json(self) -> dict:
        return {
            "organ": self.organ,
            "reference": dict(zip(self.reference_names, self.reference_values)),
            "prediction": dict(zip(self.prediction_names, self.prediction_values)),
        }


@dataclass(frozen=True)
class LabelMatching:
    """The outcome of :func:`match_labels`.

    Attributes:
        matched: organs evaluated, in the reference's label order (or the requested order).
        missing_in_prediction: reference organs the prediction does not provide (reported, not scored).
        missing_in_reference: predicted organs the reference does not provide (reported, not scored).
    """

    matched: tuple[OrganMatch, ...]
    missing_in_prediction: tuple[str, ...]
    missing_in_reference: tuple[str, ...]

    @property
    def organs(self) -> list[str]:
        return [m.organ for m in self.matched]

    def describe(self, missing: bool = True) -> str:
        """One line per matched organ, then (with ``missing``) the organs present on one side only."""
        lines = [m.describe() for m in self.matched]
        if not missing:
            return "\n".join(lines)
        if self.missing_in_prediction:
            lines.append("not in the prediction: " + ", ".join(self.missing_in_prediction))
        if self.missing_in_reference:
            lines.append("not in the reference: " + ", ".join(self.missing_in_reference))
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "matched": [m.to_json() for m in self.matched],
            "missing_in_prediction": list(self.missing_in_prediction),
            "missing_in_reference": list(self.missing_in_reference),
        }


# ---------------------------------------------------------------------------------------------------
# reading label sets
# ---------------------------------------------------------------------------------------------------


def parse_label_set(obj: Mapping, source: str = "labels") -> dict[str, int]:
    """Normalises a label description to ``name -> value``.

    Accepts ``{"liver": 1, ...}``, the inverse ``{"1": "liver", ...}`` (TotalSegmentator style), or a
    ``dataset.json``-like dict holding such a mapping under ``"labels"``. ``background`` is added as 0
    when absent.

    Raises:
        ValueError: naming ``source`` and the offending entry.
    """
    if not isinstance(obj, Mapping):
        raise ValueError(
            f"{source}: expected a JSON object of label names and values, got {type(obj).__name__}"
        )
    if "labels" in obj and isinstance(obj["labels"], Mapping):
        obj = obj["labels"]
    if not obj:
        raise ValueError(f"{source}: the label set is empty")
    out: dict[str, int] = {}
    inverse = all(isinstance(v, str) for v in obj.values()) and all(str(k).strip().isdigit() for k in obj)
    for k, v in obj.items():
        name, value = (v, k) if inverse else (k, v)
        if isinstance(value, (list, tuple, dict)) or isinstance(value, bool):
            raise ValueError(f"{source}: label {name!r} has value {value!r}; expected one integer")
        try:
            ivalue = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: label {name!r} has non-integer value {value!r}") from None
        if ivalue < 0:
            raise ValueError(f"{source}: label {name!r} has negative value {ivalue}")
        if str(name) in out:
            raise ValueError(f"{source}: label name {name!r} appears twice")
        out[str(name)] = ivalue
    values = [v for v in out.values()]
    dup = sorted({v for v in values if values.count(v) > 1})
    if dup:
        raise ValueError(f"{source}: label value(s) {dup} are used by more than one name")
    if "background" not in out:
        if 0 in out.values():
            name0 = next(k for k, v in out.items() if v == 0)
            raise ValueError(f"{source}: value 0 is named {name0!r}; 0 must be background")
        out = {"background": 0, **out}
    elif out["background"] != 0:
        raise ValueError(f"{source}: background must be 0, got {out['background']}")
    return out


def load_label_set(source: str | os.PathLike | Mapping) -> dict[str, int]:
    """Reads a label JSON file (or takes a mapping): ``name -> value`` (see :func:`parse_label_set`)."""
    if isinstance(source, Mapping):
        return parse_label_set(source)
    p = Path(source)
    if p.is_dir():
        for name in ("labels.json", "dataset.json"):
            if (p / name).is_file():
                p = p / name
                break
        else:
            raise FileNotFoundError(f"{p}: folder holds neither labels.json nor dataset.json")
    return parse_label_set(read_json(p), source=str(p))


# ---------------------------------------------------------------------------------------------------
# matching
# ---------------------------------------------------------------------------------------------------


def _key(name: str) -> str:
    """Canonical name when known, else the name itself (matched only by an identical spelling)."""
    return vocab.key(str(name).strip())


def _by_organ(labels: Mapping[str, int], side: str) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {}
    unknown = []
    for name, value in sorted(labels.items(), key=lambda kv: kv[1]):
        if name == "background" or int(value) == 0:
            continue
        if not vocab.is_known(name):
            unknown.append(name)
        out.setdefault(_key(name), []).append((name, int(value)))
    if unknown:
        shown = ", ".join(unknown[:8]) + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else "")
        logger.warning("%s labels not in the organ vocabulary (matched by spelling only): %s", side, shown)
    return out


def _provide(
    side: Mapping[str, list[tuple[str, int]]], organ: str, depth: int = 0
) -> list[tuple[str, int]] | None:
    """The (name, value) labels of ``side`` that together form ``organ``, or None."""
    if organ in side:
        return list(side[organ])
    if organ not in vocab.ORGANS:  # a name outside the vocabulary: same spelling up to case/separators
        key = vocab.normalize_key(organ)
        same = [k for k in side if k not in vocab.ORGANS and vocab.normalize_key(k) == key]
        return [x for k in same for x in side[k]] or None
    if depth > 2:
        return None
    parts = vocab.parts_of(organ)
    if parts:
        got = [_provide(side, p, depth + 1) for p in parts]
        if all(g is not None for g in got):
            return [x for g in got for x in g]  # type: ignore[union-attr]
        if any(g is not None for g in got):
            logger.warning("only some parts of %s are labelled (%s); not combining them", organ, parts)
    if organ in BILATERAL_UNIONS:
        got = [_provide(side, p, depth + 1) for p in BILATERAL_UNIONS[organ]]
        if all(g is not None for g in got):
            return [x for g in got for x in g]  # type: ignore[union-attr]
    return None


def _containers(organ: str) -> list[str]:
    """Structures ``organ`` is a part of, nearest first (lobe -> lung_right -> lungs)."""
    out: list[str] = []
    current = [organ]
    while current:
        nxt = []
        for c in current:
            whole = vocab.whole_of(c) if c in vocab.ORGANS else None
            if whole is not None:
                nxt.append(whole)
            nxt.extend(u for u, sides in BILATERAL_UNIONS.items() if c in sides)
        nxt = [n for n in nxt if n not in out]
        out.extend(nxt)
        current = nxt
    return out


def _make(organ: str, ref: list[tuple[str, int]], pred: list[tuple[str, int]]) -> OrganMatch:
    return OrganMatch(
        organ=organ,
        reference_values=tuple(v for _, v in ref),
        prediction_values=tuple(v for _, v in pred),
        reference_names=tuple(n for n, _ in ref),
        prediction_names=tuple(n for n, _ in pred),
    )


def match_labels(
    reference_labels: Mapping[str, int],
    prediction_labels: Mapping[str, int],
    organs: Sequence[str] | None = None,
) -> LabelMatching:
    """Pairs the organs of a reference and a prediction label set by canonical name.

    Args:
        reference_labels: name -> value of the reference label maps (``background`` ignored).
        prediction_labels: name -> value of the predicted label maps.
        organs: evaluate only these (any spelling, in this order); default every reference organ.

    Returns:
        A :class:`LabelMatching`.

    Raises:
        organs.UnknownOrganError: a requested name the vocabulary does not know (with suggestions).
        ValueError: a requested organ that neither label set provides (lists what they hold).
    """
    ref = _by_organ(reference_labels, "reference")
    pred = _by_organ(prediction_labels, "prediction")
    matched: list[OrganMatch] = []
    missing_pred: list[str] = []
    missing_ref: list[str] = []
    if organs is not None:
        wanted = []
        for name in organs:
            c = vocab.canonical_name(name) if vocab.is_known(name) else None
            if c is None:
                key = vocab.normalize_key(name)
                c = next((k for k in (*ref, *pred) if vocab.normalize_key(k) == key), None)
            if c is None:
                vocab.canonical_name(name)  # raises UnknownOrganError with suggestions
            if c not in wanted:
                wanted.append(c)
        for c in wanted:
            r, p = _provide(ref, c), _provide(pred, c)
            if r is not None and p is not None:
                matched.append(_make(c, r, p))
            elif r is not None:
                missing_pred.append(c)
            elif p is not None:
                missing_ref.append(c)
            else:
                raise ValueError(
                    f"organ {c!r} is in neither label set; reference has {sorted(ref)}, "
                    f"prediction has {sorted(pred)}"
                )
        return LabelMatching(tuple(matched), tuple(missing_pred), tuple(missing_ref))

    done: set[str] = set()
    for c in ref:
        if c in done or any(w in done for w in _containers(c)):
            continue
        p = _provide(pred, c)
        if p is not None:
            matched.append(_make(c, ref[c], p))
            done.add(c)
            continue
        for whole in _containers(c):
            r_whole, p_whole = _provide(ref, whole), _provide(pred, whole)
            if r_whole is not None and p_whole is not None:
                if whole not in done:
                    matched.append(_make(whole, r_whole, p_whole))
                    done.add(whole)
                break
        else:
            missing_pred.append(c)
    used = {v for m in matched for v in m.prediction_values}
    for c, labels in pred.items():
        if not any(v in used for _, v in labels):
            missing_ref.append(c)
    return LabelMatching(tuple(matched), tuple(missing_pred), tuple(missing_ref))
