"""Opening an HTTP listener (health, Telegram's webhook): a port that cannot be bound is a
:class:`StartupError` naming the setting, so ``bridge run`` says which one to change."""

from __future__ import annotations

from aiohttp import web

from bots.frontend import StartupError


async def listen(runner: web.AppRunner, host: str, port: int, setting: str) -> None:
    """Serve ``runner`` (already set up) on ``host:port``; on failure clean it up and raise a
    StartupError such as ``health.port: cannot listen on 127.0.0.1:8080 (Address in use)``."""
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException as exc:
        await runner.cleanup()
        if isinstance(exc, OSError):
            reason = exc.strerror or type(exc).__name__
            raise StartupError(f"{setting}: cannot listen on {host}:{port} ({reason})") from None
        raise
