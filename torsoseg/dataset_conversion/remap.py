"""The one remapping step every format goes through: source labels -> canonical organs -> output values.

Rules (documented in documentation/converters.md):

1. Each source label resolves to a canonical organ: the format's own answer when it has one (a RadLex
   ID, a tumour label merged into its host organ), else its name through :mod:`torsoseg.organs`. A name
   outside the vocabulary (``lesion``, ``tumor``) is kept as a **custom label** under its exact name and
   listed in a warning; evaluation and fine-tuning match it by that exact name.
2. A part combines into its whole (TotalSegmentator's lung lobes -> ``lung_right`` / ``lung_left``),
   unless the part itself is asked for with ``organs``.
3. ``mapping`` (``--map SRC=DST``) renames or merges: ``SRC`` matches a source label's own name or its
   organ (any spelling); ``DST`` is an organ of the vocabulary (any spelling), a custom label name, or
   ``background`` to drop the label.
4. ``organs`` (``--organs``) keeps a subset (custom labels by exact name); everything else becomes
   background, listed in the log.
5. **Output order**: with ``organs``, the order given there; otherwise the source's own label order
   (label-value order for label maps, the format's structure order for per-structure sources), an
   output that merges several source labels taking the place of the first of them. Values are then
   consecutive: 1, 2, 3, ...
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from torsoseg import organs as vocab
from torsoseg.dataset_conversion.sources import ConversionError, SourceLabel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelPlan:
    """How source labels become the raw dataset's labels.

    Attributes:
        labels: output name -> value (``background`` 0, consecutive).
        targets: source label name -> output name, or ``None`` when it becomes background.
        source_labels: output name -> the source labels merged into it (JSON records).
        dropped: source label names that become background.
    """

    labels: dict[str, int]
    targets: dict[str, str | None]
    source_labels: dict[str, list[dict]]
    dropped: tuple[str, ...] = ()

    def value_of(self, source_name: str) -> int:
        """Output value of a source label (0 when dropped)."""
        target = self.targets.get(source_name)
        return 0 if target is None else self.labels[target]

    def lookup_table(self, source: Sequence[SourceLabel]) -> np.ndarray:
        """``table[source value] = output value`` for label-map sources (int64, 0 for unknown)."""
        values = [s.value for s in source if s.value is not None]
        table = np.zeros(max(values, default=0) + 1, dtype=np.int64)
        for s in source:
            if s.value is not None:
                table[s.value] = self.value_of(s.name)
        return table


def parse_mapping(items: Iterable[str] | Mapping[str, str] | None) -> dict[str, str]:
    """``["aorta=artery", ...]`` or a dict -> ``{src: dst}``; a malformed item raises an error."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    out = {}
    for item in items:
        if "=" not in str(item):
            raise ConversionError(f"mapping {item!r}: expected SRC=DST, e.g. aorta=artery")
        src, dst = (s.strip() for s in str(item).split("=", 1))
        if not src or not dst:
            raise ConversionError(f"mapping {item!r}: expected SRC=DST, e.g. aorta=artery")
        out[src] = dst
    return out


def parse_organs(organs: str | Iterable[str] | None) -> list[str] | None:
    """``"liver,spleen"`` or a list -> canonical names in the given order (unknown names: one error)."""
    if organs is None:
        return None
    items = organs.split(",") if isinstance(organs, str) else organs
    names = [str(s).strip() for s in items]
    names = [n for n in names if n]
    if not names:
        raise ConversionError("organs: the list is empty")
    # vocabulary organs by any spelling; other names are custom labels, matched exactly
    resolved = {n: vocab.key(n) for n in names}
    out: list[str] = []
    for n in names:
        if resolved[n] not in out:
            out.append(resolved[n])
    return out


def _target_name(name: str, where: str) -> str | None:
    if vocab.normalize_key(name) == "background":
        return None
    if vocab.is_known(name):
        return vocab.canonical_name(name)
    _check_custom_name(name, where)
    logger.warning("%s: %r is not in the organ vocabulary; it becomes a custom label of that exact name",
                   where, name)
    return name


