"""``spinegui pacs``: search a PACS, pull studies into a project, push reports back."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

NAME = "pacs"
HELP = "search a PACS (DICOMweb), pull studies into a project, push reports back"
DESCRIPTION = """Work with the hospital's PACS over DICOMweb.

  spinegui pacs setup --url https://pacs.example.org/dicom-web --auth basic --user me
  spinegui pacs search --name "doe, jane" --date 2024-01-01-2024-01-31
  spinegui pacs pull PROJECT --patient-id 12345       (or: pull PROJECT STUDY_UID ...)
  spinegui pacs push PROJECT [--capture]
  spinegui pacs status PROJECT

The server is remembered (setup); a password or token is never written to a
file: it comes from --password-stdin, SPINEGUI_PACS_PASSWORD (basic) or
SPINEGUI_PACS_TOKEN (bearer), the system keyring (setup --remember), or a
prompt. push sends a DICOM Structured Report (TID 1500) for every reviewed
image opened from the PACS whose landmarks changed since its last report;
reports that cannot be sent stay queued in the project and go with the next
push."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="pacs_command", metavar="ACTION", required=True)
    setup = sub.add_parser("setup", help="remember the PACS server")
    setup.add_argument("--url", required=True, help="DICOMweb service address")
    setup.add_argument("--auth", choices=("none", "basic", "bearer"), default="none")
    setup.add_argument("--user", default="", help="user name (basic login)")
    setup.add_argument("--ca-bundle", default="", help="the hospital's CA certificate (PEM)")
    setup.add_argument(
        "--no-verify-tls",
        action="store_true",
        help="do not check the server's certificate (only if IT says so)",
    )
    setup.add_argument(
        "--remember",
        action="store_true",
        help="ask for the password/token now and keep it in the system keyring",
    )
    _connection(setup, url=False)

    search = sub.add_parser("search", help="list matching studies")
    _filters(search)
    search.add_argument("--series", action="store_true", help="list each study's series too")
    _connection(search)

    pull = sub.add_parser("pull", help="retrieve studies into a project (created if missing)")
    pull.add_argument("project_dir", metavar="PROJECT", type=Path, help="project folder")
    pull.add_argument("study_uids", metavar="STUDY_UID", nargs="*", help="studies to pull")
    _filters(pull)
    pull.add_argument(
        "--template", default="C7-L5", help="template of a new project (default: C7-L5)"
    )
    _connection(pull)

    push = sub.add_parser("push", help="send the reports of reviewed images")
    push.add_argument("project_dir", metavar="PROJECT", type=Path, help="project folder")
    push.add_argument("--capture", action="store_true", help="also send the annotated view")
    push.add_argument(
        "--queue-only", action="store_true", help="write the reports but do not send them yet"
    )
    _connection(push)

    status = sub.add_parser("status", help="list the project's reports and what became of them")
    status.add_argument("project_dir", metavar="PROJECT", type=Path, help="project folder")


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--patient-id", default="")
    p.add_argument("--name", default="", help="patient name or its beginning")
    p.add_argument("--accession", default="")
    p.add_argument("--date", default="", help="study date 2024-01-31, or a range A - B")
    p.add_argument(
        "--modality",
        action="append",
        help="CR or DX (repeatable; default both)",
    )


def _connection(p: argparse.ArgumentParser, url: bool = True) -> None:
    if url:
        p.add_argument("--url", default=None, help="DICOMweb address (default: from setup)")
        p.add_argument("--user", default=None, help="user name (default: from setup)")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password or token from stdin"
    )


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from spinegui.pacs.config import load_config

    if args.pacs_command == "setup":
        return _setup(args)
    if args.pacs_command == "status":
        return _status(args)
    server = load_config()
    if args.url:
        server = replace(server, url=args.url)
    if args.user is not None:
        server = replace(server, username=args.user, auth=server.auth.replace("none", "basic"))
    server = server.checked()
    return {"search": _search, "pull": _pull, "push": _push}[args.pacs_command](args, server)


def _setup(args: argparse.Namespace) -> int:
    from spinegui.pacs.config import ServerConfig, save_config
    from spinegui.pacs.credentials import Credentials

    server = ServerConfig(
        url=args.url,
        auth=args.auth,
        username=args.user,
        verify_tls=not args.no_verify_tls,
        ca_bundle=args.ca_bundle,
    ).checked()
    path = save_config(server)
    print(f"PACS settings saved to {path} (no password in it).")
    if warning := server.plain_http_warning():
        print(f"Warning: {warning}", file=sys.stderr)
    if args.remember and server.auth != "none":
        stored = Credentials().remember(server, _secret(args, server, ask=True), persist=True)
        print(
            "Password stored in the system keyring."
            if stored
            else "No system keyring here: you will be asked once per session."
        )
    return 0


