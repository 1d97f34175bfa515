"""Notices: every shipped language covers every notice, overrides are checked at start and are
what users read, durations are written as each language writes them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core import notices
from core.config import ConfigError, load_settings
from core.model import Binding, ReplyMode, Scope
from core.notices import Texts, check_overrides, placeholders
from core.translations import CATALOGUES, EN, LANGUAGES, duration
from tests.harness import run_cli

# The table of every notice lives in docs/notices.md (the README links it).
NOTICES_DOC = (Path(__file__).resolve().parent.parent / "docs" / "notices.md").read_text()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_notice_with_the_same_placeholders(language: str) -> None:
    catalogue = CATALOGUES[language]
    assert sorted(set(EN) - set(catalogue)) == []  # missing translations
    assert sorted(set(catalogue) - set(EN)) == []  # names English does not have
    for name, template in catalogue.items():
        allowed = placeholders(EN[name]) | {notices.ASSISTANT}
        assert placeholders(template) <= allowed, (language, name)
        assert placeholders(template) >= placeholders(EN[name]) - {notices.ASSISTANT}, name


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_notice_renders_in_every_language(language: str) -> None:
    texts = Texts(language, assistants={"luna": "Luna"}, default_backend="luna")
    binding = Binding(backend="luna", remote={"chat_id": "7"})
    samples = [
        notices.quota(120),
        notices.quota(None),
        notices.throttled(5),
        notices.rejected("too spicy"),
        notices.rate_limited(60),
        notices.too_long(2000, 2500),
        notices.status_text(
            binding=binding, backend="luna", mode=ReplyMode.ALL, scope=Scope.USER, cooldown=30
        ),
        notices.status_text(binding=None, backend=None, mode=ReplyMode.OFF, cooldown=0),
        notices.status_text(
            binding=binding, backend="luna", mode=ReplyMode.OFF, cooldown=30, private=True
        ),
        notices.mode_set(ReplyMode.MENTIONS),
        notices.scope_set(Scope.SHARED),
        notices.bound(Binding(backend="luna")),
        notices.help_text("@bot", group=True, commands="/status", backends=["luna"]),
    ]
    for sample in samples:
        shown = texts.render(sample)
        assert "{" not in shown and shown.strip(), (language, sample.name)
    quota = texts.render(notices.quota(120))
    assert "Luna" in quota and "2" in quota


def test_the_readme_lists_every_notice_with_its_placeholders() -> None:
    rows = dict(re.findall(r"^\| ([a-z_]+) \| ([^|]*) \|", NOTICES_DOC, re.MULTILINE))
    assert sorted(set(EN) - set(rows)) == []
    for name, template in EN.items():
        listed = set(re.findall(r"\{(\w+)\}", rows[name]))
        assert listed == placeholders(template) - {notices.ASSISTANT}, name


def test_durations_follow_each_languages_plural_rules() -> None:
    assert duration("en", 1) == "1 second" and duration("en", 45) == "45 seconds"
    assert duration("en", 180) == "3 minutes" and duration("en", 7200) == "2 hours"
    assert duration("de", 60) == "60 Sekunden" and duration("de", 3600) == "60 Minuten"
    # Russian and Ukrainian: one / few / many, in the accusative ("через 1 минуту").
    assert [duration("ru", m * 60) for m in (2, 5, 21, 22, 25)] == [
        "2 минуты",
        "5 минут",
        "21 минуту",
        "22 минуты",
        "25 минут",
    ]
    assert duration("uk", 11) == "11 секунд" and duration("uk", 1) == "1 секунду"
    assert duration("uk", 3 * 3600) == "3 години"
    assert duration("fr", 0.2) == "1 seconde"


def test_overrides_and_display_names_are_what_users_read() -> None:
    texts = Texts(
        "de",
        {"quota": "Keine Nachrichten mehr bis in {wait} ({assistant})."},
        assistants={"luna": "Luna"},
        default_backend="luna",
    )
    assert texts.render(notices.quota(180)) == "Keine Nachrichten mehr bis in 3 Minuten (Luna)."
    assert texts.render(notices.busy()).startswith("⏳ Ich beantworte")
    english = Texts()
    assert english.render(notices.unavailable()).startswith("⚠️ The assistant is not reachable")
    assert english.render("plain text stays") == "plain text stays"
    # The value's own braces are never read as placeholders.
    assert "{x}" in english.render(notices.rejected("bad {x}"))


def test_bad_overrides_are_one_line_each() -> None:
    assert check_overrides({"quota": "Until {wait}.", "busy": "Busy, {assistant}."}) == []
    assert check_overrides({"quot": "x"}) == [
        "notices.texts.quot: no notice has this name (see the README)"
    ]
    [line] = check_overrides({"quota": "Until {when}."})
    assert line.startswith("notices.texts.quota: unknown placeholder {when}")
    [line] = check_overrides({"busy": "Busy {"})
    assert line.startswith("notices.texts.busy: unbalanced braces")


def test_a_bad_override_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[notices]\nlanguage = "en"\n[notices.texts]\nquota = "Until {when}."\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert [p.split(" (")[0] for p in caught.value.problems] == [
        "notices.texts.quota: unknown placeholder {when}"
    ]


async def test_bridge_exits_2_with_one_line_for_an_unknown_notice_name(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[notices.texts]\nquotaa = "Out of messages."\n')
    code, _out, err = await run_cli("check", "--config", str(path))
    assert code == 2
    assert err.strip().splitlines() == [
        "config error: notices.texts.quotaa: no notice has this name (see the README)"
    ]


def test_a_backends_display_name_replaces_the_assistant() -> None:
    from bots.runtime import texts_for
    from core.config import Settings

    backend = {"kind": "aurora", "base_url": "http://127.0.0.1:9", "token": "t", "character_id": 1}
    settings = Settings(
        backends={"luna": {**backend, "display_name": "Luna"}, "plain": backend},
        relay={"default_backend": "luna"},
        notices={"language": "fr"},
    )
    texts = texts_for(settings)
    assert texts.render(notices.unavailable()).startswith("⚠️ Luna ne répond pas")
    assert texts.render(notices.unavailable(), backend="plain").startswith("⚠️ L'assistant ne")
