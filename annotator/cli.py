"""The ``pnp-annotator`` command: the annotation window, or a headless subcommand.

    pnp-annotator [PATH]                 open the window (on a folder or an image)
    pnp-annotator COMMAND [options]      label | export | import | eval | calibrate

A first argument that names a command dispatches to it; anything else is the
window's optional PATH. Commands live in modules with ``add_parser(subparsers)``
and ``run(args) -> int``; they are imported when the parser is built, and keep
their heavy imports (torch, Qt) inside ``run`` so that ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
from collections.abc import Sequence

from annotator import __version__

PROG = "pnp-annotator"
EXIT_USAGE = 2

# name -> module; the order is the order of `--help`.
COMMANDS = {
    "label": "annotator.core.commands.label",
    "export": "annotator.core.commands.export",
    "import": "annotator.core.commands.importing",
    "eval": "annotator.core.evaluation.command",
    "serve": "annotator.serve.command",
    "calibrate": "annotator.core.commands.calibrate",
}

DESCRIPTION = ("Annotate images with open-vocabulary segmentation proposals (PnP-OVSS on BLIP), "
               "edit them as polygons and export COCO. Without a command, opens the annotation "
               "window on PATH (a folder of images or one image).")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 some items failed, 2 usage or fatal error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 is shown with its escapes
        if getattr(stream, "errors", None) in ("strict", "surrogateescape") and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        if argv and argv[0] in COMMANDS:
            return _run_command(argv)
        if argv and argv[0] in ("-h", "--help"):
            _command_parser().parse_args(argv)  # prints the help listing every command
        if argv and not argv[0].startswith("-") and not os.path.exists(argv[0]):
            return _not_a_command(argv[0])
        return _run_gui(argv)
    except SystemExit as exc:  # argparse's --help, --version and usage errors
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130


def _not_a_command(word: str) -> int:
    """A first argument that is neither a command nor an existing path: a typo, most likely."""
    close = difflib.get_close_matches(word.lower(), list(COMMANDS), n=1, cutoff=0.6)
    hint = (f"did you mean '{close[0]}'?" if close
            else f"the commands are {', '.join(COMMANDS)}; see '{PROG} --help'.")
    print(f"{PROG}: error: '{word}' is neither a command nor a file or folder; {hint}", file=sys.stderr)
    return EXIT_USAGE


def _command_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION,
        usage=f"{PROG} [-h] [--version] [PATH]\n       {PROG} {{{','.join(COMMANDS)}}} ...",
        epilog=f"Run '{PROG} COMMAND --help' for a command's options. Exit codes: 0 success, "
               "1 some images failed, 2 usage or fatal error, 130 interrupted.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", prog=PROG)
    for name, module_name in COMMANDS.items():
        module = _load(module_name)
        if module is None:
            sub.add_parser(name, help="(not available in this installation)")
        else:
            module.add_parser(sub)
    return parser


def _load(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None  # the command's own module is missing, not one of its imports
        raise


def _run_command(argv: list[str]) -> int:
    module = _load(COMMANDS[argv[0]])
    if module is None:
        print(f"error: the '{argv[0]}' command is not available in this installation "
              f"(module {COMMANDS[argv[0]]} is missing); reinstall pnp-annotator.", file=sys.stderr)
        return EXIT_USAGE
    args = _command_parser().parse_args(argv)
    return _exit_code(module.run(args))


def _run_gui(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION,
                                     epilog=f"Commands: {', '.join(COMMANDS)} (see '{PROG} --help').")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("path", nargs="?", metavar="PATH", help="folder of images or one image to open")
    args = parser.parse_args(argv)
    try:
        from annotator.gui.app import run_app
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name not in ("annotator.gui.app", "annotator.gui"):
            print(f"error: the annotation window needs {exc.name!r}, which is not installed "
                  f"({exc}); reinstall pnp-annotator. The headless commands still work: "
                  f"{', '.join(COMMANDS)}.", file=sys.stderr)
        else:
            print(f"error: the annotation window is not available in this installation ({exc}). "
                  f"The headless commands still work: {', '.join(COMMANDS)}.", file=sys.stderr)
        return EXIT_USAGE
    return _exit_code(run_app(args.path))


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # SystemExit("message") convention
    return 1
