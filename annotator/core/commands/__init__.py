"""Subcommands of ``pnp-annotator``: each module has ``add_parser(subparsers)`` and ``run(args) -> int``.

Heavy imports (engine, torch) happen inside ``run`` so that ``--help`` stays instant.
"""

# Exit codes shared by every command (README "Exit codes").
EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # the shell convention for Ctrl-C (128 + SIGINT)


def open_project(folder):
    """``Project.open`` for a command: None (after printing why) if it is not a folder or its
    state folder is not a real folder; problems with the project's own files are printed as warnings."""
    import sys

    from annotator.core.project import Project
    from annotator.core.terminal import printable

    try:
        project = Project.open(folder)
    except OSError as exc:  # NotADirectoryError; layout.StateFolderError: .pnp-annotator is a file or a link
        print(f"error: {printable(exc)}", file=sys.stderr)
        return None
    for problem in project.problems:
        print(f"warning: {printable(problem)}", file=sys.stderr)
    return project
