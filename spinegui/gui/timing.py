"""Start-up milestones for bench/bench_startup.py, printed only when asked for.

With ``SPINEGUI_TIMING=1`` the app prints ``spinegui-timing <event> <unix time>``
lines; the benchmark subtracts its own launch time. Each event prints once.
"""

from __future__ import annotations

import os
import sys
import time

_seen: set[str] = set()


def mark(event: str) -> None:
    if event in _seen or not os.environ.get("SPINEGUI_TIMING"):
        return
    _seen.add(event)
    print(f"spinegui-timing {event} {time.time():.4f}", file=sys.stderr, flush=True)
