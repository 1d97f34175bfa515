"""Splitting long replies: boundaries, code fences, UTF-16 counting."""

from __future__ import annotations

import re

import pytest

from core.split import open_fence, split_text, take_piece, utf16_length


def words(text: str) -> list[str]:
    return [w for w in re.split(r"\s+", text.replace("```python", "").replace("```", "")) if w]


def test_short_text_is_one_piece() -> None:
    assert split_text("hello", 10) == ["hello"]


def test_prefers_paragraph_then_line_then_sentence_then_word() -> None:
    para = "First paragraph is here.\n\nSecond one follows."
    assert split_text(para, 30)[0] == "First paragraph is here."
    lines = "line one is long\nline two is long"
    assert split_text(lines, 20)[0] == "line one is long"
    sentences = "One sentence here. Another sentence there."
    assert split_text(sentences, 25)[0] == "One sentence here."
    plain = "alpha beta gamma delta epsilon"
    assert split_text(plain, 12)[0] == "alpha beta"


@pytest.mark.parametrize("limit", [50, 97, 200, 333])
def test_no_word_is_lost_and_every_piece_fits(limit: int) -> None:
    text = " ".join(f"word{i}" + ("." if i % 7 == 0 else "") for i in range(600))
    pieces = split_text(text, limit)
    assert all(len(p) <= limit for p in pieces)
    assert words("\n".join(pieces)) == words(text)


def test_a_word_longer_than_the_limit_is_cut_hard() -> None:
    pieces = split_text("x" * 25, 10)
    assert pieces == ["x" * 10, "x" * 10, "x" * 5]


def test_code_fence_cut_in_two_is_closed_and_reopened() -> None:
    code = "```python\n" + "".join(f"print({i})\n" for i in range(60)) + "```\nDone."
    pieces = split_text(code, 120)
    assert len(pieces) > 2
    for piece in pieces:
        assert open_fence(piece) is None, piece
        assert len(piece) <= 120
    assert pieces[1].startswith("```python\n")
    assert words("\n".join(pieces)) == words(code)


def test_telegram_counts_utf16_code_units() -> None:
    emoji = "😀" * 3000  # 2 code units each
    pieces = split_text(emoji, 4096, utf16_length)
    assert all(utf16_length(p) <= 4096 for p in pieces)
    assert "".join(pieces) == emoji
    assert utf16_length("😀a") == 3


def test_take_piece_reports_what_it_consumed() -> None:
    piece = take_piece("abc def ghi", 8)
    assert piece.text == "abc def"
    assert piece.consumed == len("abc def ")


def test_a_code_line_longer_than_the_room_left_is_cut_not_looped_on() -> None:
    # Once reopened, the fence line alone must not be a whole piece, or no piece moves on.
    text = "\n```\n" + "[00000000000](https://example.com/11)" * 3
    pieces = split_text(text, 40)
    assert all(len(p) <= 40 for p in pieces)
    assert all(p.strip() not in ("```", "```\n```") for p in pieces)
    joined = "".join(p.replace("```", "") for p in pieces)
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", text.replace("```", ""))


def test_a_tilde_fence_is_closed_with_tildes() -> None:
    pieces = split_text("intro text here\n~~~\n" + "code line\n" * 6, 40)
    assert pieces[0].endswith("\n~~~") and pieces[1].startswith("~~~\n")
    assert all(open_fence(p) is None for p in pieces[:-1])


def test_a_long_fence_opening_line_is_not_carried_whole() -> None:
    pieces = split_text("```" + "x" * 50 + "\n" + "y " * 40, 30)
    assert all(len(p) <= 30 for p in pieces)
    assert len(pieces) < 20