def _secret(args: argparse.Namespace, server, *, ask: bool = False) -> str | None:
    from spinegui.pacs.credentials import Credentials
    from spinegui.pacs.errors import PacsError

    if server.auth == "none":
        return None
    what = "token" if server.auth == "bearer" else "password"
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    variable = "SPINEGUI_PACS_TOKEN" if server.auth == "bearer" else "SPINEGUI_PACS_PASSWORD"
    env = os.environ.get(variable)
    if env and not ask:
        return env
    stored = None if ask else Credentials().get(server)
    if stored is not None:
        return stored
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        secret = getpass.getpass(f"PACS {what} for {server.username or server.url}: ")
        Credentials().remember(server, secret, persist=False)
        return secret
    raise PacsError(
        f"The PACS needs a {what} and none was given.",
        f"Pass it with --password-stdin, set {variable}, or store it once with "
        "'spinegui pacs setup --remember'.",
    )


def _client(args, server):
    from spinegui.pacs.client import PacsClient

    return PacsClient(server, _secret(args, server))


def _query(args):
    from spinegui.pacs.search import X_RAY_MODALITIES, StudyQuery

    return StudyQuery(
        patient_id=args.patient_id,
        patient_name=args.name,
        accession=args.accession,
        study_date=args.date,
        modalities=tuple(args.modality or X_RAY_MODALITIES),
    )


def _search(args, server) -> int:
    from spinegui.core.review.report_fields import dicom_date, person_name
    from spinegui.pacs.search import list_series, search_studies

    with _client(args, server) as client:
        studies = search_studies(client, _query(args))
        for s in studies:
            print(
                f"{dicom_date(s.study_date):10}  {s.patient_id:14}  "
                f"{person_name(s.patient_name):24}  {s.accession:12}  "
                f"{'/'.join(s.modalities):6}  {s.description}  {s.study_uid}"
            )
            if args.series:
                for se in list_series(client, s.study_uid):
                    count = f"{se.instances} image(s)" if se.instances is not None else ""
                    print(f"    {se.modality:3} {se.description or '(no description)'}  {count}")
    print(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found.")
    return 0


def _pull(args, server) -> int:
    from spinegui.core.errors import SpineguiError
    from spinegui.core.store import DB_NAME, Project
    from spinegui.pacs.pull import pull_series
    from spinegui.pacs.search import list_series, search_studies

    query = _query(args)
    if not args.study_uids and not any(
        (query.patient_id, query.patient_name, query.accession, query.study_date)
    ):
        raise SpineguiError(
            "Say which studies to pull.",
            "Give study UIDs (from 'spinegui pacs search') or --patient-id, --name, "
            "--accession or --date.",
        )
    folder: Path = args.project_dir
    with _client(args, server) as client:
        uids = args.study_uids or [s.study_uid for s in search_studies(client, query)]
        if not uids:
            print("No matching study on the PACS.")
            return 1
        series = [se for uid in uids for se in list_series(client, uid)]
        exists = (folder / DB_NAME).is_file()
        with Project.open(folder) if exists else Project.create(folder, args.template) as project:

            def progress(done, total, _text):
                print(f"\r{done}/{total} images", end="", file=sys.stderr, flush=True)

            result = pull_series(client, project, series, progress=progress)
            print(file=sys.stderr)
    print(f"{project.folder}: {result.summary()}.")
    for line in result.retrieved.failed + result.kept_local:
        print(f"  {line}")
    if result.retrieved.error is not None:
        error = result.retrieved.error
        print(f"spinegui: error: {error.message}\n  {error.hint}", file=sys.stderr)
        return 1
    return 0


def _push(args, server) -> int:
    from spinegui.core.store import Project
    from spinegui.pacs.outbox import queue_reports, send_queued

    with Project.open(args.project_dir) as project:
        queued = queue_reports(project, capture=args.capture)
        print(queued.summary() + ".")
        for line in queued.skipped:
            print(f"  skipped {line}")
        waiting = len(project.reports(state="queued"))
        if args.queue_only or waiting == 0:
            return 0
        with _client(args, server) as client:
            sent = send_queued(project, client)
    print(sent.summary() + ".")
    if sent.still_queued:
        reason = sent.error or (sent.failed[-1] if sent.failed else "")
        message = getattr(reason, "message", reason)
        print(f"spinegui: error: not everything was sent: {message}", file=sys.stderr)
        print("  The reports stay queued in the project; run push again later.", file=sys.stderr)
        return 1
    return 0


def _status(args) -> int:
    from spinegui.core.store import Project

    with Project.open(args.project_dir) as project:
        names = {rec.id: rec.path.name for rec in project.images()}
        reports = project.reports()
    for r in reports:
        error = f"  last error: {r.last_error}" if r.last_error and r.state == "queued" else ""
        print(
            f"{names.get(r.image_id, r.image_id)}  {r.kind} #{r.instance_number}  {r.state}"
            f"  tries {r.attempts}{error}"
        )
    waiting = sum(r.state == "queued" for r in reports)
    print(f"{len(reports)} report(s), {waiting} waiting to be sent.")
    return 1 if waiting else 0
