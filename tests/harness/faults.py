"""What the process and store fault tests share: the tables of their `bridge run`, the group
they talk in, and the story that is cut off mid-reply.

The fakes live in the test process, so they outlive every bridge process: their request logs
show whether a prompt reached the upstream twice, and their chats show what users saw.
"""

from __future__ import annotations

from tests.fakes.cody import CodyFake

GROUP = -100_777
MEMBER = 900_002

STORY = (
    "Once upon a time a small robot streamed its thoughts one chunk at a time, and every chat "
    "saw the words appear as they were written, until the lights went out mid-sentence."
)

# The tables every fault test's `bridge run` adds to :func:`tests.harness.bridge_config`.
RUN_TABLES = """
[relay]
lock_ttl = {lock_ttl}
speaker_names = "never"             # prompts as typed, to compare with the upstream's

[log]
level = "INFO"

[run]
grace_period = {grace}
"""


def prompts_once(cody: CodyFake, *prompts: str) -> None:
    """Each prompt reached the upstream exactly once."""
    for prompt in prompts:
        assert cody.messages_sent.count(prompt) == 1, cody.messages_sent
