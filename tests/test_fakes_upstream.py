"""The upstream fakes themselves keep the contracts the backends are tested against (raw httpx)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse

from tests.fakes.aurora import QUOTA as AURORA_QUOTA
from tests.fakes.aurora import THROTTLE, AuroraFake
from tests.fakes.cody import QUOTA as CODY_QUOTA
from tests.fakes.cody import CodyFake

ROOT = Path(__file__).resolve().parent.parent
KEY = {"Authorization": "Bearer k"}


async def _conversation(client: httpx.AsyncClient, cody: CodyFake) -> str:
    r = await client.post(
        f"{cody.base_url}/conversations", json={"name": None, "bot_id": "b"}, headers=KEY
    )
    assert r.status_code == 200
    return str(r.json()["data"]["id"])


async def test_cody_redirect_single_use_and_strict_stream_host():
    async with CodyFake(api_key="k", bot_id="b") as cody, httpx.AsyncClient() as client:
        conversation = await _conversation(client, cody)
        r = await client.post(
            f"{cody.base_url}/messages/stream",
            json={"content": "hi", "conversation_id": conversation},
            headers=KEY,
        )
        assert r.status_code == 302
        location = r.headers["location"]
        assert location.startswith(f"http://{cody.stream_host}/")
        leaked = await client.get(location, headers=KEY)
        assert leaked.status_code == 400 and cody.stream_auth_seen == 1
        cody.reply_with("abc", chunk_size=1)
        r = await client.post(
            f"{cody.base_url}/messages/stream",
            json={"content": "again", "conversation_id": conversation, "redirect": False},
            headers=KEY,
        )
        url = r.json()["data"]["stream_url"]
        async with aconnect_sse(client, "GET", url) as source:
            data = [event.data async for event in source.aiter_sse()]
        assert data == ["[START]", '{"chunk": "a"}', '{"chunk": "b"}', '{"chunk": "c"}', "[END]"]
        second = await client.get(url)
        assert second.status_code == 404
        assert cody.messages_sent == ["hi", "again"]


async def test_cody_errors_match_the_seeds():
    async with CodyFake(api_key="k", bot_id="b") as cody, httpx.AsyncClient() as client:
        conversation = await _conversation(client, cody)
        body = {"content": "hi", "conversation_id": conversation}
        assert (await client.post(f"{cody.base_url}/messages", json=body)).status_code == 401
        cody.fail_next(402)
        r = await client.post(f"{cody.base_url}/messages", json=body, headers=KEY)
        assert (r.status_code, r.json()) == (402, CODY_QUOTA)
        cody.fail_next(429, retry_after=7)
        r = await client.post(f"{cody.base_url}/messages", json=body, headers=KEY)
        assert r.status_code == 429 and r.headers["retry-after"] == "7"
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(r.headers)
        r = await client.post(
            f"{cody.base_url}/messages",
            json={"content": "", "conversation_id": "nope"},
            headers=KEY,
        )
        assert r.status_code == 422
        assert r.json()["message"] == "The content field is required. (and 1 more error)"
        assert cody.messages_sent == []


async def test_aurora_contract():
    async with AuroraFake(token="t", character_id=42) as aurora, httpx.AsyncClient() as client:
        token = {"x-access-token": "t"}
        r = await client.post(f"{aurora.base_url}/chat", json={"characterId": 42})
        assert r.status_code == 401 and r.json()["success"] is False
        r = await client.post(f"{aurora.base_url}/chat", json={"characterId": 42}, headers=token)
        chat = r.json()["chatId"]
        r = await client.post(
            f"{aurora.base_url}/message",
            json={"characterId": 42, "chatId": str(chat), "message": "x"},
            headers=token,
        )
        assert r.status_code == 400
        aurora.fail_next(429, kind="quota")
        aurora.fail_next(429)
        body = {"characterId": 42, "chatId": chat, "message": "x"}
        r = await client.post(f"{aurora.base_url}/message", json=body, headers=token)
        assert (r.status_code, r.json()) == (429, AURORA_QUOTA)
        r = await client.post(f"{aurora.base_url}/message", json=body, headers=token)
        assert (r.status_code, r.json()) == (429, THROTTLE)
        assert r.headers["x-ratelimit-reset"] == "1"
        aurora.reply_with("hey", chunk_size=2)
        async with aconnect_sse(
            client, "POST", f"{aurora.base_url}/message", json=body, headers=token
        ) as source:
            data = [event.data async for event in source.aiter_sse()]
        assert data == ['{"content": "he"}', '{"content": "y"}']
        r = await client.get(f"{aurora.base_url}/user/quota", headers=token)
        assert r.json()["quotaUsed"] == 1


async def _run_standalone(module: str, *args: str) -> list[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        "--port",
        "0",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            first = (await process.stdout.readline()).decode().strip()
            lines = [first]
            if module.endswith("cody"):
                lines.append((await process.stdout.readline()).decode().strip())
            root = first.rsplit("/api/", 1)[0]
            async with httpx.AsyncClient() as client:
                if module.endswith("cody"):
                    r = await client.get(f"{first}/bots", headers={"Authorization": "Bearer k"})
                else:
                    r = await client.get(f"{first}/user/quota", headers={"x-access-token": "t"})
                assert r.status_code == 200
                r = await client.post(
                    f"{root}/_fake/reply_with", json={"text": "x", "chunk_size": 1}
                )
                assert r.status_code == 200
                state = (await client.get(f"{root}/_fake/state")).json()
            assert state["messages_sent"] == [] and len(state["requests"]) == 1
            assert state["history"] == {}  # no conversation yet
    finally:
        process.terminate()
        await process.wait()
    return lines


async def test_standalone_processes_print_their_addresses():
    aurora = await _run_standalone("tests.fakes.aurora", "--token", "t")
    assert aurora[0].startswith("http://127.0.0.1:") and aurora[0].endswith("/api/v11")
    cody = await _run_standalone("tests.fakes.cody", "--api-key", "k", "--stream-port", "0")
    assert cody[0].endswith("/api/v1") and cody[1].startswith("stream_host=127.0.0.1:")


async def test_stored_histories_are_newest_first_in_the_real_shapes():
    async with (
        AuroraFake(token="t") as aurora,
        CodyFake(api_key="k", bot_id="b") as cody,
        httpx.AsyncClient() as client,
    ):
        token = {"x-access-token": "t"}
        chat = (
            await client.post(f"{aurora.base_url}/chat", json={"characterId": 42}, headers=token)
        ).json()["chatId"]
        aurora.reply_with("pong", fault="drop", fault_after=0, server_finishes=True)
        message = {"characterId": 42, "chatId": chat, "message": "ping"}
        with contextlib.suppress(httpx.HTTPError):
            await client.post(f"{aurora.base_url}/message", json=message, headers=token)
        r = await client.get(
            f"{aurora.base_url}/messages", params={"chatId": chat, "numMessages": 2}, headers=token
        )
        body = r.json()
        assert set(body) == {"success", "messages", "endOfList"} and body["endOfList"] is False
        assert [(m["role"], m["content"]) for m in body["messages"]] == [
            ("assistant", "pong"),
            ("user", "ping"),
        ]
        assert set(body["messages"][0]) == {"id", "role", "content", "timestamp"}
        older = await client.get(
            f"{aurora.base_url}/messages",
            params={"chatId": chat, "numMessages": 2, "from": body["messages"][-1]["id"]},
            headers=token,
        )
        assert [m["content"] for m in older.json()["messages"]] == ["Hello!"]
        assert [m["content"] for m in aurora.stored_history()[str(chat)]] == [
            "Hello!",
            "ping",
            "pong",
        ]
        assert older.json()["endOfList"] is True

        conversation = await _conversation(client, cody)
        for i in range(6):
            await client.post(
                f"{cody.base_url}/messages",
                json={"content": f"q{i}", "conversation_id": conversation},
                headers=KEY,
            )
        first = (
            await client.get(
                f"{cody.base_url}/messages", params={"conversation_id": conversation}, headers=KEY
            )
        ).json()
        assert [m["content"] for m in first["data"][:2]] == ["echo: q5", "q5"]
        assert [m["machine"] for m in first["data"][:2]] == [True, False]
        pagination = first["meta"]["pagination"]
        assert (pagination["total"], pagination["per_page"], pagination["next_page"]) == (12, 10, 2)
        assert pagination["links"]["next"].endswith("/messages?page=2")
        second = (
            await client.get(
                f"{cody.base_url}/messages",
                params={"conversation_id": conversation, "page": 2},
                headers=KEY,
            )
        ).json()
        assert [m["content"] for m in second["data"]] == ["echo: q0", "q0"]
        assert second["meta"]["pagination"]["next_page"] is None