def _check_custom_name(name: str, where: str) -> None:
    """A custom label name must be usable as a file name and a JSON key: no path separators, not empty."""
    if not name or name != name.strip() or any(c in name for c in "/\\\0") or name.startswith("."):
        raise ConversionError(f"{where}: {name!r} cannot be a label name (no path separators, no leading "
                              "dot or spaces)")


def build_label_plan(
    source: Sequence[SourceLabel],
    organs: str | Iterable[str] | None = None,
    mapping: Iterable[str] | Mapping[str, str] | None = None,
    label_file: Path | None = None,
    drop_unknown: bool = False,
) -> LabelPlan:
    """Resolves the source labels into the output label set (see the module docstring for the rules).

    Args:
        source: foreground source labels in the source's own order.
        organs: organs to keep, in output order (names or a comma-separated string).
        mapping: ``SRC=DST`` items or a dict.
        label_file: the file declaring the source labels, named in errors.
        drop_unknown: drop source labels that are not in the vocabulary (listed in a warning, with how
            to keep them) instead of keeping them as custom labels.

    Returns:
        The :class:`LabelPlan`.

    Raises:
        ConversionError: a source label name unusable as a label name, a mapping key matching no source
            label, a requested organ that the source does not have.

    Example:
        >>> plan = build_label_plan([SourceLabel("arota", 8), SourceLabel("liver", 6)],
        ...                         mapping={"aorta": "artery"})
        >>> plan.labels
        {'background': 0, 'artery': 1, 'liver': 2}
    """
    where = str(label_file) if label_file is not None else "source labels"
    wanted = parse_organs(organs)
    maps = parse_mapping(mapping)
    map_targets = {src: _target_name(dst, f"mapping {src}={dst}") for src, dst in maps.items()}
    map_keys = {vocab.normalize_key(k): k for k in maps}
    if wanted is not None:
        wanted = _wanted_after_mapping(wanted, maps, map_targets)
    res = _Resolution()
    seen_names: set[str] = set()
    for s in source:
        if s.name in seen_names:
            raise ConversionError(f"{where}: source label {s.name!r} is declared twice")
        seen_names.add(s.name)
        res.resolve(s, map_keys, map_targets, wanted, drop_unknown, where)
    _log_outside_vocabulary(where, res.custom, res.unknown_dropped)
    unused = sorted(set(maps) - res.used_keys)
    if unused:
        names = ", ".join(s.name for s in source)
        raise ConversionError(f"mapping key(s) {unused} match no source label (source labels: {names})")
    order = res.order
    if wanted is not None:
        missing = [o for o in wanted if o not in res.merged]
        if missing:
            raise ConversionError(
                f"organs {missing} are not in the source (it has: {', '.join(res.available) or 'nothing'})"
            )
        order = list(wanted)
    chosen = [n for n in res.dropped if n not in res.unknown_dropped]
    if chosen:
        logger.info("source labels converted to background (--organs / --map): %s", ", ".join(chosen))
    labels = {"background": 0}
    for i, organ in enumerate(order, start=1):
        labels[organ] = i
    return LabelPlan(labels, res.targets, {o: res.merged[o] for o in order}, tuple(res.dropped))


def _wanted_after_mapping(
    wanted: list[str], maps: Mapping[str, str], map_targets: Mapping[str, str | None]
) -> list[str]:
    """An organ asked for under its source name follows its mapping (--organs aorta --map aorta=artery)."""
    renamed = []
    for w in wanted:
        hits = [k for k in maps if vocab.is_known(k) and vocab.canonical_name(k) == w]
        w = map_targets[hits[0]] if hits and map_targets[hits[0]] is not None else w
        if w not in renamed:
            renamed.append(w)
    return renamed


def _mapping_key_of_organ(organ: str, map_keys: Mapping[str, str]) -> str | None:
    """The first mapping key that names ``organ`` (any spelling of a vocabulary organ), or ``None``."""
    for k in map_keys.values():
        if vocab.is_known(k) and vocab.canonical_name(k) == organ:
            return k
    return None


