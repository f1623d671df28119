"""Every benchmark, one after the other (``make bench``), or all of them in smoke mode (the test suite).

    uv run python bench/run_all.py [--smoke] [--only worker drift ...]

The full run writes bench/results/*.json;
BENCHMARKS.md quotes them with the command of each. ``--smoke`` runs each script's every step on
tiny inputs, to prove none has rotted; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: script -> extra arguments of its full run
SCRIPTS: dict[str, list[str]] = {
    "foundation": [],
    "barrier": [],  # flush counts, no broker
    "imports": [],
    "trainer": [],
    "selection": [],  # 24 trainings on 120-day datasets and 3 on the default dataset
    "drift": [],
    "xgb_threads": [],
    "worker_profile": ["--no-profile"],
    "faust_consume": [],
    "fetch_cost": [],
    "worker": [],
    "scaling": [],
    "soak": [],  # 30 minutes at 2,000 events/s
    "spy_summary": [],  # a summariser of py-spy profiles: in a full run, only its smoke check
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="each script on tiny inputs")
    parser.add_argument("--only", nargs="+", choices=sorted(SCRIPTS), help="run these scripts only")
    args = parser.parse_args()
    failed = []
    for name in args.only or SCRIPTS:
        extra = ["--smoke"] if args.smoke or name == "spy_summary" else SCRIPTS[name]
        started = time.monotonic()
        print(f"== bench/{name}.py {' '.join(extra)}", flush=True)
        code = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *extra], cwd=HERE.parent).returncode
        outcome = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"== bench/{name}.py: {outcome} in {time.monotonic() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
