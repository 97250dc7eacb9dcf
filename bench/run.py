"""`make bench`: run every benchmark module, one after the other.

    python -m bench.run

Each entry of BENCHMARKS is run as `python -m <module>` with its default
(full-size) arguments, in its own process with its own private server; a full
run writes its section of docs/benchmarks.md. Add a benchmark by adding its
module here.
"""

from __future__ import annotations

import subprocess
import sys
import time

# bench.suite supersedes bench.overview (the same overview / floor / fan-out
# comparison and the growth check, with same-width floors and more reads), which
# is no longer run here; `python -m bench.overview` still works on its own.
BENCHMARKS = [
    "bench.ingest",
    "bench.suite",
    "bench.writers",
]


def main() -> int:
    for module in BENCHMARKS:
        print(f"== {module}", flush=True)
        started = time.perf_counter()
        status = subprocess.run([sys.executable, "-m", module], check=False).returncode
        print(f"== {module}: exit {status} after {time.perf_counter() - started:.0f} s",
              flush=True)
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
