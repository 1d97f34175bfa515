"""Which allowances apply to a message, and their windows, on an injected clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bots.reload import reload_settings
from core import allowances
from core.allowances import MessageFacts, limits_for
from core.config import AllowanceSettings, load_settings
from core.live import LiveSettings
from core.metrics import Metrics
from core.model import Meter, MeterScope, Window
from core.notices import Texts
from core.windows import Limit, window_of

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, zone: ZoneInfo = UTC) -> float:
    """A wall-clock time in ``zone`` as unix seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("30/1d", Limit(30, days=1)),
        (" 200 / 7d ", Limit(200, days=7)),
        ("5000/30d", Limit(5000, days=30)),
        ("10/12h", Limit(10, hours=12)),
        ("0", None),
        ("", None),
    ],
)
def test_limits_parse(text: str, limit: Limit | None) -> None:
    assert Limit.parse(text) == limit


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("30", "N/PERIOD"),
        ("30/1w", "N/PERIOD"),
        ("-1/1d", "N/PERIOD"),
        ("0/1d", 'write "0" alone'),
        ("5/0d", "1 to 366 days"),
        ("5/25h", "use days beyond"),
    ],
)
def test_bad_limits_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Limit.parse(text)


def test_a_day_window_starts_at_midnight_and_rolls_over_at_the_next() -> None:
    window = window_of("1d", at("2026-12-07 23:59:59"), UTC)
    assert window == Window("1d", at("2026-12-07 00:00"), at("2026-12-08 00:00"))
    assert window_of("1d", at("2026-12-08 00:00"), UTC).start == window.end
    assert window_of("1d", at("2026-12-08 00:00") - 0.001, UTC) == window


def test_day_windows_start_at_midnight_in_the_configured_zone() -> None:
    # 23:30 UTC on the 7th is already the 8th in Berlin (UTC+1 in December).
    now = at("2026-12-07 23:30")
    assert window_of("1d", now, UTC).start == at("2026-12-07 00:00")
    berlin = window_of("1d", now, BERLIN)
    assert berlin == Window("1d", at("2026-12-08 00:00", BERLIN), at("2026-12-09 00:00", BERLIN))
    assert berlin.start == at("2026-12-07 23:00")


def test_a_day_with_a_clock_change_is_a_whole_local_day() -> None:
    # Berlin springs forward on 2026-03-29: that day lasts 23 hours, the autumn one 25.
    spring = window_of("1d", at("2026-03-29 12:00", BERLIN), BERLIN)
    assert spring.end - spring.start == 23 * 3600
    autumn = window_of("1d", at("2026-10-25 12:00", BERLIN), BERLIN)
    assert autumn.end - autumn.start == 25 * 3600


def test_a_day_whose_midnight_is_skipped_starts_at_its_first_instant() -> None:
    havana = ZoneInfo("America/Havana")  # 2023-03-12: 00:00 jumps to 01:00
    window = window_of("1d", at("2023-03-12 12:00", havana), havana)
    assert datetime.fromtimestamp(window.start, havana).hour == 1
    assert window.end - window.start == 23 * 3600


def test_a_week_runs_monday_to_monday_and_thirty_days_from_the_anchor() -> None:
    week = window_of("7d", at("2026-12-10 15:00"), UTC)  # a Thursday
    assert week == Window("7d", at("2026-12-07 00:00"), at("2026-12-14 00:00"))
    assert datetime.fromtimestamp(week.start, UTC).weekday() == 0
    month = window_of("30d", at("2026-12-10 15:00"), UTC)
    assert month.end - month.start == 30 * 86400
    assert (month.start - at("1970-01-05 00:00")) % (30 * 86400) == 0
    assert month.start <= at("2026-12-10 15:00") < month.end
    assert window_of("30d", month.end, UTC).start == month.end  # the next one follows at once


def test_hour_windows_split_the_local_day_from_midnight() -> None:
    assert window_of("12h", at("2026-12-07 11:59"), UTC) == Window(
        "12h", at("2026-12-07 00:00"), at("2026-12-07 12:00")
    )
    assert window_of("12h", at("2026-12-07 12:00"), UTC).start == at("2026-12-07 12:00")
    # 5 hours do not divide the day: its last window ends at midnight, after 4 hours.
    last = window_of("5h", at("2026-12-07 22:00"), UTC)
    assert last == Window("5h", at("2026-12-07 20:00"), at("2026-12-08 00:00"))
    assert window_of("1h", at("2026-12-07 10:30", BERLIN), BERLIN).start == at(
        "2026-12-07 10:00", BERLIN
    )


