"""Each worker process on a host gets a state folder of its own; a crashed one's folder is free at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from consumers.scoring.state_dir import StateDirClaim

HOLD = """
import sys, time
from pathlib import Path
from consumers.scoring.state_dir import StateDirClaim
claim = StateDirClaim(Path(sys.argv[1]))
print(claim.path.name, flush=True)
time.sleep(60)
"""


def test_a_second_process_gets_the_next_folder_and_a_killed_ones_folder_is_reused(tmp_path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "process-0"
        second = StateDirClaim(tmp_path)
        assert second.path == tmp_path / "process-1"
        holder.send_signal(signal.SIGKILL)  # no clean-up runs: the kernel drops the lock
        holder.wait(10)
        deadline = time.monotonic() + 5
        while (third := StateDirClaim(tmp_path)).path.name != "process-0" and time.monotonic() < deadline:
            third.release()
            time.sleep(0.05)
        assert third.path == tmp_path / "process-0"
        second.release()
        third.release()
    finally:
        holder.kill()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
