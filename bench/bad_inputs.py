"""Throw bad inputs and faults at spinegui and count how many are handled cleanly.

The catalogue (``bench/bad_input_cases.py``) holds the kinds of cases the audit
of issue 10 tried against the command line, the Python API, the project store
and the window's Qt-free import path: damaged files of every format, hostile
annotation files, outputs that would overwrite something, replaced X-rays, full
disks, kills and two writers. Each case runs and is judged:

  clean      spinegui's own error (a SpineguiError with a message) or a clear
             message from the command, no traceback, and saved data intact;
             or, where the input is usable, the right result
  not clean  anything else: a traceback, a wrong result, lost or overwritten data

Run: ``python bench/bad_inputs.py [-v] [--only GROUP]``; prints a table by group.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # tests/ holds shared builders

from bad_input_cases import GROUPS, catalogue


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per case")
    parser.add_argument("--only", help="run one group (its number)")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    work = Path(tempfile.mkdtemp(prefix="spinegui-bad-inputs-"))
    tried, clean, failures = Counter(), Counter(), []
    started = time.perf_counter()
    try:
        for case in catalogue(work):
            if args.only and case.group != args.only:
                continue
            folder = work / f"case-{sum(tried.values()):04d}"
            folder.mkdir()
            try:
                ok, note = case.run(folder)
            except BaseException as exc:  # the harness itself must survive every case
                ok, note = False, f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
                if args.verbose:
                    traceback.print_exc()
            tried[case.group] += 1
            clean[case.group] += bool(ok)
            if not ok:
                failures.append((case, note))
            if args.verbose:
                print(f"{'ok ' if ok else 'BAD'} [{case.group}] {case.kind:6} {case.name}: {note}")
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'group':58} {'tried':>6} {'clean':>6} {'not clean':>10}")
    for group, title in GROUPS.items():
        if tried[group]:
            n, c = tried[group], clean[group]
            print(f"{group + '. ' + title:58} {n:>6} {c:>6} {n - c:>10}")
    total, total_clean = sum(tried.values()), sum(clean.values())
    print(f"{'all':58} {total:>6} {total_clean:>6} {total - total_clean:>10}")
    print(f"({time.perf_counter() - started:.0f} s)")
    if failures:
        print("\nNot clean:")
        for case, note in failures:
            print(f"  [{case.group}] {case.kind} {case.name}: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
