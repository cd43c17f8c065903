"""``senim-edge``: run a camera host, or show its state. argparse, not typer: the light
install carries no CLI framework. Bad input (key file, config, source) is one clear line on
stderr and exit code 2."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    from edge.state_paths import DEFAULT_STATE_DIR

    parser = argparse.ArgumentParser(
        prog="senim-edge", description="Senim edge runner: emotion rules on a camera host."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="classify faces from a camera or video and fire rules")
    run.add_argument(
        "--key-file",
        required=True,
        type=Path,
        help="the key file from `senim keys create --role edge_device`",
    )
    run.add_argument(
        "--source",
        required=True,
        help="camera index (0), video file, or stream URL (rtsp://, http://)",
    )
    run.add_argument("--server", default=None, help="Senim base URL (default: the key file's)")
    run.add_argument("--config", type=Path, default=None, help="rules and notifiers (YAML)")
    run.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help=f"models, outbox and clips (default ./{DEFAULT_STATE_DIR})",
    )
    run.add_argument("--max-frames", type=_positive_int, default=None, help="stop after N frames")
    run.add_argument(
        "--max-seconds", type=_positive_float, default=None, help="stop after S seconds"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    status = commands.add_parser("status", help="show the host's state (no server needed)")
    status.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "status":
        return _status(args)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config
    from edge.protocol import EdgeKeyFile, ProtocolError
    from edge.runner import EdgeRunner, RunOptions
    from edge.video_source import SourceError

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL at INFO: noisy, and a Telegram URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        key_file = EdgeKeyFile.load(args.key_file)
        config = load_config(args.config)
        if args.server and not args.server.startswith(("http://", "https://")):
            raise ConfigError(f"--server: {args.server!r} is not an http(s) URL")
        runner = EdgeRunner(
            RunOptions(
                key_file=key_file,
                source=args.source,
                config=config,
                state_dir=args.state_dir,
                server=args.server,
                max_frames=args.max_frames,
                max_seconds=args.max_seconds,
            )
        )
    except (ProtocolError, ConfigError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    previous = signal.signal(signal.SIGTERM, lambda *_: runner.stop.set())
    try:
        summary = runner.run()
    except SourceError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        runner.stop.set()
        return EXIT_OK
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(
        f"processed {summary.frames} frames ({summary.failed_reads} failed reads), "
        f"{summary.events} events, model {summary.model_version or 'none'}, {summary.fps} fps"
    )
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from edge.state_paths import StatePaths
    from edge.status_report import StateDirMissing, status_lines

    try:
        print("\n".join(status_lines(StatePaths(args.state_dir))))
    except StateDirMissing as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    return EXIT_OK


def _fail(message: str, code: int) -> int:
    print(f"senim-edge: error: {message}", file=sys.stderr)
    return code


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


if __name__ == "__main__":
    sys.exit(main())
