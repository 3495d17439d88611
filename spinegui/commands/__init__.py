"""CLI subcommands, one module each.

Each module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Modules import heavy dependencies (torch, Qt) inside
``run`` so that ``spinegui --help`` stays fast.
"""
