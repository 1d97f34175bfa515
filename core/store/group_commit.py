"""Group commit for Redis: the round-trips asked for in one event-loop turn travel as one pipeline.

Each message costs a few store round-trips (admission, journal, release). Under load many
messages ask at once, and redis-py spends more CPU per pipeline (a pooled connection, a timeout
task, a wake-up) than per command in it. Gathering what is asked in the same loop turn into one
pipeline keeps each caller's commands and answers its own, and costs at most one loop turn of
waiting: the pipeline leaves on the next turn, with everything asked for meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from core.errors import StoreUnavailable
from core.store.sentinel import write_refusal

MAX_COMMANDS = 1024  # per pipeline: a burst larger than this leaves as several


class Commands:
    """One caller's round-trip, written as on a redis-py pipeline (``commands.get(key)``),
    recorded to be sent with others."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))

        return record

    def __len__(self) -> int:
        return len(self.calls)


_Waiting = tuple[Commands, "asyncio.Future[list[Any]]"]


class GroupCommit:
    """Sends every :class:`Commands` submitted in one loop turn in one non-transactional pipeline.

    A caller gets its own replies in order, or the first error among them, as if its commands
    had gone alone. ``trip(n)`` wraps each pipeline of ``n`` callers' round-trips (counting them
    and naming an outage).
    """

    def __init__(
        self,
        client: Any,
        trip: Callable[[int], AbstractAsyncContextManager[None]],
        translate: Callable[[Exception], Exception] = lambda error: error,
    ) -> None:
        self._client = client
        self._trip = trip
        self._translate = translate
        """Maps one command's error reply (answered in a pipeline that went through) to what its
        caller gets."""
        self._waiting: list[_Waiting] = []
        self._armed = False
        self._sending: set[asyncio.Task[None]] = set()

    async def send(self, commands: Commands) -> list[Any]:
        """The replies to ``commands``, sent with whatever else is asked for in this loop turn."""
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[list[Any]] = loop.create_future()
        self._waiting.append((commands, reply))
        if not self._armed:
            self._armed = True
            loop.call_soon(self._flush)
        return await reply

    def _flush(self) -> None:
        self._armed = False
        waiting, self._waiting = self._waiting, []
        group: list[_Waiting] = []
        size = 0
        for item in waiting:
            if group and size + len(item[0]) > MAX_COMMANDS:
                self._start(group)
                group, size = [], 0
            group.append(item)
            size += len(item[0])
        if group:
            self._start(group)

    def _start(self, group: list[_Waiting]) -> None:
        task = asyncio.get_running_loop().create_task(self._run(group))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _run(self, group: list[_Waiting]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for commands, _ in group:
            for name, args, kwargs in commands.calls:
                getattr(pipe, name)(*args, **kwargs)
        try:
            async with self._trip(len(group)):
                replies = await pipe.execute(raise_on_error=False)
                # A master that cannot take writes (demoted by a failover, or short of
                # replicas) refuses them all: the store is away for the whole group (the trip
                # says so), not one caller's error.
                refused = next((r for r in replies if write_refusal(r)), None)
                if refused is not None:
                    raise refused
        except StoreUnavailable as exc:
            for _, reply in group:
                if not reply.done():
                    reply.set_exception(type(exc)(str(exc)))
            return
        except asyncio.CancelledError:
            for _, reply in group:
                reply.cancel()
            raise
        except Exception as exc:
            for _, reply in group:
                if not reply.done():
                    reply.set_exception(exc)
            return
        start = 0
        for commands, reply in group:
            own = replies[start : start + len(commands)]
            start += len(commands)
            if reply.done():  # its caller was cancelled meanwhile
                continue
            error = next((r for r in own if isinstance(r, Exception)), None)
            if error is not None:
                reply.set_exception(self._translate(error))
            else:
                reply.set_result(own)
