"""Run the ngff-fuse CLI and SIGKILL it once it has written N blocks: a crash at a known
point, for the kill-and-resume tests and benchmarks. The hook is injected from here, so the
write path that ships never reads a test switch.

    python -m ngff_fuse.testing.crash N convert IN OUT [options]
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from ngff_fuse import pyramid_writer
from ngff_fuse.cli import main


def kill_after(blocks: int) -> None:
    """Wrap the block writer (before the graph that calls it is built) to count and kill."""
    write = pyramid_writer._write_block
    written = 0
    lock = threading.Lock()

    def counted(*args, **kwargs):
        nonlocal written
        result = write(*args, **kwargs)
        with lock:
            written += 1
            if written >= blocks:
                os.kill(os.getpid(), signal.SIGKILL)
        return result

    pyramid_writer._write_block = counted


if __name__ == "__main__":
    kill_after(int(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
