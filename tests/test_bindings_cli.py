"""`bridge bindings export` / `import`: a backup of every channel's settings, and the way from the
SQLite file to Redis (real subprocesses, a real SQLite file and the real Redis)."""

from __future__ import annotations

import json
from pathlib import Path

from core.model import Binding, ChannelRecord, ChannelRules, ReplyMode, Scope
from core.store import RedisStore, SqliteStore
from tests.harness import run_cli

RECORDS = [
    ChannelRecord("dc:*", blocked=("dc:31",)),  # blocked everywhere by a configured admin
    ChannelRecord(
        "dc:1234",
        binding=Binding("luna", {"character_id": "42", "chat_id": "7"}, "dc:1", 10.5),
        scope=Scope.SHARED,
    ),
    ChannelRecord("dc:guild:77", blocked=("dc:5", "dc:6")),  # a server's block list
    ChannelRecord("tg:-1001", scope=Scope.USER, blocked=("tg:8",)),
    ChannelRecord(
        "tg:-1001:12",
        binding=Binding("assistant", {"conversation_id": "conv-9"}, "tg:3", 11.0),
        mode=ReplyMode.ALL,
    ),
    ChannelRecord(  # a user's own conversation in a user-scope group
        "tg:-1001@tg:9", binding=Binding("assistant", {"conversation_id": "c-u9"}, "tg:9", 13.0)
    ),
    ChannelRecord("tg:-1002", mode=ReplyMode.OFF, scope=Scope.USER),
    ChannelRecord("tg:55", binding=Binding("assistant", {"conversation_id": "ünï"}, "auto", 12.0)),
]


def write_config(path: Path, store: str) -> Path:
    path.write_text(
        f"[store]\n{store}\n"
        '[backends.assistant]\nkind = "cody"\ntoken = "k"\nbot_id = "b"\n'
        '[backends.luna]\nkind = "aurora"\ntoken = "t"\ncharacter_id = 42\n'
        '[relay]\ndefault_backend = "assistant"\n'
    )
    return path


async def test_export_from_sqlite_then_import_into_redis_reproduces_every_binding(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    sqlite = SqliteStore(tmp_path / "bridge.db")
    try:
        for record in RECORDS:
            await sqlite.restore_channel(record)
    finally:
        await sqlite.aclose()
    from_sqlite = write_config(tmp_path / "sqlite.toml", f'path = "{tmp_path / "bridge.db"}"')
    to_redis = write_config(tmp_path / "redis.toml", f'url = "{redis_url}"\nprefix = "{prefix}"')
    backup = tmp_path / "bindings.jsonl"

    code, out, err = await run_cli(
        "bindings", "export", "--output", str(backup), "--config", str(from_sqlite)
    )
    assert (code, out) == (0, ""), err
    assert f"exported {len(RECORDS)} channel(s)" in err
    lines = backup.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["channel"] for line in lines] == [r.channel for r in RECORDS]

    code, _, err = await run_cli("bindings", "import", str(backup), "--config", str(to_redis))
    assert code == 0, err
    assert f"imported {len(RECORDS)} channel(s)" in err
    redis = RedisStore(redis_url, prefix=prefix)
    try:
        assert await redis.channel_records() == RECORDS
        # What the relay reads per message follows: the topic's group scope, the block list.
        rules = await redis.rules(
            channels=["tg:-1001:12", "tg:-1001"], spaces=["tg:-1001"], user="tg:8"
        )
        assert rules == ChannelRules(scope=Scope.USER, blocked=True, backend="assistant")
        rules = await redis.rules(
            channels=["dc:1234"], spaces=["dc:guild:77", "dc:*"], user="dc:31"
        )
        assert rules == ChannelRules(scope=Scope.SHARED, blocked=True, backend="luna")
    finally:
        await redis.aclose()

    code, out, _ = await run_cli("bindings", "export", "--config", str(to_redis))
    assert code == 0
    assert out.splitlines() == lines  # the same backup, from the other store, on stdout


