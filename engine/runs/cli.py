"""CLI: `runs list|show|delete` and `report RUN_ID --out F.html|F.pdf`."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import InputError
from engine.runs.store import RunStore

FORMATS = (".html", ".pdf")


def _list(args: argparse.Namespace) -> list[dict]:
    return [{"id": run.id, "kind": run.kind, "title": run.title, "created_at": run.created_at.isoformat(),
             "metrics": run.metrics} for run in RunStore().list(args.search, args.kind)]


def _show(args: argparse.Namespace) -> dict:
    run = RunStore().get(args.run_id)
    return {"id": run.id, "kind": run.kind, "title": run.title, "params": run.params, "metrics": run.metrics,
            "versions": run.versions, "command": run.command, "note": run.note,
            "created_at": run.created_at.isoformat(),
            "arrays": {name: list(array.shape) for name, array in run.arrays.items()}}


def _delete(args: argparse.Namespace) -> dict:
    if not args.yes:
        raise InputError("deleting is permanent: repeat the command with --yes to confirm.")
    RunStore().delete(args.run_id, confirm=args.run_id)
    return {"deleted": args.run_id}


def _report(args: argparse.Namespace) -> dict:
    from engine.reports import render_html, render_pdf

    out = Path(args.out)
    if out.suffix.lower() not in FORMATS:
        raise InputError(f"--out must end in {' or '.join(FORMATS)} (got {out.name!r}).")
    run = RunStore().get(args.run_id)
    if out.suffix.lower() == ".pdf":
        out.write_bytes(render_pdf(run))
    else:
        out.write_text(render_html(run), encoding="utf-8")
    return {"run": run.id, "out": str(out), "bytes": out.stat().st_size}


def register(sub) -> None:
    """Add the `runs` group and the `report` command."""
    runs = sub.add_parser("runs", help="list, show or delete saved runs").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    listing = runs.add_parser("list", help="saved runs, newest first, as JSON")
    listing.add_argument("--search", default="", help="text to look for in title, note, kind or parameters")
    listing.add_argument("--kind", default=None, help="only runs of this kind (e.g. synth.sweep)")
    listing.set_defaults(func=_list)
    show = runs.add_parser("show", help="one run's parameters, metrics and array shapes")
    show.add_argument("run_id")
    show.set_defaults(func=_show)
    delete = runs.add_parser("delete", help="delete a run (needs --yes)")
    delete.add_argument("run_id")
    delete.add_argument("--yes", action="store_true", help="confirm the deletion")
    delete.set_defaults(func=_delete)

    report = sub.add_parser("report", help="write a run's shareable report (HTML or PDF)")
    report.add_argument("run_id")
    report.add_argument("--out", required=True, help="report.html (self-contained) or report.pdf")
    report.set_defaults(func=_report)
