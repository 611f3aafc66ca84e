#!/usr/bin/env python
"""The parsers' property-based tests (tests/core/test_fuzz_parsers.py) at length: 2000 examples
per property instead of the normal run's 60, each run with a fresh random seed (the normal run
is derandomised). Prints pytest's summary; a failure shows hypothesis's smallest example.

    python benchmarks/fuzz_long.py            # ~16,000 examples, several minutes on 2 cores
    python benchmarks/fuzz_long.py -k heatmap # one property (any pytest arguments pass through)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    env = {**os.environ, "HYPOTHESIS_PROFILE": "long",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:logging",
               str(ROOT / "tests" / "core" / "test_fuzz_parsers.py"), *argv]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
