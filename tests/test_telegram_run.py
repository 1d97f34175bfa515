"""``bridge run`` with Telegram enabled, as a real process, answering chats of the fake Bot API."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tests.conftest import AURORA_TOKEN, CHARACTER_ID
from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent


def config_text(tg: FakeTelegram, up: AuroraFake, redis_url: str, prefix: str) -> str:
    return f"""
[store]
url = "{redis_url}"
prefix = "{prefix}"

[backends.luna]
kind = "aurora"
base_url = "{up.base_url}"
token = "{AURORA_TOKEN}"
character_id = {CHARACTER_ID}

[telegram]
enabled = true
token = "{tg.token}"
base_url = "{tg.base_url}"
private_interval = 0.05
group_interval = 0.1

[log]
level = "DEBUG"
"""


async def test_bridge_run_answers_a_private_chat_and_a_group(
    aurora: AuroraFake, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    async with FakeTelegram() as tg:
        config = tmp_path / "config.toml"
        config.write_text(config_text(tg, aurora, redis_url, prefix))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bots.cli",
            "run",
            "--config",
            str(config),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await tg.wait_for(lambda: bool(tg.calls_of("getUpdates")), within=30)
            tg.user_says(501, "hello from a private chat", user_id=501)
            tg.user_says(-100900, "@bridge_bot hello, group", user_id=502, chat_type="supergroup")
            await tg.wait_for(
                lambda: (
                    tg.chat_texts(501) == ["echo: hello from a private chat"]
                    and tg.chat_texts(-100900) == ["echo: hello, group"]
                )
            )
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    logs = out.decode() + err.decode()
    assert "receiving updates by polling" in logs
    assert "getUpdates" in logs  # PTB's DEBUG lines, which name API URLs, were written...
    assert tg.token not in logs  # ...without the token
