"""The renderer's decision alone: which write comes next, from plain facts."""

from __future__ import annotations

from core.render_plan import Progress, Write, next_write
from core.split import utf16_length


def shown(*writes: Write) -> Progress:
    """The progress after ``writes`` were made."""
    progress = Progress()
    for write in writes:
        progress.wrote(write)
    return progress


def test_nothing_produced_yet_needs_no_write() -> None:
    assert next_write(Progress(), "", False, 100) is None


def test_the_first_text_is_written_as_it_stands() -> None:
    write = next_write(Progress(), "Hi", False, 100)
    assert write == Write("Hi", False, False, 0, "", 2)


def test_a_chat_up_to_date_needs_no_write_until_more_text() -> None:
    progress = shown(Write("Hi", False, False, 0, "", 2))
    assert next_write(progress, "Hi", False, 100) is None
    grown = next_write(progress, "Hi there", False, 100)
    assert grown is not None and (grown.text, grown.final) == ("Hi there", False)


def test_blank_text_is_not_shown_while_streaming() -> None:
    assert next_write(Progress(), "  \n", False, 100) is None


def test_the_end_writes_the_final_text_once_even_when_it_is_shown() -> None:
    progress = shown(Write("Hi", False, False, 0, "", 2))
    final = next_write(progress, "Hi", True, 100)
    assert final == Write("Hi", True, False, 0, "", 2)
    progress.wrote(final)
    assert progress.done
    assert next_write(progress, "Hi", True, 100) is None


def test_the_final_text_carries_the_notice_the_caller_put_in() -> None:
    progress = shown(Write("The answer", False, False, 0, "", 10))
    final = next_write(progress, "The answer\n\n(interrupted)", True, 100)
    assert final is not None and final.text == "The answer\n\n(interrupted)" and final.final


def test_a_failed_partial_write_waits_for_more_text_but_the_end_does_not() -> None:
    progress = Progress()
    write = next_write(progress, "Hello", False, 100)
    assert write is not None
    progress.covered = write.covers  # the write failed: the next one catches up
    assert next_write(progress, "Hello", False, 100) is None
    assert next_write(progress, "Hello!", False, 100) is not None
    assert next_write(progress, "Hello", True, 100) is not None


def test_a_full_message_is_sealed_and_the_rest_goes_on_in_the_next() -> None:
    text = "first part.\n\nsecond part"
    seal = next_write(Progress(), text, False, 15)
    assert seal is not None
    assert (seal.text, seal.final, seal.seals) == ("first part.", True, True)
    assert text[seal.consumed :] == "second part"  # the blank lines are not carried over
    progress = shown(seal)
    assert (progress.shown, progress.consumed) == ("", seal.consumed)
    rest = next_write(progress, text, False, 15)
    assert rest is not None and (rest.text, rest.final, rest.seals) == ("second part", False, False)


def test_a_code_fence_cut_in_two_is_reopened_in_the_next_message() -> None:
    text = "```py\n" + "".join(f"x = {i}\n" for i in range(10)) + "```"
    seal = next_write(Progress(), text, False, 40)
    assert seal is not None and seal.seals and seal.text.endswith("\n```")
    assert seal.carry == "```py\n"
    rest = next_write(shown(seal), text, False, 40)
    assert rest is not None and rest.text.startswith("```py\n")


def test_the_limit_is_measured_as_the_platform_counts() -> None:
    text = "😀" * 30  # 60 UTF-16 code units
    assert next_write(Progress(), text, False, 40) is not None
    seal = next_write(Progress(), text, False, 40, utf16_length)
    assert seal is not None and seal.seals and utf16_length(seal.text) <= 40


def test_a_long_reply_ends_in_messages_that_join_back_to_it() -> None:
    text = " ".join(f"w{i}" for i in range(200))
    progress, messages = Progress(), [""]
    while (write := next_write(progress, text, True, 60)) is not None:
        messages[-1] = write.text
        progress.wrote(write)
        if write.seals:
            messages.append("")
    assert all(len(m) <= 60 for m in messages)
    assert " ".join(messages).split() == text.split()
    assert progress.done