def settings(**values: object) -> AllowanceSettings:
    return AllowanceSettings.model_validate(values)


NOW = at("2026-12-07 10:00")
DAY = Window("1d", at("2026-12-07 00:00"), at("2026-12-08 00:00"))


def test_nothing_is_metered_while_no_limit_is_set() -> None:
    facts = MessageFacts(author="tg:1", channel="tg:-5", server="tg:-5", backend="cody")
    assert limits_for(facts, settings(), NOW) == []
    assert limits_for(facts, settings(per_user="0", backends={"cody": "0"}), NOW) == []


def test_every_scope_that_applies_is_metered_in_order() -> None:
    config = settings(per_user="30/1d", per_chat="300/1d", per_server="1000/7d")
    config.backends["cody"] = "5000/30d"
    facts = MessageFacts(author="tg:1001", channel="tg:-5:7", server="tg:-5", backend="cody")
    meters = limits_for(facts, config, NOW)
    assert [(m.scope, m.key, m.limit, m.window.period) for m in meters] == [
        (MeterScope.USER, "telegram:1001", 30, "1d"),
        (MeterScope.CHAT, "tg:-5:7", 300, "1d"),
        (MeterScope.SERVER, "tg:-5", 1000, "7d"),
        (MeterScope.PLAN, "cody", 5000, "30d"),
    ]
    assert meters[0].window == DAY
    # A private chat has no server; an unknown backend has no plan.
    private = limits_for(MessageFacts(author="dc:9", channel="dc:dm:9"), config, NOW)
    assert [m.scope for m in private] == [MeterScope.USER, MeterScope.CHAT]
    assert private[0].key == "discord:9"


def test_a_scope_without_a_limit_is_counted_per_day_and_never_refuses() -> None:
    meters = limits_for(MessageFacts(author="tg:1", channel="tg:1"), settings(per_chat="9/7d"), NOW)
    assert meters[0] == Meter(MeterScope.USER, "telegram:1", None, DAY)
    assert meters[1].limit == 9


def test_a_person_s_override_beats_their_roles_and_the_default() -> None:
    config = settings(
        per_user="30/1d",
        users={"discord:42": "0", "telegram:7": "100/1d"},
        roles={"11": "50/1d", "12": "300/7d", "13": "10/1h"},
    )

    def user_limit(author: str, roles: tuple[int, ...] = ()) -> int | None:
        facts = MessageFacts(author=author, channel="c", roles=roles)
        return limits_for(facts, config, NOW)[0].limit

    assert user_limit("tg:7") == 100
    assert user_limit("dc:42", (11,)) is None  # "0": no limit for this person
    assert user_limit("dc:5") == 30
    assert user_limit("dc:5", (99,)) == 30  # a role without a limit changes nothing
    # The most generous role: 10/1h (240 a day) beats 50/1d and 300/7d (about 43 a day).
    assert user_limit("dc:5", (11, 12)) == 50
    assert user_limit("dc:5", (11, 12, 13)) == 10


def test_an_exempt_admin_is_counted_but_never_refused() -> None:
    config = settings(per_user="1/1d", per_chat="1/1d", backends={"cody": "5/30d"})
    facts = MessageFacts(author="tg:1", channel="tg:1", backend="cody", admin=True)
    meters = limits_for(facts, config, NOW)
    assert [m.scope for m in meters] == [MeterScope.USER, MeterScope.CHAT, MeterScope.PLAN]
    assert all(m.limit is None for m in meters)
    config.admins_exempt = False
    assert [m.limit for m in limits_for(facts, config, NOW)] == [1, 1, 5]


def test_plan_alerts_are_crossed_by_exactly_one_message() -> None:
    meter = Meter(MeterScope.PLAN, "cody", 10, DAY)
    shares = [0.8, 1.0]
    assert [allowances.crossed(meter, used, shares) for used in range(7, 12)] == [
        [],
        [0.8],
        [],
        [1.0],
        [],
    ]
    assert allowances.crossed(Meter(MeterScope.PLAN, "cody", None, DAY), 8, shares) == []


