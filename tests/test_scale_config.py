"""Settings for running several processes: Discord shards, webhook secrets, the cluster flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_settings


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return caught.value.problems


def test_shard_ids_need_a_count_and_must_name_distinct_shards(tmp_path: Path) -> None:
    assert problems(tmp_path, "[discord]\nshard_ids = [0]\n") == [
        "discord.shard_ids: needs discord.shard_count"
    ]
    for ids in ("[4]", "[0, 0]", "[]", "[-1]"):
        assert problems(tmp_path, f"[discord]\nshard_count = 4\nshard_ids = {ids}\n") == [
            "discord.shard_ids: distinct ids from 0 to 3"
        ]


def test_a_valid_shard_split_and_the_cluster_flag_load(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[store]\nurl = "redis://node-1:7000"\ncluster = true\n'
        "[discord]\nshard_count = 16\nshard_ids = [4, 5, 6, 7]\n"
    )
    settings = load_settings(path)
    assert settings.store.cluster
    assert (settings.discord.shard_count, settings.discord.shard_ids) == (16, [4, 5, 6, 7])


def test_webhook_mode_requires_a_well_formed_secret(tmp_path: Path) -> None:
    base = (
        '[telegram]\nenabled = true\ntoken = "1:x"\nmode = "webhook"\n'
        '[telegram.webhook]\nurl = "https://bot.example.org/hook"\n'
    )
    found = problems(tmp_path, base)
    assert len(found) == 1 and found[0].startswith("telegram.webhook.secret_token: required")
    found = problems(tmp_path, base + 'secret_token = "has spaces and !"\n')
    assert found == [
        "telegram.webhook.secret_token: use 1-256 characters: A-Z, a-z, 0-9, '_' and '-'"
    ]
    assert "has spaces" not in found[0]  # the value itself is never echoed


async def test_check_reaches_a_cluster_and_says_so(tmp_path: Path) -> None:
    from bots.check import run_checks
    from core.config import Settings
    from tests.harness import CLUSTER_URL, cluster_reachable

    if not await cluster_reachable():
        pytest.skip(f"no Redis Cluster at {CLUSTER_URL}")
    for cluster, ok in ((True, True), (False, False)):
        settings = Settings(store={"url": CLUSTER_URL, "prefix": "check", "cluster": cluster})
        lines = {line.what: line for line in await run_checks(settings)}
        assert lines["store"].ok is ok, lines["store"]
        if ok:
            assert lines["store"].detail.startswith("redis cluster 7"), lines["store"]
            assert "store redis cluster" in lines["config"].detail
        else:
            assert "set store.cluster = true" in lines["store"].detail
