"""Summarise a py-spy raw (collapsed stacks) profile: inclusive share per function, top N.

uv run python bench/spy_summary.py PROFILE [--top 40] [--under FUNCTION]
"""

from __future__ import annotations

import argparse
from collections import Counter


def _short(frame: str) -> str:
    """``function (file.py)`` from py-spy's ``function (path/file.py:line)``."""
    return frame.split(" (")[0] + " (" + frame.rsplit("/", 1)[-1].split(":")[0].rstrip(")") + ")"


def _sample_profile() -> str:
    """A small profile in py-spy's raw format (``stack;frames count`` lines)."""
    import tempfile

    frames = ["main (cli/main.py:60)", "run (consumers/scoring/worker.py:140)"]
    lines = [";".join([*frames, "process (consumers/scoring/processor.py:150)"]) + " 7",
             ";".join([*frames, "produce (consumers/scoring/delivery.py:110)"]) + " 3"]  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as out:
        out.write("\n".join(lines) + "\n")
    return out.name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile", nargs="?", help="py-spy --format raw output")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--under", help="only samples whose stack contains this function name")
    parser.add_argument("--smoke", action="store_true", help="summarise a small made-up profile")
    args = parser.parse_args()
    if args.smoke:
        args.profile = _sample_profile()
    elif args.profile is None:
        parser.error("PROFILE is required")
    total, inclusive, own = 0, Counter[str](), Counter[str]()
    with open(args.profile, encoding="utf-8") as lines:
        rows = [line.rstrip().rpartition(" ") for line in lines]
    for stack, _, count in rows:
        frames = [_short(frame) for frame in stack.split(";")]
        if args.under and not any(f.startswith(args.under + " ") for f in frames):
            continue
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"{total:,} samples" + (f" under {args.under}" if args.under else ""))
    print("inclusive:")
    for name, n in inclusive.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("self:")
    for name, n in own.most_common(15):
        print(f"  {100 * n / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
