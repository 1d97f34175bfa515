"""Reading a backend's reply whole, or up to its error."""

from __future__ import annotations

import pytest

from core.backends.base import Backend
from core.errors import UpstreamError


async def collect(backend: Backend, remote: dict[str, str], text: str) -> list[str]:
    """Every delta of one reply."""
    return [piece async for piece in backend.reply(remote, text)]


async def collect_until_error(
    backend: Backend, remote: dict[str, str], text: str
) -> tuple[list[str], UpstreamError]:
    """The deltas that arrived before the reply failed, and its error."""
    pieces: list[str] = []
    with pytest.raises(UpstreamError) as caught:
        async for piece in backend.reply(remote, text):
            pieces.append(piece)
    return pieces, caught.value