async def test_a_bad_line_refuses_the_whole_import(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", f'path = "{tmp_path / "bridge.db"}"')
    good = json.dumps(RECORDS[0].to_json())
    backup = tmp_path / "bindings.jsonl"
    backup.write_text(
        f'{good}\nnot json\n{{"channel": "tg:1", "mode": "loud"}}\n\n'
        '{"channel": "tg:1", "scope": "everyone"}\n{"channel": "tg:1", "blocked": "tg:2"}\n'
    )
    code, _, err = await run_cli("bindings", "import", str(backup), "--config", str(config))
    assert code == 1
    assert "Traceback" not in err
    assert f"{backup}:2: not a JSON line" in err
    assert f"{backup}:3: 'mode' must be one of" in err
    assert f"{backup}:5: 'scope' must be one of shared, user" in err
    assert f"{backup}:6: 'blocked' must be a list" in err
    assert "nothing imported" in err
    sqlite = SqliteStore(tmp_path / "bridge.db")
    try:
        assert await sqlite.channel_records() == []
    finally:
        await sqlite.aclose()


async def test_import_from_stdin_and_a_missing_file(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", f'path = "{tmp_path / "bridge.db"}"')
    text = "".join(json.dumps(r.to_json()) + "\n" for r in RECORDS)
    code, _, err = await run_cli("bindings", "import", "-", "--config", str(config), stdin=text)
    assert code == 0, err
    code, out, _ = await run_cli("bindings", "export", "--config", str(config))
    assert code == 0
    assert [ChannelRecord.from_json(json.loads(line)) for line in out.splitlines()] == RECORDS
    code, _, err = await run_cli(
        "bindings", "import", str(tmp_path / "nope"), "--config", str(config)
    )
    assert code == 1 and "cannot be read" in err and "Traceback" not in err


async def test_an_export_without_scope_and_block_lists_still_imports(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", f'path = "{tmp_path / "bridge.db"}"')
    # Lines as written before scope and block lists were exported: binding and mode only.
    older = (
        '{"binding": {"backend": "luna", "bound_at": 10.5, "bound_by": "dc:1", '
        '"remote": {"character_id": "42", "chat_id": "7"}}, "channel": "dc:1234"}\n'
        '{"channel": "tg:-1002", "mode": "off"}\n'
    )
    code, _, err = await run_cli("bindings", "import", "-", "--config", str(config), stdin=older)
    assert code == 0, err
    assert "imported 2 channel(s)" in err
    sqlite = SqliteStore(tmp_path / "bridge.db")
    try:
        assert await sqlite.channel_records() == [
            ChannelRecord(
                "dc:1234",
                binding=Binding("luna", {"character_id": "42", "chat_id": "7"}, "dc:1", 10.5),
            ),
            ChannelRecord("tg:-1002", mode=ReplyMode.OFF),
        ]
    finally:
        await sqlite.aclose()


async def test_import_warns_about_a_backend_the_config_does_not_have(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", f'path = "{tmp_path / "bridge.db"}"')
    export = tmp_path / "bindings.jsonl"
    orphan = ChannelRecord("tg:77", binding=Binding("old-bot", {"conversation_id": "c1"}))
    lines = [json.dumps(r.to_json()) for r in (*RECORDS, orphan, orphan.__class__("tg:78"))]
    export.write_text("\n".join(lines) + "\n")
    code, _, err = await run_cli("bindings", "import", str(export), "--config", str(config))
    assert code == 0, err
    assert err.splitlines()[0] == (
        "bridge: warning: 1 channel(s) are bound to backend 'old-bot', which this config does "
        "not have (configured: assistant, luna); add [backends.old-bot] or bind them again"
    )
    assert err.splitlines()[-1] == f"imported {len(RECORDS) + 2} channel(s)"
