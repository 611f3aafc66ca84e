#!/usr/bin/env python
"""Install a working torch + torchvision pair into the running interpreter's environment.

Run by ``make`` with the project venv's Python, before the project itself is installed:

    .venv/bin/python packaging/install_torch.py [--index URL]

1. Without an NVIDIA GPU, PyTorch's CPU builds are preferred (several GB of CUDA wheels
   are not needed). Their index (``--index``) is probed first with a 5 s timeout: when it
   does not answer, torch comes from pip's configured indexes instead, at once, rather than
   after minutes of pip's retries. With a GPU, or ``--index ''``, pip's configured indexes
   are used directly.
2. Whatever was installed is proved by running a torchvision operator
   (``torchvision.ops.nms`` on a tiny tensor): a torchvision built for another torch imports
   but its operators are missing, and transformers' SAM and BLIP imports then fail.
3. When the proof fails, the newest torchvision from pip's configured indexes is installed
   together with the torch it was built against (torchvision wheels pin their torch exactly),
   replacing both, and the proof runs again. What was done is printed.

An environment whose pair already passes the proof is left alone. Exit status 0 only when
the installed pair passes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import urllib.request

PROOF = "import torch, torchvision; torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)"
PROBE_TIMEOUT_S = 5


def say(message: str) -> None:
    print(f"[torch] {message}", flush=True)


def pair_works() -> tuple[bool, str]:
    """(True, versions) when torch + torchvision import and a torchvision operator runs."""
    run = subprocess.run([sys.executable, "-c", PROOF + "; print(torch.__version__, torchvision.__version__)"],
                         capture_output=True, text=True)
    if run.returncode == 0:
        return True, run.stdout.strip()
    lines = [line for line in run.stderr.strip().splitlines() if line.strip()]
    return False, lines[-1] if lines else f"exit status {run.returncode}"


def index_reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=PROBE_TIMEOUT_S) as answer:
            return 200 <= answer.status < 400
    except (OSError, ValueError):
        return False


def pip(*args: str, quick: bool = False) -> bool:
    env = dict(os.environ)
    if quick:  # the index answered the probe: still, never wait minutes on it
        env["PIP_DEFAULT_TIMEOUT"] = "15"
        env["PIP_RETRIES"] = "1"
    return subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *args], env=env).returncode == 0


def has_nvidia_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="https://download.pytorch.org/whl/cpu",
                        help="PyTorch's CPU wheel index; empty: use pip's configured indexes")
    args = parser.parse_args(argv)

    works, detail = pair_works()
    if works:
        say(f"torch + torchvision already work together ({detail}); nothing to install")
        return 0
    if has_nvidia_gpu() or not args.index:
        why = "an NVIDIA GPU is present" if has_nvidia_gpu() else "no CPU index given"
        say(f"installing torch + torchvision from pip's configured indexes ({why})")
        pip("torch", "torchvision")
    elif index_reachable(args.index):
        say(f"installing the CPU builds of torch + torchvision from {args.index}")
        if not pip("torch", "torchvision", "--index-url", args.index, quick=True):
            say("that failed; installing torch + torchvision from pip's configured indexes")
            pip("torch", "torchvision")
    else:
        say(f"{args.index} is not reachable (probed with a {PROBE_TIMEOUT_S} s timeout); "
            "installing torch + torchvision from pip's configured indexes")
        pip("torch", "torchvision")

    works, detail = pair_works()
    if works:
        say(f"torch + torchvision work together ({detail})")
        return 0
    say(f"the installed torch and torchvision do not work together: {detail}")
    say("replacing both with the newest torchvision from pip's configured indexes and the torch it was built for")
    pip("--upgrade", "--force-reinstall", "torch", "torchvision")
    works, detail = pair_works()
    if works:
        say(f"torch + torchvision work together now ({detail})")
        return 0
    say(f"still no working pair: {detail}. Install a matching pair by hand, e.g. "
        "`pip install torch==2.14.1 torchvision==0.29.1` (torchvision 0.N+15 goes with torch 2.N)")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
