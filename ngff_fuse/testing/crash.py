"""Run the ngff-fuse CLI and SIGKILL it once it has written N blocks: a crash at a known
point, for the kill-and-resume tests and benchmarks; with `--signal INT`, a Ctrl-C there
instead (whatever the machine's speed, the run is still writing when it comes). The hook is
injected from here, so the write path that ships never reads a test switch.

    python -m ngff_fuse.testing.crash [--signal INT] N convert IN OUT [options]
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from ngff_fuse import pyramid_writer
from ngff_fuse.cli import main


def kill_after(blocks: int, signum: int = signal.SIGKILL) -> None:
    """Wrap the block writer (before the graph that calls it is built) to count and send
    `signum` to this process once `blocks` are written (once: a Ctrl-C handler runs on)."""
    write = pyramid_writer._write_block
    written = 0
    lock = threading.Lock()

    def counted(*args, **kwargs):
        nonlocal written
        result = write(*args, **kwargs)
        with lock:
            written += 1
            if written == blocks:
                os.kill(os.getpid(), signum)
        return result

    pyramid_writer._write_block = counted


if __name__ == "__main__":
    args = sys.argv[1:]
    signum = signal.SIGKILL
    if args[0] == "--signal":
        signum, args = signal.Signals[f"SIG{args[1]}"], args[2:]
    kill_after(int(args[0]), signum)
    sys.exit(main(args[1:]))
