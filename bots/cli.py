"""The ``bridge`` command: run, check, console, bindings, usage."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from bots.runtime import open_runtime, redactor_for, version
from core.config import (
    ConfigError,
    Settings,
    load_settings,
    resolve_config_path,
    unknown_environment,
)
from core.errors import StoreUnavailable
from core.logs import Redactor, setup_logging

EXIT_PROBLEM = 1
EXIT_CONFIG = 2  # only an edit fixes it: a supervisor should not restart in a loop
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: something did not answer at start; trying again may work


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
    parser.add_argument("--version", action="version", version=f"bridge {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=summary, description=description)

    command(
        "run",
        "run every front-end enabled in the config",
        "Run every front-end enabled in the config until SIGTERM or Ctrl-C; replies in flight "
        "get run.grace_period seconds to finish. SIGHUP re-reads the config file. Start-up "
        "refuses, with one line and exit 2, a config that could never serve.",
    )
    command(
        "check",
        "validate the config, reach the store, the backends and the platforms",
        "Validate the config, then reach the store, every backend (credentials, bot and "
        "character ids) and every enabled platform (bot token, privacy mode, intents); print one "
        "line per check. Exit 0 when all is well, 1 on a problem, 2 on a config error.",
    )
    command(
        "health",
        "ask the running bridge's /healthz (the container's health check)",
        "Ask /healthz of the bridge running with this config, at health.host and health.port; "
        "print its answer. Exit 0 when healthy, 1 otherwise.",
    )
    console = command(
        "console",
        "chat with a backend in the terminal",
        "Chat with a backend through the same relay and store as the bots, as the operator (no "
        "rate limit). At a terminal: line editing and history, and a paste of several lines is "
        "one message. From a pipe: lines up to a blank line are one message. A line starting "
        "with / is a command (/reset, /status, /help, /quit), never sent. Input that is not "
        "UTF-8 is skipped with a line saying so. At the end of input the reply in progress "
        "finishes.",
    )
    console.add_argument(
        "--backend", metavar="NAME", help="backend to talk to (default: relay.default_backend)"
    )
    bindings = command(
        "bindings",
        "export or import every channel's binding, mode, scope and block list",
        "Export every channel's settings (binding, mode, scope, block list) from the configured "
        "store as JSON lines, or import such a file into it: for backups, and to move from the "
        "SQLite file to Redis (export with one config, import with the other).",
    )
    actions = bindings.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        parents=[common],
        help="write every channel's settings as JSON lines",
        description=(
            "Write one JSON line per channel (binding, mode, scope) and per block list"
            " (a server, a group, or everywhere) to standard output or --output FILE."
        ),
    )
    export.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    load = actions.add_parser(
        "import",
        parents=[common],
        help="read an export into the configured store",
        description="Read an export (JSON lines; '-' for standard input) into the configured "
        "store. A file with a bad line is refused whole, naming each bad line.",
    )
    load.add_argument("file", metavar="FILE", help="the export to read ('-' for stdin)")
    _usage_parser(command)
    return parser


def _usage_parser(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    from bots.usage_report import BY, FORMATS

    usage = command(
        "usage",
        "messages counted against the allowances, from the store",
        "Print the messages each user, chat, server or backend plan was counted for in the "
        "allowance windows that overlap the last --since (a window that ended is forgotten).",
    )
    usage.add_argument("--by", choices=tuple(BY), default="user", help="what to count by")
    usage.add_argument("--since", default="7d", help="how far back: 7d, 12h, 30m (default 7d)")
    usage.add_argument("--format", choices=FORMATS, default="table", help="how to print it")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = _parser().parse_args(argv)
    path = resolve_config_path(getattr(args, "config", None))
    for warning in unknown_environment(os.environ):
        print(f"config warning: {warning}", file=sys.stderr)
    try:
        settings = load_settings(path, require_file=args.command != "console" or path.exists())
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "health":
        from bots.health import probe

        healthy, answer = probe(settings.health)
        print(answer, file=sys.stdout if healthy else sys.stderr)
        return 0 if healthy else EXIT_PROBLEM
    redactor = redactor_for(settings)
    quiet = args.command in ("check", "console", "bindings", "usage")
    setup_logging(
        fmt=settings.log.format,
        level="WARNING" if quiet else settings.log.level,
        redactor=redactor,
        libraries=settings.log.libraries,
    )
    if args.command == "check":
        from bots.check import quiet_third_parties

        quiet_third_parties()
    try:
        return asyncio.run(_dispatch(args, settings, path, redactor))
    except KeyboardInterrupt:
        print(file=sys.stderr)  # end the line the ^C was echoed on
        return 130


async def _dispatch(
    args: argparse.Namespace, settings: Settings, path: Path, redactor: Redactor
) -> int:
    if args.command == "check":
        from bots.check import print_report, run_checks

        lines = await run_checks(settings)
        print_report(lines, sys.stdout)
        return 0 if all(line.ok for line in lines) else EXIT_PROBLEM
    if args.command == "console":
        return await _console(args, settings)
    if args.command == "bindings":
        return await _bindings(args, settings)
    if args.command == "usage":
        return await _usage(args, settings)
    from bots.run import StartupError, StartupUnavailable, run

    try:
        await run(settings, config_path=path, redactor=redactor)
    except StartupError as exc:
        print(f"bridge: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL if isinstance(exc, StartupUnavailable) else EXIT_CONFIG
    return 0


async def _console(args: argparse.Namespace, settings: Settings) -> int:
    from bots.console import chat

    if not settings.backends:
        print("config error: no backend configured (add a [backends.NAME] table)", file=sys.stderr)
        return EXIT_CONFIG
    if args.backend and args.backend not in settings.backends:
        known = ", ".join(sorted(settings.backends))
        print(f"unknown backend '{args.backend}' (configured: {known})", file=sys.stderr)
        return EXIT_CONFIG
    async with open_runtime(settings) as rt:
        return await chat(
            rt.bridge,
            backend=args.backend,
            stdin=sys.stdin,
            stdout=sys.stdout,
            recovery=rt.recovery,
        )


async def _bindings(args: argparse.Namespace, settings: Settings) -> int:
    from bots.bindings import (
        BadRecords,
        import_records,
        parse_records,
        unknown_backends,
        write_records,
    )
    from core.store import open_store

    store = open_store(settings.store)
    try:
        if args.action == "export":
            records = await store.channel_records()
            with _output(args.output) as out:
                count = write_records(records, out)
            print(f"exported {count} channel(s)", file=sys.stderr)
            return 0
        try:
            with _input(args.file) as source:
                records = parse_records(source, args.file)
        except OSError as exc:
            print(f"bridge: {args.file}: cannot be read ({exc.strerror})", file=sys.stderr)
            return EXIT_PROBLEM
        except UnicodeDecodeError:
            print(
                f"bridge: {args.file}: not UTF-8 text (save it as UTF-8); nothing imported",
                file=sys.stderr,
            )
            return EXIT_PROBLEM
        except BadRecords as exc:
            for problem in exc.problems:
                print(f"bridge: {problem}", file=sys.stderr)
            print("bridge: nothing imported", file=sys.stderr)
            return EXIT_PROBLEM
        for warning in unknown_backends(records, settings.backends):
            print(f"bridge: warning: {warning}", file=sys.stderr)
        count = await import_records(store, records)
        print(f"imported {count} channel(s)", file=sys.stderr)
        return 0
    except StoreUnavailable as exc:
        print(f"bridge: {exc or 'store unreachable'}", file=sys.stderr)
        return EXIT_PROBLEM
    except OSError as exc:
        print(f"bridge: {args.output}: cannot be written ({exc.strerror})", file=sys.stderr)
        return EXIT_PROBLEM
    finally:
        await store.aclose()


async def _usage(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from bots.usage_report import BY, parse_since, write_usage
    from core.store import open_store
    from core.usage import totals

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        print(f"bridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    store = open_store(settings.store)
    try:
        rows = await totals(store, settings.allowances, BY[args.by], since, time.time())
    except StoreUnavailable as exc:
        print(f"bridge: {exc or 'store unreachable'}", file=sys.stderr)
        return EXIT_PROBLEM
    finally:
        await store.aclose()
    write_usage(rows, args.by, args.format, sys.stdout)
    return 0


@contextlib.contextmanager
def _output(name: str | None) -> Iterator[TextIO]:
    if name is None or name == "-":
        yield sys.stdout
        return
    with open(name, "w", encoding="utf-8") as out:
        yield out


@contextlib.contextmanager
def _input(name: str) -> Iterator[TextIO]:
    if name == "-":
        yield sys.stdin
        return
    with open(name, encoding="utf-8") as source:
        yield source


if __name__ == "__main__":
    sys.exit(main())
