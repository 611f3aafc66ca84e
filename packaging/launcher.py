"""Entry script of the PyInstaller build: the same `main` as the `pnp-annotator` command."""

import multiprocessing

from annotator.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen app re-enters here for any worker processes
    raise SystemExit(main())
