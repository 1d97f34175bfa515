"""The scale benchmark runs end to end with tiny numbers and prints every figure (no timings
checked): store cost per message, keys by kind, webhook intake, and each platform's cost per
message measured on a `bridge run` process."""

from __future__ import annotations

import re

from tests.harness import need_redis_server, run_bench


def test_scale_bench_prints_every_figure() -> None:
    need_redis_server()
    out = run_bench(
        "scale_bench",
        *("--messages", "20", "--channels", "4", "--updates", "10", "--cluster-url", ""),
        *("--parts", "relay,webhook,gateway"),
        timeout=180,
    )
    assert re.search(r"^redis: 20 messages in .* msg/s", out, re.M), out
    assert "outcomes: {'replied': 20}" in out, out
    assert re.search(r"store round-trips per message: \d+\.\d\d; Redis commands per message", out)
    for kind in ("binding", "rate", "seen"):
        assert re.search(rf"^\s+{kind}\s+\d+\s", out, re.M), out
    assert len(re.findall(r"telegram webhook worker: 10 updates .* \(.*0 not 200\)", out)) == 3
    assert re.search(
        r"^discord gateway: .* per CPU-second .*, \d+\.\d\d Redis commands per event$", out, re.M
    ), out


def test_scale_bench_measures_each_platform_on_a_bridge_run_process() -> None:
    need_redis_server()
    out = run_bench(
        "scale_bench",
        *("--parts", "platforms", "--platform-chats", "2", "--platform-waves", "1"),
        *("--reply-chunks", "6", "--reply-delay", "0.05", "--by-key"),
        timeout=240,
    )
    for platform in ("discord", "tg-private", "tg-group"):
        line = re.search(
            rf"^{platform}: 2 messages through `bridge run` .* (\d+\.\d) ms CPU per message .*"
            rf" (\d+\.\d) Redis commands per message .* (\d+\.\d) platform writes and"
            rf" (\d+\.\d) drafts per message, 0 429s$",
            out,
            re.M,
        )
        assert line, out
        cpu, commands, writes, drafts = map(float, line.groups())
        assert cpu > 0 and commands > 0 and writes >= 1  # the final text at least
        assert (drafts > 0) == (platform == "tg-private"), line.group(0)
    # Pacing is tallied apart from the relay's own commands.
    assert (
        len(re.findall(r"by what they are for \(MONITOR\): .*pacing: the chat's budgets", out)) == 3
    )
