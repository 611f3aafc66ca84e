"""Subcommands of ``pnp-annotator``: each module has ``add_parser(subparsers)`` and ``run(args) -> int``.

Heavy imports (engine, torch) happen inside ``run`` so that ``--help`` stays instant.
"""

# Exit codes shared by every command (README "Exit codes").
EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # the shell convention for Ctrl-C (128 + SIGINT)
