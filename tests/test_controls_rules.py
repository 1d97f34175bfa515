"""The conversation controls' pure rules: who may stop a reply, what an edit does, and how a
person's queued messages are merged."""

from __future__ import annotations

import pytest

from core.edits import EditAction, EditMode, as_new_message, on_edit
from core.merge import merged_text
from core.model import Incoming
from core.stop import may_stop, place_of, stop_tag, tagged_message


def test_the_asker_or_an_admin_may_stop_a_reply() -> None:
    assert may_stop("tg:1", "tg:1", admin=False)
    assert may_stop("tg:2", "tg:1", admin=True)
    assert not may_stop("tg:2", "tg:1", admin=False)


def test_a_stop_tag_names_its_message_and_fits_telegrams_callback_data() -> None:
    tag = stop_tag("tg:-1001234567890:2147483647")
    assert tagged_message(tag) == "tg:-1001234567890:2147483647"
    assert len(tag.encode()) <= 64
    assert tagged_message("something else") is None
    assert place_of("tg:-100123@tg:501") == "tg:-100123" and place_of("dc:7") == "dc:7"


@pytest.mark.parametrize(
    ("mode", "queued", "relayed", "action"),
    [
        ("queued", True, True, EditAction.REPLACE),
        ("queued", False, True, EditAction.IGNORE),
        ("queued", False, False, EditAction.IGNORE),
        ("answer", True, True, EditAction.REPLACE),
        ("answer", False, True, EditAction.ANSWER),
        ("answer", False, False, EditAction.IGNORE),
        ("off", True, True, EditAction.IGNORE),
        ("off", False, True, EditAction.IGNORE),
    ],
)
def test_what_an_edit_does(mode: EditMode, queued: bool, relayed: bool, action: EditAction) -> None:
    assert on_edit(mode, queued=queued, relayed=relayed) is action


def test_an_answered_edit_is_a_new_message_once_per_text() -> None:
    msg = Incoming(platform="telegram", channel="tg:1", author="tg:1", text="hi", message_id="m")
    first, again = as_new_message(msg), as_new_message(msg)
    assert first.message_id == again.message_id != "m"
    other = as_new_message(Incoming("telegram", "tg:1", "tg:1", "hello", "m"))
    assert other.message_id != first.message_id


def test_merged_text_joins_in_order_and_stops_at_the_limit() -> None:
    assert merged_text(["a", "b", "c"], None) == ("a\n\nb\n\nc", 3)
    assert merged_text(["aaaa", "bbbb", "cccc"], 10) == ("aaaa\n\nbbbb", 2)
    assert merged_text(["a" * 50, "b"], 10) == ("a" * 50, 1)  # the first always goes
