"""Bursts, the audit's table with its groups: photos of one scene taken close together grouped
(:mod:`phoneiqa.groups`) and each group ranked as :func:`phoneiqa.rank` ranks shots (:func:`phoneiqa.rank.rank_order`).
"""

from __future__ import annotations

import os

from phoneiqa.audit.store import ResultCache
from phoneiqa.audit.table import AuditTable
from phoneiqa.groups import find_groups
from phoneiqa.rank import rank_order

BURST_COLUMNS = ("group", "group_sure", "rank_in_group")
"""The columns :func:`with_bursts` adds, last."""


def with_bursts(table: AuditTable, store: ResultCache) -> AuditTable:
    """``table`` with the :data:`BURST_COLUMNS` (``None`` outside groups) and the ``groups``, ``sure_groups``
    and ``removable`` counts (the shots of sure groups other than their best): its assessed photos grouped
    (:func:`phoneiqa.groups.find_groups`) by their capture times and signatures in ``store``, each group
    ranked by :func:`phoneiqa.rank.rank_order` (its members' assessments read back from ``store``)."""
    assessed = [i for i, bad in enumerate(table.failed()) if not bad]
    paths = [table["path"][i] for i in assessed]
    keys = [os.path.abspath(p) for p in paths]
    group: list[int | None] = [None] * len(table)
    sure: list[bool | None] = [None] * len(table)
    rank: list[int | None] = [None] * len(table)
    taken, exposures, signatures = store.shots(keys)
    found = find_groups(paths, taken, signatures)
    for number, burst_group in enumerate(found, 1):
        members = burst_group.members
        stored = store.get([keys[k] for k in members])
        shots = [stored[keys[m]] for m in members]
        burst = [exposures[m] for m in members]
        for place, k in enumerate(rank_order(shots, None if None in burst else burst), 1):
            row = assessed[members[k]]
            group[row], sure[row], rank[row] = number, burst_group.sure, place
    removable = sum(len(g.members) - 1 for g in found if g.sure)
    attrs = {**table.attrs, "groups": len(found), "sure_groups": sum(g.sure for g in found), "removable": removable}
    return AuditTable({**table.data, **dict(zip(BURST_COLUMNS, (group, sure, rank), strict=True))}, attrs)
