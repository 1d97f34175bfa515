"""The one command table: parsing typed commands (property tests), the access rule, and what a
message reads like upstream."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from core.access import AccessLists
from core.commands import COMMANDS, Command, Kind, UsageError, parse_words, split_command
from core.config import RelaySettings
from core.model import Incoming, Origin
from core.speaker import QUOTE_LIMIT, upstream_text
from core.text import is_blank

names = st.from_regex(r"[A-Za-z0-9_]{1,32}", fullmatch=True)
bots = st.from_regex(r"[A-Za-z0-9_]{1,64}", fullmatch=True)
words = st.lists(st.text(st.characters(blacklist_categories=("Z", "C")), min_size=1), max_size=6)
commands = st.sampled_from(COMMANDS)


@given(names, st.one_of(st.none(), bots), words)
def test_a_typed_command_splits_into_name_bot_and_words(
    name: str, bot: str | None, args: list[str]
) -> None:
    text = f"/{name}{'@' + bot if bot else ''} {' '.join(args)}"
    assert split_command(text) == (name.lower(), bot or "", args)


@given(st.text())
@example("/")
@example("/bind@")
@example("hello /bind")
def test_splitting_never_raises_and_needs_a_leading_command(text: str) -> None:
    parsed = split_command(text)
    if parsed is not None:
        name, _bot, rest = parsed
        assert text.startswith("/") and name and name == name.lower()
        assert all(w.strip() == w and w for w in rest)


def valid_words(command: Command) -> st.SearchStrategy[tuple[list[str], dict[str, str]]]:
    """Words that fit ``command``, with the values parsing must give back."""
    parts = []
    for arg in command.args:
        if arg.kind is Kind.CHOICE:
            value: st.SearchStrategy[list[str]] = st.sampled_from(arg.choices).map(lambda c: [c])
        elif arg.kind is Kind.USER:
            value = st.integers(1, 10**12).map(lambda n: [str(n)])
        elif arg.kind is Kind.REST:
            value = st.lists(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), max_size=3)
        else:
            value = st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True).map(lambda w: [w])
        parts.append(value if arg.required else st.one_of(st.just([]), value))
    return st.tuples(*parts).map(
        lambda chosen: (
            [w for part in chosen for w in part],
            {a.name: " ".join(p) for a, p in zip(command.args, chosen, strict=True) if p},
        )
    )


@given(st.data())
def test_words_that_fit_parse_back_to_their_values(data: st.DataObject) -> None:
    command = data.draw(commands)
    typed, expected = data.draw(valid_words(command))
    if any(a.kind is Kind.REST for a in command.args) or len(typed) == len(command.args):
        assert parse_words(command, typed) == expected


@given(commands, words, st.one_of(st.just(""), st.integers(1, 10**9).map(str)))
def test_any_words_parse_or_give_a_usage_error(
    command: Command, typed: list[str], target: str
) -> None:
    try:
        values = parse_words(command, typed, target=target)
    except UsageError:
        return
    by_name = {a.name: a for a in command.args}
    assert set(values) <= set(by_name)
    assert all(a.name in values for a in command.args if a.required)
    for name, value in values.items():
        arg = by_name[name]
        if arg.kind is Kind.CHOICE:
            assert value in arg.choices
        if arg.kind is Kind.USER:
            assert value.isdigit()


@given(st.sampled_from(["ALL", "All", "all", "Mentions", "OFF"]))
def test_choices_are_matched_without_regard_to_case(word: str) -> None:
    mode = next(c for c in COMMANDS if c.name == "mode")
    assert parse_words(mode, [word]) == {"mode": word.lower()}


def test_a_user_is_an_id_or_the_author_replied_to() -> None:
    block = next(c for c in COMMANDS if c.name == "block")
    assert parse_words(block, ["@123"]) == {"user": "123"}
    assert parse_words(block, [], target="77") == {"user": "77"}
    assert parse_words(block, ["88"], target="77") == {"user": "88"}
    for bad in (["bob"], [], ["1", "2"], ["١٢"]):
        with pytest.raises(UsageError):
            parse_words(block, bad)


ids = st.integers(1, 50)
id_sets = st.frozensets(ids, max_size=4)


@given(id_sets, id_sets, id_sets, id_sets, id_sets, ids, st.lists(ids, max_size=3), st.booleans())
def test_the_access_rule(
    allowed_users: frozenset[int],
    blocked_users: frozenset[int],
    allowed_roles: frozenset[int],
    blocked_roles: frozenset[int],
    allowed_places: frozenset[int],
    user: int,
    roles: list[int],
    private: bool,
) -> None:
    lists = AccessLists(allowed_users, blocked_users, allowed_roles, blocked_roles, allowed_places)
    origin = Origin(user=user, private=private, roles=tuple(roles), places=(7, 8))
    permitted = lists.permits(origin)
    if user in blocked_users or set(roles) & blocked_roles:
        assert not permitted
    elif not (allowed_users or allowed_roles or allowed_places):
        assert permitted
    if permitted and (allowed_users or allowed_roles):
        assert user in allowed_users or set(roles) & allowed_roles
    if permitted and allowed_places and not private:
        assert {7, 8} & allowed_places


def message(text: str, *, private: bool, quote: str = "") -> Incoming:
    return Incoming(
        platform="test",
        channel="t:1",
        author="t:5",
        text=text,
        message_id="m",
        author_name="Ann",
        quote=quote,
        quote_author="Ben",
        origin=Origin(user=5, private=private),
    )


@given(st.text(min_size=1), st.text(), st.booleans())
def test_the_upstream_text_names_only_shared_channels_and_cuts_quotes(
    text: str, quote: str, private: bool
) -> None:
    settings = RelaySettings()
    sent = upstream_text(message(text, private=private, quote=quote), settings)
    if is_blank(text):  # shows nothing (zero-width and control characters count as nothing)
        assert sent == text
        return
    assert sent.endswith(text)
    body = sent[: len(sent) - len(text)]
    assert body.endswith("" if private else "Ann: ")
    quoted = [line for line in body.splitlines() if line.startswith("> ")]
    if quote.strip():
        assert quoted and sum(len(line) - 2 for line in quoted) <= QUOTE_LIMIT + len("Ben: ") + 2
    else:
        assert body in ("", "Ann: ")
