"""``pnp-annotator serve``: the engines as a Label Studio ML backend (README "Use with Label Studio")."""

from __future__ import annotations

import argparse
import os
import sys

from annotator.core.commands.argtypes import fraction, non_negative, positive_int, probability
from annotator.core.project import DEVICES, PROPOSAL_MODES

HELP = "serve the model to Label Studio as an ML backend (predictions and smart tools)"
EXIT_OK, EXIT_USAGE = 0, 2


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "serve", help=HELP, description=HELP + ". Add http://HOST:PORT as the project's model in Label Studio; "
        "the labels of its <PolygonLabels>/<BrushLabels> control are the class prompts, and "
        "<KeyPointLabels>/<RectangleLabels smart=\"true\"> clicks go to the interactive model.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=9090, help="port (default: 9090)")
    p.add_argument("--model", metavar="ID|PATH", help="as in `label` (default: the settings', else PnP-OVSS)")
    p.add_argument("--interactive-model", metavar="ID|PATH",
                   help="smart tools' model (default: the settings', else facebook/sam2.1-hiera-tiny)")
    p.add_argument("--device", choices=DEVICES, help="default: the settings', else auto")
    p.add_argument("--settings", metavar="DIR",
                   help="a pnp-annotator project folder whose settings (.pnp-annotator/project.json) to use")
    p.add_argument("--threshold", type=probability, metavar="T", help="per-class threshold, as in `label`")
    p.add_argument("--proposals", choices=PROPOSAL_MODES, help="regions or instances (SAM 3), as in `label`")
    p.add_argument("--tolerance", type=non_negative, metavar="PX", help="polygon simplification in pixels")
    p.add_argument("--min-area", type=fraction, metavar="FRACTION", help="drop polygons below this image fraction")
    p.add_argument("--batch-size", type=positive_int, default=4, metavar="N", help="images per model call (4)")
    p.add_argument("--files-root", metavar="DIR",
                   help="Label Studio's local-files document root (default: $LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT); "
                        "without one, local files are fetched from Label Studio")
    p.add_argument("--label-studio-url", metavar="URL",
                   help="Label Studio's address for uploaded files (default: $LABEL_STUDIO_URL, then what /setup says)")
    p.add_argument("--max-image-mb", type=non_negative, default=64.0, metavar="MB", help="image size limit (64)")
    p.add_argument("--fetch-timeout", type=non_negative, default=20.0, metavar="S", help="image fetch timeout (20 s)")
    p.add_argument("--basic-auth-user", metavar="USER",
                   help="require HTTP basic auth (Label Studio's backend 'Basic Auth'); the password from "
                        "$BASIC_AUTH_PASS (default user: $BASIC_AUTH_USER)")
    return p


def run(args: argparse.Namespace) -> int:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    settings = _settings(args)
    if isinstance(settings, int):
        return settings
    auth = _auth(args)
    if isinstance(auth, int):
        return auth
    from annotator.serve.backend import Backend, predict_timeout_from_env
    from annotator.serve.images import ImageFetcher

    try:
        timeout = predict_timeout_from_env()
    except ValueError as exc:
        return _fail(str(exc))
    root = args.files_root or os.environ.get("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT") or None
    if root and not os.path.isdir(root):
        return _fail(f"--files-root {root!r} is not a folder")
    fetcher = ImageFetcher(root, label_studio_url=args.label_studio_url or os.environ.get("LABEL_STUDIO_URL", ""),
                           token=os.environ.get("LABEL_STUDIO_API_KEY", ""),
                           max_bytes=int(args.max_image_mb * 1024 * 1024), timeout=args.fetch_timeout)
    print(f"Loading {settings.model or 'the default model'}...", file=sys.stderr)
    from engine import ModelNotFoundError

    try:
        backend = Backend(settings, fetcher, batch_size=args.batch_size, predict_timeout=timeout)
    except ModelNotFoundError as exc:
        return _fail(str(exc))
    except (ValueError, RuntimeError) as exc:
        return _fail(f"cannot start with model {settings.model or 'default'!r}: {exc}")
    from annotator.serve.http import BackendServer

    try:
        server = BackendServer((args.host, args.port), backend, auth)
    except OSError as exc:
        backend.close()
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    if auth is None and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host} without basic auth: anyone who reaches this port can use the "
              "model and make it fetch URLs; set BASIC_AUTH_USER and BASIC_AUTH_PASS", file=sys.stderr)
    print(f"Serving {backend.model_version} on {server.url} (Ctrl-C to stop). In Label Studio: Settings > Model > "
          f"Connect Model > {server.url}", file=sys.stderr, flush=True)
    try:
        _serve_until_signal(server)
    finally:
        server.server_close()
        backend.close()
    return EXIT_OK


def _serve_until_signal(server) -> None:
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _settings(args):
    from dataclasses import replace

    from annotator.core.project import ProjectSettings

    settings = ProjectSettings()
    if args.settings:
        from annotator.core.commands import open_project

        project = open_project(args.settings)
        if project is None:
            return EXIT_USAGE
        settings = project.settings
    changes = {"model": args.model, "interactive_model": args.interactive_model, "device": args.device,
               "threshold": args.threshold, "proposals": args.proposals, "simplify_tolerance": args.tolerance,
               "min_area_fraction": args.min_area}
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})


def _auth(args):
    user = args.basic_auth_user or os.environ.get("BASIC_AUTH_USER", "")
    if not user:
        return None
    password = os.environ.get("BASIC_AUTH_PASS", "")
    if not password:
        return _fail("basic auth needs a password: set BASIC_AUTH_PASS in the environment")
    if ":" in user:
        return _fail("the basic auth user may not contain ':'")
    return user, password


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE
