"""``phoneiqa.audit.ray``: the audit of :mod:`phoneiqa.audit` on Ray Data, for libraries that outgrow one machine.

>>> table = audit_ray(["/mnt/photos"])                 # doctest: +SKIP

Same table as :func:`phoneiqa.audit.audit` (rows, columns, dtypes), computed by a Ray cluster:
files are found and checked here, Ray Data reads the readable ones and a pool of actors, each
holding the model loaded once, decodes and assesses them in batches.  There is **no result
cache** on this path: every call assesses every file, and an interrupted audit starts over.

Running it: ``ray start --head`` on one machine, ``ray start --address=HEAD:6379`` on the others,
then on a machine of the cluster ``phoneiqa audit --ray /mnt/photos --out report.parquet`` (or
``RAY_ADDRESS=HEAD:6379 phoneiqa audit --ray ...``).  If Ray is already initialised in this
process, that session is used as it is; otherwise ``ray.init()`` connects to the cluster named by
``RAY_ADDRESS``, else to the latest one started on this machine with ``ray start``, else starts a
local Ray instance for this process (which works, but is slower than the local audit).

Every node needs phoneiqa installed (``pip install 'phoneiqa[ray]'``) and must see the photos at
the same absolute paths as this machine (a shared or mounted file system: NFS, an S3 bucket
mounted with s3fs or mountpoint-s3, ...), and the model file too if it is a checkpoint path rather
than a shipped name.  Each node compiles the model into its own ``$PHONEIQA_CACHE`` on first use.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from phoneiqa.assessment import Assessment
from phoneiqa.audit.decode import Outcome, decode
from phoneiqa.audit.discover import discover, file_keys
from phoneiqa.audit.infer import DEFAULT_BATCH_SIZE, assess_prepared, model_id
from phoneiqa.audit.table import AuditTable, make_table
from phoneiqa.errors import check_count
from phoneiqa.extras import require
from phoneiqa.loading import BACKENDS, PRETRAINED, level_names

if TYPE_CHECKING:
    import numpy as np

NOT_RETURNED = "not read by Ray (removed during the audit?)"
"""The error of a file Ray gave no row for: it skips paths missing when it lists the files."""


def audit_ray(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    model: str | os.PathLike = "default",
    backend: str = "auto",
    probabilities: bool = False,
    thumbnails: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    concurrency: int | None = None,
) -> AuditTable:
    """Assess every image under ``paths`` on Ray; the table of :func:`phoneiqa.audit.audit`.

    ``model``, ``backend``, ``probabilities``, ``thumbnails``: as there.  ``batch_size``: files per
    Ray batch (one model call per batch).  ``concurrency``: actors (model replicas, one CPU each),
    at most the cluster's CPUs less one, which Ray Data's file reading needs; default: a pool that
    Ray Data grows from 1 up to that limit as batches queue up.  No SQLite cache is read or
    written.  ``ray.init()`` is called only when Ray is not initialised yet (see the module's
    docstring).  ``table.attrs`` as the local audit's (``from_cache`` is always 0).
    """
    ray = require("ray", "the Ray audit")
    require("ray.data", "the Ray audit")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    check_count("concurrency", concurrency, 1, optional=True)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    start = time.perf_counter()
    identity = model_id(model)  # also: a missing model fails here, before any Ray work
    entries, errors = discover(paths)
    by_absolute: dict[str, list[str]] = {}  # what Ray is given -> the paths as found (one file may be named twice)
    for entry, key in file_keys(entries, errors):
        error = _unreadable(entry.path, key.size)
        if error:
            errors[entry.path] = error
        else:
            by_absolute.setdefault(_absolute(entry.path), []).append(entry.path)
    outcomes = {path: Outcome(error=error) for path, error in errors.items()}
    if by_absolute:
        if not ray.is_initialized():
            ray.init()
        data = ray.data.read_binary_files(list(by_absolute), include_paths=True, ignore_missing_paths=True)
        done = data.map_batches(
            _Assessor,
            fn_constructor_kwargs={"model": _model_name(model), "backend": backend, "thumbnails": thumbnails},
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(**_pool_size(ray, concurrency)),
        )
        normalised = {os.path.normpath(p): found for p, found in by_absolute.items()}
        for batch in done.iter_batches(batch_format="numpy"):
            for path, result, thumb, error in zip(
                batch["path"], batch["assessment"], batch["thumbnail"], batch["error"], strict=True
            ):
                found = by_absolute.get(path) or normalised.get(os.path.normpath(path), [])
                outcome = (
                    Outcome(error=str(error))
                    if error
                    else Outcome(Assessment.from_dict(json.loads(result)), bytes(thumb) if thumbnails else None)
                )
                outcomes.update(dict.fromkeys(found, outcome))
        for found in by_absolute.values():
            for path in found:
                outcomes.setdefault(path, Outcome(error=NOT_RETURNED))
    paths = [e.path for e in entries]
    outcome_of = (outcomes[p] for p in paths)
    names = level_names(model)
    return make_table(paths, outcome_of, probabilities, thumbnails, level_names=names, model=identity, started=start)


def _absolute(path: str) -> str:
    """The path Ray reads (and names in its ``path`` column): absolute, otherwise unchanged.

    Not normalised: ``link/..`` is not ``.`` when ``link`` is a symbolic link to a folder.
    """
    return path if os.path.isabs(path) else os.path.join(os.getcwd(), path)


def _model_name(model: str | os.PathLike) -> str:
    """What the actors load: a shipped name as it is (each node has its own copy), a checkpoint's absolute path."""
    name = os.fspath(model)
    return name if name in PRETRAINED else os.path.abspath(name)


