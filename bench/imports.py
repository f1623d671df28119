"""Start-up cost of the processes: wall time and peak memory of importing each, in a fresh interpreter.

    uv run python bench/imports.py [--repeat 5]

Measures ``import xgboost`` as XGBoost does it (it imports scikit-learn and SciPy for its wrappers)
against ``import registry`` (XGBoost with scikit-learn hidden, ``registry/xgboost_runtime.py``),
then what the worker, the drift consumer and the CLI's parser load. Median wall seconds and the
largest peak resident memory of ``--repeat`` runs each; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import add_smoke_flag, results_dir

ROOT = Path(__file__).resolve().parent.parent
PROBES = {
    "import xgboost (as XGBoost does: with scikit-learn)": "import xgboost",
    "import registry (XGBoost, scikit-learn hidden)": "import registry",
    "import consumers.scoring.worker": "import consumers.scoring.worker",
    "import consumers.drift.consumer": "import consumers.drift.consumer",
    "fraudstream --help (cli.main.build_parser)": "import cli.main; cli.main.build_parser()",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    add_smoke_flag(parser)
    args = parser.parse_args()
    repeat = 1 if args.smoke else args.repeat
    rows = {}
    for name, code in PROBES.items():
        probe = f"import resource; {code}; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        walls, peaks = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True)
            walls.append(time.perf_counter() - started)
            peaks.append(int(out.stdout.split()[-1]))
        rows[name] = {"median_seconds": round(statistics.median(walls), 2), "peak_rss_mib": round(max(peaks) / 1024)}
        print(name, rows[name], flush=True)
    (results_dir(args.smoke) / "imports.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\n| import (fresh interpreter, {repeat} runs) | median wall | peak RSS |\n|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['median_seconds']} s | {row['peak_rss_mib']} MiB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
