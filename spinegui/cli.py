"""The ``spinegui`` command: the GUI by default, subcommands for headless work.

Thin by design: argument parsing and error reporting live here, the work
lives in ``spinegui.commands.<name>`` modules that are imported only when
their subcommand runs, so ``--help`` never pays for torch or Qt.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from pathlib import Path

from spinegui import __version__
from spinegui.core.errors import SpineguiError

# Subcommand modules under spinegui.commands, in the order --help lists them.
COMMANDS = (
    "demo",
    "import_aasce",
    "phantom",
    "export",
    "measure",
    "train",
    "predict",
    "evaluate",
    "pacs",
)


def _load_commands():
    modules = []
    for name in COMMANDS:
        try:
            modules.append(importlib.import_module(f"spinegui.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"spinegui.commands.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spinegui",
        description="Measure scoliosis on spinal X-rays. Without a subcommand, "
        "opens the review window.",
    )
    parser.add_argument("--version", action="version", version=f"spinegui {__version__}")
    parser.add_argument(
        "--screenshot",
        type=Path,
        metavar="PATH",
        help="open the last project, save the window as a PNG once predictions are drawn, "
        "then exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _load_commands():
        p = sub.add_parser(
            module.NAME,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _printable_streams() -> None:
    """Print file names that are not valid UTF-8 (they exist on Linux) instead of crashing.

    Python keeps such bytes as surrogate escapes; a strict stdout raises
    UnicodeEncodeError the moment a report names the file.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    _printable_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    try:
        if run is None:
            gui = importlib.import_module("spinegui.commands.gui")
            return gui.run(args)
        return int(run(args) or 0)
    except SpineguiError as exc:
        print(f"spinegui: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spinegui: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a file or disk failure no command anticipated
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"spinegui: error: {exc.strerror or exc}{where}.", file=sys.stderr)
        print("  Check the path, the permissions and the free disk space.", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name == "spinegui.commands.gui":
            parser.print_help()
            return 0
        raise


if __name__ == "__main__":
    raise SystemExit(main())
