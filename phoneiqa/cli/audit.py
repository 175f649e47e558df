"""The ``audit`` subcommand: a photo library into reports, an HTML page and XMP sidecars."""

from __future__ import annotations

import argparse
import sys

from phoneiqa.cli.registry import at_least, command, ending_in, model_options
from phoneiqa.errors import ConfigError


def _audit_args(p: argparse.ArgumentParser) -> None:
    from phoneiqa.audit import DEFAULT_BATCH_SIZE, REPORT_FORMATS

    p.add_argument("paths", nargs="+", metavar="PATH", help="image files and folders (searched recursively)")
    p.add_argument("--out", type=ending_in(*REPORT_FORMATS), help="report file: .csv, .parquet or .jsonl")
    p.add_argument(
        "--html",
        type=ending_in(".html", ".htm"),
        help="HTML report with thumbnails: one self-contained file up to 1000 photos, else the page and its images "
        "in <page>_files/ beside it",
    )
    p.add_argument("--single-file", action="store_true", help="always one self-contained HTML file (images inline)")
    p.add_argument(
        "--groups",
        action="store_true",
        help="group bursts and near-repeats of one scene, rank each group and mark its best shot "
        "(columns group, group_sure, rank_in_group; only sure groups count as removable)",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="in the HTML report, show where each flagged photo's exposure problems are (hover or open a photo)",
    )
    p.add_argument("--probabilities", action="store_true", help="add p_<issue> columns (probability of level >= 1)")
    p.add_argument("--workers", type=at_least(0), help="decoding processes (default: one per core; 0: none)")
    p.add_argument(
        "--batch-size", type=at_least(1), default=DEFAULT_BATCH_SIZE, help="photos per model call and cache commit"
    )
    model_options(p)
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache", help="SQLite result cache (default: $PHONEIQA_CACHE/audit.sqlite3)")
    cache.add_argument("--no-cache", action="store_true", help="assess everything again and keep nothing")
    p.add_argument("--ray", action="store_true", help="run on a Ray cluster (pip install 'phoneiqa[ray]')")
    xmp = p.add_argument_group("XMP sidecars (read by Lightroom Classic, darktable, digiKam; photos never modified)")
    xmp.add_argument(
        "--xmp",
        action="store_true",
        help="write or update one XMP sidecar per photo: star rating, colour label, keywords phoneiqa|<issue>|<level>, "
        "phoneiqa's own fields; what else a sidecar holds is kept",
    )
    xmp.add_argument(
        "--xmp-name",
        choices=("adobe", "darktable"),
        default="adobe",
        help="sidecar names: photo.xmp (adobe, the default; photo.jpg.xmp where another file shares the stem) "
        "or photo.jpg.xmp (darktable)",
    )
    xmp.add_argument("--xmp-overwrite", action="store_true", help="replace ratings and labels the user set")
    xmp.add_argument(
        "--xmp-reject-bursts",
        action="store_true",
        help="rate the shots of a sure burst that are not its best -1 (rejected); needs --groups",
    )


@command("audit", "assess a photo library into a CSV/Parquet/JSONL report, an HTML page and XMP sidecars", _audit_args)
def _audit(args: argparse.Namespace) -> int:
    from phoneiqa.audit import audited, summarize, write_report

    if args.explain and not args.html:
        raise ConfigError("--explain draws the exposure maps into the HTML report: give --html too")
    xmp_options = [f"--{n}" for n in ("xmp-overwrite", "xmp-reject-bursts") if getattr(args, n.replace("-", "_"))]
    if xmp_options and not args.xmp:
        raise ConfigError(f"{' and '.join(xmp_options)} change the XMP sidecars: give --xmp too")
    if args.xmp_reject_bursts and not args.groups:
        raise ConfigError("--xmp-reject-bursts rejects the shots of sure bursts but their best: give --groups too")
    options = {
        "model": args.model,
        "backend": args.backend,
        "probabilities": args.probabilities,
        "thumbnails": bool(args.html),
        "batch_size": args.batch_size,
        "workers": args.workers,
        "cache": False if args.no_cache else args.cache,
        "executor": "ray" if args.ray else "local",
        "explain": args.explain,
        "groups": args.groups,
        "progress": None,
        "concurrency": None,
    }
    try:  # the reports are written while the audit's images can be read from where it keeps them
        with audited(args.paths, **options) as (table, images):
            if args.out:
                write_report(table, args.out)
            if args.html:
                from phoneiqa.audit.reports.html import write_html

                embed = True if args.single_file else None
                write_html(
                    table, args.html, thumbnails=images.get("thumbnail"), overlays=images.get("overlay"), embed=embed
                )
            if args.xmp:
                from phoneiqa.audit.reports.xmp import write_sidecars

                sidecars = write_sidecars(
                    table,
                    naming=args.xmp_name,
                    overwrite=args.xmp_overwrite,
                    reject_bursts=args.xmp_reject_bursts,
                    model=str(args.model),
                )
    except KeyboardInterrupt:
        kept = "nothing is kept (--no-cache)" if args.no_cache or args.ray else "finished batches are cached"
        print(f"\nphoneiqa audit: interrupted; {kept}: run the same command again to resume", file=sys.stderr)
        return 130
    print(summarize(table))
    written = [f for f in (args.out, args.html) if f]
    if args.xmp:
        print(sidecars)
        if sidecars.saved:
            written.append(f"{sidecars.saved} XMP sidecars")
    if written:
        print(f"report: {', '.join(written)}")
    else:
        print(
            "report: none saved; give --out report.csv (or .parquet, .jsonl), --html report.html and/or --xmp "
            "to keep one"
        )
    return 1 if any(table.failed()) or (args.xmp and sidecars.problems) else 0