def test_the_forecast_follows_the_window_s_rate() -> None:
    meter = Meter(MeterScope.PLAN, "cody", 100, Window("30d", 0.0, 30 * 86400.0))
    assert allowances.runs_out(meter, 50, 10 * 86400.0) == 20 * 86400.0
    assert allowances.runs_out(meter, 10, 10 * 86400.0) is None  # lasts the window
    assert allowances.runs_out(meter, 0, 10 * 86400.0) is None


def test_the_refusal_names_the_limit_and_when_it_starts_again() -> None:
    config = settings(per_user="30/1d", timezone="Europe/Berlin")
    meter = limits_for(MessageFacts(author="tg:1", channel="tg:1"), config, NOW)[0]
    notice = allowances.refusal(meter, config)
    assert notice.name == "allowance_user"
    assert "2026-12-08 00:00 CET" in notice
    for language in ("de", "ru", "uk"):
        assert "2026-12-08 00:00 CET" in Texts(language).render(notice)
    for scope in MeterScope:
        named = allowances.refusal(Meter(scope, "k", 1, DAY), config)
        assert named.name == f"allowance_{scope.value}"


async def test_a_reload_applies_new_limits_to_the_next_message(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[allowances]\nper_user = "30/1d"\n')
    live = LiveSettings(load_settings(path, require_file=True))
    view = live.view(lambda s: s.allowances)  # what the relay reads per message
    facts = MessageFacts(author="tg:1", channel="tg:1")
    assert limits_for(facts, view(), NOW)[0].limit == 30
    path.write_text('[allowances]\nper_user = "5/12h"\n[allowances.users]\n"telegram:2" = "0"\n')
    assert await reload_settings(path, live, {})
    meter = limits_for(facts, view(), NOW)[0]
    assert (meter.limit, meter.window.period) == (5, "12h")
    path.write_text('[allowances]\nper_user = "5/1w"\n')
    assert not await reload_settings(path, live, {})  # refused: the limits in force stay
    assert limits_for(facts, view(), NOW)[0].limit == 5


def test_the_metrics_count_upstream_messages_and_refusals_by_scope() -> None:
    metrics = Metrics()
    metrics.upstream_messages.labels("cody", "telegram").inc()
    metrics.allowance_refusals.labels(MeterScope.PLAN.value).inc()
    text = metrics.exposition().decode()
    assert 'bridge_upstream_messages_total{backend="cody",platform="telegram"} 1.0' in text
    assert 'bridge_allowance_refusals_total{scope="plan"} 1.0' in text


def test_one_admission_names_the_plan_shares_it_crossed() -> None:
    config = settings(per_user="9/1d", backends={"cody": "10/30d"})
    facts = MessageFacts(author="tg:1", channel="tg:1", backend="cody")
    meters = limits_for(facts, config, NOW)
    assert allowances.plan_alerts(meters, (8, 8, 8), config.alert_at) == [(meters[2], 0.8)]
    assert allowances.plan_alerts(meters, (9, 9, 9), config.alert_at) == []
    assert allowances.plan_alerts(meters, (), config.alert_at) == []  # nothing charged
    key, ttl = allowances.alert_claim(meters[2], 0.8, NOW)
    assert "cody" in key and "0.8" in key and ttl == meters[2].window.end - NOW


def test_a_refusal_notice_is_claimed_once_per_person_chat_and_window() -> None:
    meter = Meter(MeterScope.USER, "telegram:1", 5, DAY)
    key, ttl = allowances.notice_claim(meter, "tg:1", "tg:-5", NOW)
    assert ttl == DAY.end - NOW
    assert key != allowances.notice_claim(meter, "tg:1", "tg:-6", NOW)[0]  # another chat
    assert key != allowances.notice_claim(meter, "tg:2", "tg:-5", NOW)[0]  # another person
    tomorrow = Meter(MeterScope.USER, "telegram:1", 5, Window("1d", DAY.end, DAY.end + 86400))
    assert key != allowances.notice_claim(tomorrow, "tg:1", "tg:-5", DAY.end)[0]
