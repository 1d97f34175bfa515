"""Property tests (hypothesis) for the reply splitter and the Markdown → Telegram entities step.

The normal run uses the quick profile; ``BRIDGE_HYPOTHESIS_PROFILE=long`` runs 100,000 examples
per property (see tests/conftest.py).
"""

from __future__ import annotations

import re
from collections import Counter

from hypothesis import assume, given
from hypothesis import strategies as st
from telegram import MessageEntity

from bots.telegram.format import MAX_MESSAGE_LENGTH, markdown_to_entities
from core.split import Measure, open_fence, split_text, take_piece, utf16_length

_WORD_CHARS = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789éßжй中文字😀👍🏽𝔸"

words = st.text(alphabet=_WORD_CHARS, min_size=1, max_size=14)
separators = st.sampled_from(
    [" ", " ", " ", "\n", "\n\n", ". ", "! ", "? ", "… ", "。", "\t", "  "]
)
# Fence languages use letters no word has, so a test can tell them from the reply's words.
fences = st.sampled_from(["\n```\n", "\n```QQ\n", "\n~~~\n", "```", "\n```QJ\n", "\n````\n"])
tokens = st.one_of(words, words, words, separators, separators, fences)
replies = st.lists(tokens, max_size=160).map("".join)
"""Reply-like text: words, spaces, sentence ends, paragraphs and code fences, some unbalanced."""

measures = st.sampled_from([len, utf16_length])


def _non_space(text: str) -> str:
    return re.sub(r"\s", "", text)


def _check_split(text: str, limit: int, measure: Measure) -> list[str]:
    """Split ``text`` as split_text does, checking each piece; return the pieces."""
    pieces: list[str] = []
    source_kept: list[str] = []
    rest, carry = text, ""
    while rest:
        piece = take_piece(rest, limit, measure)
        assert piece.consumed > 0, "no progress"
        assert measure(piece.text) <= limit
        if piece.consumed < len(rest):
            # Only the source's own unclosed fence may stay open, and only in the last piece.
            assert open_fence(piece.text) is None, "a cut leaves a code fence open"
        body = piece.text
        if carry:
            assert body.startswith(carry.rstrip("\n")) or not body.strip()
            body = body[len(carry) :] if body.startswith(carry) else body[len(carry.rstrip()) :]
        if piece.carry:
            closing = "\n" + re.match(r"`+|~+", piece.carry).group()  # type: ignore[union-attr]
            assert body.endswith(closing)
            body = body[: -len(closing)]
        # What this piece shows of the source is exactly what it consumed (give or take spaces).
        consumed = rest[len(carry) : piece.consumed] if carry else rest[: piece.consumed]
        assert _non_space(body) == _non_space(consumed)
        source_kept.append(consumed)
        pieces.append(piece.text)
        carry = piece.carry
        rest = carry + rest[piece.consumed :].lstrip("\n") if piece.consumed < len(rest) else ""
    assert _non_space("".join(source_kept)) == _non_space(text)
    return pieces


@given(text=replies, limit=st.integers(min_value=24, max_value=300), measure=measures)
def test_split_keeps_every_character_within_the_limit_with_fences_balanced(
    text: str, limit: int, measure: Measure
) -> None:
    pieces = _check_split(text, limit, measure)
    assert pieces == split_text(text, limit, measure)
    if measure(text) <= limit:
        assert pieces == ([text] if text else [])


@given(text=st.text(max_size=400), limit=st.integers(min_value=8, max_value=120))
def test_split_of_any_text_loses_nothing(text: str, limit: int) -> None:
    assume("`" not in text and "~" not in text)
    pieces = split_text(text, limit, utf16_length)
    assert all(utf16_length(p) <= limit for p in pieces)
    assert _non_space("".join(pieces)) == _non_space(text)


_MARKUP = st.sampled_from(
    ["**", "*", "_", "__", "`", "~~", "||", "\n", "\n\n", "# ", "\n> ", "\n- ", "\n1. ", " "]
)
_LINKS = st.builds(lambda w: f"[{w}](https://example.com/link)", words)
markdown = st.lists(st.one_of(words, words, _MARKUP, _LINKS, fences), max_size=120).map("".join)


def _entities_in_bounds(text: str, entities: list[MessageEntity]) -> None:
    size = utf16_length(text)
    assert size <= MAX_MESSAGE_LENGTH
    for entity in entities:
        assert entity.offset >= 0 and entity.length > 0
        assert entity.offset + entity.length <= size
        # An entity never starts or ends inside a surrogate pair.
        units = text.encode("utf-16-le")
        for edge in (entity.offset, entity.offset + entity.length):
            if 0 < edge < size:
                unit = int.from_bytes(units[2 * edge : 2 * edge + 2], "little")
                assert not 0xDC00 <= unit <= 0xDFFF


def _letters(text: str) -> str:
    return re.sub(r"[\W_]", "", text)


@given(source=markdown)
def test_markdown_to_entities_keeps_the_words_and_entities_in_bounds(source: str) -> None:
    converted = markdown_to_entities(source)
    if converted is None:
        return  # sent as plain text: nothing can be lost
    text, entities = converted
    _entities_in_bounds(text, entities)

    # Markup goes, link URLs move into entities (inside code they stay literal) and ordered
    # lists are renumbered as Markdown does; every other letter of the reply stays, in order,
    # but for code blocks' languages.
    def letters(markdown_text: str) -> str:
        unnumbered = re.sub(r"\d+[.)](?=\s|$)", "", markdown_text)
        return _letters(unnumbered).replace("httpsexamplecomlink", "")

    shown, written = letters(text), letters(source)
    rest = iter(written)
    assert all(c in rest for c in shown), "letters lost or reordered"
    # Only code fence info strings may go missing (into a language, or with an empty block).
    infos = Counter(_letters("".join(re.findall(r"(?:`{3,}|~{3,})([^\n`]*)", source))))
    assert not (Counter(written) - Counter(shown)) - infos, "letters lost"


@given(source=st.text(max_size=600))
def test_markdown_to_entities_never_raises_and_stays_in_bounds(source: str) -> None:
    converted = markdown_to_entities(source)
    if converted is not None:
        _entities_in_bounds(*converted)


@given(source=markdown, limit=st.integers(min_value=40, max_value=400))
def test_each_split_piece_formats_within_telegram_bounds(source: str, limit: int) -> None:
    # The renderer splits the Markdown first and formats each final piece on its own.
    for piece in split_text(source, limit, utf16_length):
        converted = markdown_to_entities(piece)
        if converted is not None:
            _entities_in_bounds(*converted)
