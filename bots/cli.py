"""The ``bridge`` command: run, check, console."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bots.runtime import open_runtime, redactor_for
from core.config import ConfigError, Settings, load_settings, resolve_config_path
from core.logs import setup_logging

EXIT_PROBLEM = 1
EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config file (default: $BRIDGE_CONFIG or config.toml)",
    )
    parser = argparse.ArgumentParser(
        prog="bridge",
        parents=[common],
        description="Relay Discord and Telegram chats to a remote AI, streaming replies live.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", parents=[common], help="run every front-end enabled in the config")
    sub.add_parser(
        "check",
        parents=[common],
        help="validate the config, reach the store, the backends and the platforms",
    )
    console = sub.add_parser(
        "console", parents=[common], help="chat with a backend in the terminal"
    )
    console.add_argument(
        "--backend", metavar="NAME", help="backend to talk to (default: relay.default_backend)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = _parser().parse_args(argv)
    path = resolve_config_path(getattr(args, "config", None))
    try:
        settings = load_settings(path, require_file=args.command != "console" or path.exists())
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(
        fmt=settings.log.format,
        level="WARNING" if args.command in ("check", "console") else settings.log.level,
        redactor=redactor_for(settings),
    )
    try:
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        print(file=sys.stderr)  # end the line the ^C was echoed on
        return 130


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "check":
        from bots.check import print_report, run_checks

        lines = await run_checks(settings)
        print_report(lines, sys.stdout)
        return 0 if all(line.ok for line in lines) else EXIT_PROBLEM
    if args.command == "console":
        from bots.console import chat

        if not settings.backends:
            print(
                "config error: no backend configured (add a [backends.NAME] table)", file=sys.stderr
            )
            return EXIT_CONFIG
        if args.backend and args.backend not in settings.backends:
            known = ", ".join(sorted(settings.backends))
            print(f"unknown backend '{args.backend}' (configured: {known})", file=sys.stderr)
            return EXIT_CONFIG
        async with open_runtime(settings) as rt:
            return await chat(
                rt.relay,
                backend=args.backend,
                stdin=sys.stdin,
                stdout=sys.stdout,
                recovery=rt.recovery,
            )
    from bots.run import StartupError, run

    try:
        await run(settings)
    except StartupError as exc:
        print(f"bridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


if __name__ == "__main__":
    sys.exit(main())