def _mapping_for(
    name: str, organ: str | None, map_keys: Mapping[str, str], wanted: list[str] | None
) -> tuple[str | None, str | None]:
    """Rules 1 and 2 for one source label: the mapping key that applies to it (``None`` when none does)
    and its organ, which is the whole when the label is a part not asked for by name.

    ``map_keys`` maps each mapping key's normalised spelling to the key.
    """
    if vocab.normalize_key(name) in map_keys:
        return map_keys[vocab.normalize_key(name)], organ
    if organ is None:
        return None, None
    key = _mapping_key_of_organ(organ, map_keys)
    if key is None:
        whole = vocab.whole_of(organ)
        if whole is not None and not (wanted and organ in wanted):
            return _mapping_key_of_organ(whole, map_keys), whole
    return key, organ


@dataclass
class _Resolution:
    """The source labels resolved so far (the working record of :func:`build_label_plan`).

    Attributes:
        targets: source label name -> output name, or ``None`` when it becomes background.
        order: output names in the order of their first source label.
        merged: output name -> the source labels merged into it (JSON records).
        custom: source labels kept as custom labels (outside the vocabulary).
        unknown_dropped: source labels outside the vocabulary dropped (``drop_unknown``).
        dropped: every source label that becomes background.
        available: every output the source could give, asked for or not.
        used_keys: mapping keys that matched a source label.
    """

    targets: dict[str, str | None] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    merged: dict[str, list[dict]] = field(default_factory=dict)
    custom: list[str] = field(default_factory=list)
    unknown_dropped: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    available: list[str] = field(default_factory=list)
    used_keys: set[str] = field(default_factory=set)

    def resolve(
        self,
        s: SourceLabel,
        map_keys: Mapping[str, str],
        map_targets: Mapping[str, str | None],
        wanted: list[str] | None,
        drop_unknown: bool,
        where: str,
    ) -> None:
        """Applies the rules of the module docstring to one source label."""
        organ = s.organ
        if organ is None and vocab.is_known(s.name):
            organ = vocab.canonical_name(s.name)
        key, organ = _mapping_for(s.name, organ, map_keys, wanted)
        if key is not None:
            self.used_keys.add(key)
            organ = map_targets[key]
            if organ is None:
                self._drop(s.name)
                return
        if organ is None:
            if drop_unknown:
                self._drop(s.name)
                self.unknown_dropped.append(s.name)
                return
            _check_custom_name(s.name, where)
            organ = s.name
            self.custom.append(s.name)
        if organ not in self.available:
            self.available.append(organ)
        if wanted is not None and organ not in wanted:
            self._drop(s.name)
            return
        self.targets[s.name] = organ
        if organ not in self.merged:
            self.order.append(organ)
            self.merged[organ] = []
        self.merged[organ].append(s.describe())

    def _drop(self, name: str) -> None:
        self.targets[name] = None
        self.dropped.append(name)


def _log_outside_vocabulary(where: str, custom: list[str], unknown_dropped: list[str]) -> None:
    """Warns about the source labels outside the organ vocabulary: kept as custom labels, or dropped."""
    if custom:
        hints = []
        for n in custom:
            try:
                vocab.canonical_name(n)
            except vocab.UnknownOrganError as e:
                if "did you mean" in str(e):
                    hints.append(str(e))
        logger.warning(
            "%s: label(s) outside the organ vocabulary kept as custom labels (matched by exact name): %s%s. "
            "Map one to an organ with --map SRC=ORGAN, or drop it with --map SRC=background",
            where, ", ".join(custom), f" ({'; '.join(hints)})" if hints else "",
        )
    if unknown_dropped:
        logger.warning(
            "%s: structure(s) outside the organ vocabulary dropped: %s. Keep one with --map NAME=ORGAN",
            where, ", ".join(unknown_dropped),
        )