def _unreadable(path: str, size: int) -> str:
    """Why a file that passed ``stat`` still cannot go to Ray ("" if it can): Ray fails the whole
    dataset on a file it cannot open, and an empty file gets the local audit's message."""
    if size and os.access(path, os.R_OK):
        return ""
    return decode(path, 1, False)[2]  # fails at once, with the reason the local audit gives


def _pool_size(ray: Any, concurrency: int | None) -> dict[str, int | None]:
    """The actor pool's size.  Each replica holds a CPU and Ray Data's read tasks need one more: when
    the actors hold them all, Ray Data waits forever (seen with Ray 2.60), so that is refused here.
    A cluster with no CPUs yet is taken to be an autoscaling one, left to grow as Ray Data asks."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    most = cpus - 1 if cpus else None
    if most is not None and (most < 1 or (concurrency or 0) > most):
        reason = f"the Ray cluster has {cpus} CPUs; each model replica holds one and Ray Data needs one more to read"
        if concurrency is None:
            raise RuntimeError(f"{reason} the files, so the Ray audit needs at least 2")
        raise ValueError(f"{reason} the files, so concurrency can be at most {most}, not {concurrency}")
    return {"size": concurrency} if concurrency is not None else {"min_size": 1, "max_size": most}


class _Assessor:
    """A Ray actor: the model, loaded once; each call decodes and assesses one batch of files."""

    def __init__(self, model: str, backend: str, thumbnails: bool) -> None:
        from phoneiqa.loading import load

        self.runner = load(model, backend=backend)
        self.prepare = self.runner.preparer()
        self.thumbnails = thumbnails

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import numpy as np

        paths = [str(p) for p in batch["path"]]
        decoded = [
            decode(path, self.runner.short_side, self.thumbnails, data=bytes(data), prepare=self.prepare)
            for path, data in zip(paths, batch["bytes"], strict=True)
        ]
        ok = [i for i, (_, _, error) in enumerate(decoded) if not error]
        results: list[Assessment | str] = [error for _, _, error in decoded]
        for i, result in zip(ok, assess_prepared(self.runner, [decoded[i][0] for i in ok]), strict=True):
            results[i] = result
        columns: dict[str, list] = {"path": paths, "assessment": [], "thumbnail": [], "error": []}
        for result, (_, preview, _) in zip(results, decoded, strict=True):
            done = isinstance(result, Assessment)
            columns["assessment"].append(json.dumps(result.to_dict()) if done else "")
            columns["thumbnail"].append((preview.thumbnail or b"") if done else b"")
            columns["error"].append("" if done else result)
        return {name: np.array(values, dtype=object) for name, values in columns.items()}
