"""An audit's results where photographers look: one XMP sidecar per photo, which Lightroom Classic, darktable,
digiKam and exiftool read (:func:`write_sidecars`); the photos themselves are never opened for writing.

What a sidecar gets (the README's "XMP sidecars" section shows one as exiftool prints it):

* ``xmp:Rating``: stars from the score, capped by the worst issue level (:func:`rating`); −1 (rejected)
  for the shots of a sure burst that are not its best, only with ``reject_bursts``;
* ``xmp:Label``: a colour label for a flagged photo, by its worst issue level (:data:`LEVEL_LABELS`);
* keywords: ``lr:hierarchicalSubject`` gets ``phoneiqa|dark|severe``, ``phoneiqa|burst|best``,
  ``phoneiqa|burst|removable`` (:func:`keywords`), ``dc:subject`` their parts (``phoneiqa``, ``dark``,
  ``severe``), as Lightroom writes a hierarchy's keywords;
* phoneiqa's own namespace (:data:`PHONEIQA_NS`, prefix ``phoneiqa``): the score, each issue's level, the
  model's name and id, phoneiqa's version, the group columns, and what phoneiqa proposed and added (its
  rating, label and ``dc:subject`` items), so that a re-run can tell its own values from the user's.

An existing sidecar keeps every field; a rating or label that differs from the one phoneiqa proposed last
time is the user's and stays (unless ``overwrite``); phoneiqa's keywords and namespace are replaced, never
duplicated.  A sidecar is rewritten through a temporary file and a rename, and only when what it says
changes, so a second run over an unchanged library changes no file; one that cannot be parsed is reported
and left as it is.  The packet is parsed, merged and serialised with :mod:`xml.etree.ElementTree` in
:mod:`~phoneiqa.audit.reports.xmp_packet`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from phoneiqa.audit.reports.xmp_packet import (
    PREFIX,
    Proposal,
    Unparseable,
    declared,
    merge,
    new_packet,
    parse,
    serialise,
    signature,
)
from phoneiqa.audit.table import AuditTable
from phoneiqa.errors import ParameterError, did_you_mean
from phoneiqa.version import __version__

NAMINGS = ("adobe", "darktable")
"""Sidecar names: ``photo.xmp`` (Adobe, digiKam's "compatible" names, exiftool) or ``photo.jpg.xmp`` (darktable)."""

STAR_BANDS = (20.0, 40.0, 60.0, 80.0)
"""The scores at which 2, 3, 4 and 5 stars begin (a score below 20 gets 1 star)."""

LEVEL_CAPS = {1: 4, 2: 2, 3: 1}
"""Worst issue level -> the most stars the photo gets: normal 4, severe 2, blocking 1 (higher levels as 3)."""

LEVEL_LABELS = {1: "Blue", 2: "Yellow", 3: "Red"}
"""Worst issue level -> colour label (names from Lightroom's default label set, which digiKam reads too)."""

REJECT = -1
"""The XMP rating of a rejected photo."""


def rating(score: float | None, levels: Iterable[int | None], *, reject: bool = False) -> int | None:
    """The star rating phoneiqa proposes: 1 + the :data:`STAR_BANDS` the score reaches, at most
    :data:`LEVEL_CAPS` of the worst issue level; :data:`REJECT` when ``reject``; ``None`` without a score.

    >>> rating(85.0, [0, 0]), rating(85.0, [1, 0]), rating(72.0, [0, 2]), rating(95.0, [3]), rating(15.0, [])
    (5, 4, 2, 1, 1)
    """
    if reject:
        return REJECT
    if score is None:
        return None
    stars = 1 + sum(score >= band for band in STAR_BANDS)
    worst = max((v for v in levels if v), default=0)
    return min(stars, LEVEL_CAPS[min(worst, 3)]) if worst else stars


def label(levels: Iterable[int | None]) -> str | None:
    """The colour label of a photo by its worst issue level (:data:`LEVEL_LABELS`), ``None`` when none is flagged."""
    worst = max((v for v in levels if v), default=0)
    return LEVEL_LABELS[min(worst, 3)] if worst else None


def keywords(levels: Mapping[str, int | None], level_names: Sequence[str], burst: str | None = None) -> list[str]:
    """phoneiqa's hierarchical keywords: ``phoneiqa|<issue>|<level name>`` per flagged issue, and
    ``phoneiqa|burst|<burst>`` (``best`` or ``removable``) for a photo of a sure burst."""
    out = []
    for issue, level in levels.items():
        if level:
            name = level_names[level] if level < len(level_names) else f"level {level}"
            out.append(f"{PREFIX}|{issue}|{name}")
    if burst:
        out.append(f"{PREFIX}|burst|{burst}")
    return out


def sidecar_path(photo: str | os.PathLike, naming: str = "adobe", siblings: Iterable[str] | None = None) -> Path:
    """Where the sidecar of ``photo`` goes: ``IMG_1.xmp`` (``"adobe"``), or ``IMG_1.jpg.xmp`` (``"darktable"``,
    and also with ``"adobe"`` when another file in its folder shares its stem, ``IMG_1.heic`` or a raw
    ``IMG_1.CR2``, compared without case: ``IMG_1.xmp`` would be theirs too, so it is never written).
    ``siblings``: the names in the photo's folder (default: listed now)."""
    _check_naming(naming)
    path = os.fspath(photo)
    if siblings is None:
        siblings = _listing(os.path.dirname(path))
    return Path(_sidecar(path, naming, siblings if isinstance(siblings, _Stems) else _stems(siblings))[0])


def _check_naming(naming: str) -> None:
    if naming not in NAMINGS:
        hint = did_you_mean(naming, NAMINGS)
        raise ParameterError(f"unknown sidecar naming {naming!r}{hint}; choose from {', '.join(NAMINGS)}")


def _sidecar(path: str, naming: str, stems: _Stems) -> tuple[str, bool]:
    """:func:`sidecar_path` as a string, and whether it is ``photo.ext.xmp`` because another file shares the stem."""
    if naming == "darktable":
        return f"{path}.xmp", False
    name = os.path.basename(path)
    if stems.get(_stem(name), 0) > (name in stems.names):
        return f"{path}.xmp", True
    return f"{os.path.splitext(path)[0]}.xmp", False


class _Stems(dict):
    """How many entries of a folder (other than sidecars) have each stem, compared without case."""

    names: frozenset[str]


def _stem(name: str) -> str:
    return os.path.splitext(name)[0].casefold()


def _stems(names: Iterable[str]) -> _Stems:
    names = [n for n in names if not n.lower().endswith(".xmp")]
    stems = _Stems(Counter(_stem(n) for n in names))
    stems.names = frozenset(names)
    return stems


_NO_STEMS = _stems([])


@dataclass
class SidecarReport:
    """What :func:`write_sidecars` did: sidecars ``written`` (new or changed), ``unchanged`` (already up to
    date), ``problems`` (sidecar -> why it was left untouched: it cannot be parsed or written),
    ``skipped`` (photos that failed, which get none) and ``full_names`` (photos whose ``photo.xmp`` another file
    would share, given ``photo.ext.xmp``)."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    problems: dict[Path, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    full_names: list[Path] = field(default_factory=list)

    @property
    def saved(self) -> int:
        """Sidecars that hold this audit's results: written now or already up to date."""
        return len(self.written) + len(self.unchanged)

    def __str__(self) -> str:
        line = f"xmp: {len(self.written)} sidecars written, {len(self.unchanged)} unchanged"
        if self.skipped:
            line += f", {len(self.skipped)} failed photos without one"
        if self.full_names:
            line += f"; {len(self.full_names)} share a stem with another file, named photo.ext.xmp"
        lines = [line]
        if self.problems:
            lines.append(f"xmp: {len(self.problems)} sidecars left untouched:")
            lines += [f"  {path}: {why}" for path, why in self.problems.items()]
        return "\n".join(lines)


def write_sidecars(
    table: AuditTable,
    *,
    naming: str = "adobe",
    overwrite: bool = False,
    reject_bursts: bool = False,
    model: str | None = None,
) -> SidecarReport:
    """Write or update the XMP sidecar of every assessed photo of an audit ``table`` (failed ones get none).

    ``naming``: :data:`NAMINGS` (:func:`sidecar_path`); ``overwrite``: replace a rating or label the user
    set; ``reject_bursts``: rate the shots of a sure burst that are not its best −1 (needs the table's
    ``group_sure`` and ``rank_in_group`` columns, ``audit(..., groups=True)``); ``model``: the model's name,
    kept beside its id (``table.attrs["model"]``)."""
    _check_naming(naming)
    if reject_bursts and "rank_in_group" not in table:
        raise ValueError("reject_bursts needs the audit's burst columns: audit with groups=True (--groups)")
    labels = table.labels
    names = table.level_names
    columns = [table[c] for c in ("path", "score", "error", *labels)]
    bursts = [table[c] for c in ("group", "group_sure", "rank_in_group")] if "group" in table else None
    meta = {"model": model, "modelId": table.attrs.get("model") or None, "version": __version__}
    report = SidecarReport()
    listings: dict[str, _Stems] = {}
    for row, (path, score, error, *levels) in enumerate(zip(*columns, strict=True)):
        if error:
            report.skipped.append(path)
            continue
        folder = os.path.dirname(path)
        if folder not in listings and naming == "adobe":
            listings[folder] = _stems(_listing(folder))
        name, full = _sidecar(path, naming, listings.get(folder, _NO_STEMS))
        sidecar = Path(name)
        if full:
            report.full_names.append(Path(path))
        group, sure, rank = (c[row] for c in bursts) if bursts else (None, None, None)
        burst = ("best" if rank == 1 else "removable") if sure else None
        values = Proposal(
            rating=rating(score, levels, reject=reject_bursts and burst == "removable"),
            label=label(levels),
            keywords=keywords(dict(zip(labels, levels, strict=True)), names, burst),
            fields={
                "score": None if score is None else f"{score:.2f}",
                **{issue: None if v is None else str(v) for issue, v in zip(labels, levels, strict=True)},
                **meta,
                "group": None if group is None else str(group),
                "groupSure": None if sure is None else str(bool(sure)),
                "rankInGroup": None if rank is None else str(rank),
            },
        )
        _update(sidecar, values, overwrite, report)
    return report


def _update(sidecar: Path, values: Proposal, overwrite: bool, report: SidecarReport) -> None:
    """Make ``sidecar`` hold ``values``, keeping what else it holds; record what happened in ``report``."""
    try:
        old = sidecar.read_bytes()
    except FileNotFoundError:
        old = None
    except OSError as exc:
        report.problems[sidecar] = f"cannot read it ({exc.strerror or exc})"
        return
    try:
        root = parse(old) if old is not None else new_packet()
    except Unparseable as exc:
        report.problems[sidecar] = f"cannot parse it ({exc}); fix or remove it and run again"
        return
    before = signature(root) if old is not None else None
    merge(root, values, overwrite)
    if before is not None and signature(root) == before:  # nothing to change: the file stays as it is
        report.unchanged.append(sidecar)
        return
    data = serialise(root, declared(old) if old is not None else [])
    if data == old:
        report.unchanged.append(sidecar)
        return
    tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        if old is not None:
            os.chmod(tmp, os.stat(sidecar).st_mode & 0o7777)
        os.replace(tmp, sidecar)
    except OSError as exc:
        report.problems[sidecar] = f"cannot write it ({exc.strerror or exc})"
        return
    finally:
        tmp.unlink(missing_ok=True)
    report.written.append(sidecar)


def _listing(folder: str) -> list[str]:
    """The names in ``folder`` (``""``: the current one); none when it cannot be listed."""
    try:
        return os.listdir(folder or ".")
    except OSError:
        return []
