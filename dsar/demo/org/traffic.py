"""The website's traffic over the last twelve months: the audience-measurement export
(``analytics/events-YYYY-MM.jsonl``, visitors who consented only) and the web server's
access log (``logs/access.log`` for the current month, ``logs/access.log.1`` before), Apache
combined format plus `` vid=<visitor id or ->``.

Sessions are generated day after day, each from a random visitor (account holders, anonymous
visitors, crawlers), and the lines of a day are sorted before they are written, so both
outputs are in time order at any size with one day in memory.
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import date, datetime
from pathlib import Path

from dsar.demo.org import showcase
from dsar.demo.org.network import (
    BOTS,
    OFFICE_IPS,
    TRAINING_CENTRE_IP,
    USER_AGENTS,
    home_ip,
    mobile_ip,
)
from dsar.demo.org.people import AS_OF, AS_OF_TS, EPOCH_2019, employer_of, traits, visitor_id
from dsar.demo.org.people import visitor_number as _visitor_number
from dsar.demo.org.sessions import SHOWCASE_SESSIONS, Page, browse, learn

logger = logging.getLogger(__name__)

SITE = "https://www.horizon-formation.example"
DAYS = 365
_EXTERNAL = ("-", "-", "https://www.google.com/", "https://www.google.fr/",
             "https://www.moncompteformation.gouv.fr/", "https://www.linkedin.com/",
             "https://www.bing.com/")
_COUNTRIES = ("FR",) * 46 + ("BE", "CH", "MA", "CA")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ANONYMOUS_BASE = 1 << 30  # anonymous visitors' numbers never meet account holders'


def write_traffic(directory: Path, people: int, seed: int) -> dict[str, int]:
    """Write the analytics export and the access logs. Returns line counts."""
    writer = _Writer(directory, seed)
    rng = random.Random(f"traffic:{seed}")
    first_day = AS_OF.date().toordinal() - DAYS + 1
    per_day = (people * 0.45 / DAYS, people * 0.2 / DAYS, people * 0.15 / DAYS)
    pending: list[tuple] = []
    for day in range(first_day, AS_OF.date().toordinal() + 1):
        midnight = (day - date(1970, 1, 1).toordinal()) * 86400 - 3600  # Paris, roughly
        items = pending
        for _ in range(_poisson(rng, per_day[0])):
            i = int(rng.random() * people)
            _session(items, rng, seed, i, midnight + _hour(rng) + int(rng.random() * 3600))
        for _ in range(_poisson(rng, per_day[1])):
            _anonymous(items, rng, seed, people, midnight + _hour(rng)
                       + int(rng.random() * 3600))
        for _ in range(_poisson(rng, per_day[2])):
            _crawler(items, rng, midnight + int(rng.random() * 86400))
        for key, when, place, kind in SHOWCASE_SESSIONS.get(date.fromordinal(day), ()):
            _showcase_session(items, rng, seed, key, when, place, kind)
        items.sort(key=lambda item: (item[0], item[1]))
        tomorrow = midnight + 86400
        cut = next((n for n, item in enumerate(items) if item[0] >= tomorrow), len(items))
        for item in items[:cut]:
            if item[0] <= AS_OF_TS:
                writer.write(item)
        pending = items[cut:]
    writer.close()
    logger.info("traffic written: %s", writer.counts)
    return writer.counts


def _poisson(rng: random.Random, mean: float) -> int:
    """A count with the given mean (whole part plus one more with the fraction's chance)."""
    whole = int(mean)
    return whole + (1 if rng.random() < mean - whole else 0)


_HOURS = (0, 0, 0, 0, 0, 1, 2, 4, 7, 9, 9, 8, 7, 8, 9, 9, 8, 7, 7, 8, 9, 8, 5, 2)
_HOUR_CUMULATIVE = [sum(_HOURS[: h + 1]) / sum(_HOURS) for h in range(24)]


def _hour(rng: random.Random) -> int:
    draw = rng.random()
    return 3600 * next(h for h, bound in enumerate(_HOUR_CUMULATIVE) if draw < bound)


def _session(items: list, rng: random.Random, seed: int, i: int, start: int,
             place: str | None = None, kind: str | None = None, luck: int | None = None
             ) -> None:
    """One visit of account holder ``i``."""
    luck = traits(i, seed) if luck is None else luck
    agent = USER_AGENTS[((luck >> 24) & 0xFF) % len(USER_AGENTS)]
    employer, _ = employer_of(luck)
    if i in showcase.PEOPLE:
        employer = showcase.PEOPLE[i]["employer"]
    weekday = date.fromordinal(start // 86400 + date(1970, 1, 1).toordinal()).weekday() < 5
    office_hours = weekday and 8 * 3600 <= (start + 3600) % 86400 < 18 * 3600
    if place is None:
        draw = rng.random()
        if employer is not None and office_hours and draw < 0.6:
            place = "office"
        elif draw < 0.04 or (draw > 0.97 and employer is None):
            place = "centre"
        elif agent[1] == "mobile" and draw < 0.8:
            place = "mobile"
        else:
            place = "home"
    if place == "office":
        ip, agent = OFFICE_IPS[employer or 0], USER_AGENTS[0]
    elif place == "centre":
        ip = TRAINING_CENTRE_IP
    elif place == "mobile":
        ip = mobile_ip(int(rng.random() * 2**20))
        if agent[1] != "mobile":
            agent = USER_AGENTS[4]
    else:
        ip = home_ip(i, seed, start // (60 * 86400))
    consent = ((luck >> 16) & 0xFF) < 154 or i in showcase.PEOPLE  # 60 % accept the cookie
    country = _COUNTRIES[(luck >> 8) % len(_COUNTRIES)] if place == "home" else "FR"
    pages = learn(rng) if (kind or ("learn" if rng.random() < 0.6 else "browse")) == "learn" \
        else browse(rng)
    _emit(items, rng, start, pages, ip, agent, visitor_id(i, seed, luck), consent, country)


def _anonymous(items: list, rng: random.Random, seed: int, people: int, start: int) -> None:
    number = _visitor_number(_ANONYMOUS_BASE + int(rng.random() * max(1, people // 2)))
    cookie = rng.random()
    vid = f"{number}.{EPOCH_2019 + number % (7 * 365 * 86400)}" if cookie < 0.8 else None
    agent = USER_AGENTS[int(rng.random() * len(USER_AGENTS))]
    ip = home_ip(number, seed, start // (60 * 86400))
    _emit(items, rng, start, browse(rng), ip, agent, vid, vid is not None and cookie < 0.4,
          "FR")


def _crawler(items: list, rng: random.Random, at: int) -> None:
    ip_pattern, agent = BOTS[int(rng.random() * len(BOTS))]
    page = browse(rng)[0]
    status = 404 if rng.random() < 0.05 else page.status
    line = _log_line(ip_pattern.format(1 + int(rng.random() * 250)), at, page.method,
                     page.path, status, page.size, "-", agent, None)
    items.append((at, rng.random(), line, None))


def _showcase_session(items: list, rng: random.Random, seed: int, key: str, when: str,
                      place: str, kind: str) -> None:
    index = next(i for i, p in showcase.PEOPLE.items() if p["key"] == key)
    start = int((datetime.fromisoformat(when) - datetime(1970, 1, 1)).total_seconds()) - 3600
    _session(items, rng, seed, index, start, place, kind)


def _emit(items: list, rng: random.Random, start: int, pages: list[Page], ip: str,
          agent: tuple[str, str, str], vid: str | None, consent: bool, country: str) -> None:
    """The log lines and (with consent) analytics events of one session's pages."""
    at = start
    referrer = _EXTERNAL[int(rng.random() * len(_EXTERNAL))]
    session_id = f"{vid.split('.')[0]}.{start}" if vid else None
    for page in pages:
        line = None
        if page.method:
            line = _log_line(ip, at, page.method, page.path, page.status, page.size,
                             referrer, agent[0], vid)
        event = None
        if consent and page.event:
            event = json.dumps({
                "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))
                + f".{int(rng.random() * 1000):03d}Z",
                "visitor_id": vid, "session_id": session_id, "event": page.event,
                "url": SITE + page.path, "page_title": page.title, "referrer": referrer,
                "device": agent[1], "browser": agent[2], "country": country,
            }, ensure_ascii=False, separators=(",", ":"))
        items.append((at, rng.random(), line, event))
        if page.method == "GET" and page.status == 200:
            referrer = SITE + page.path
        at += page.pause + int(rng.random() * page.pause)


def _log_line(ip: str, at: int, method: str, path: str, status: int, size: int,
              referrer: str, agent: str, vid: str | None) -> str:
    return (f'{ip} - - [{_apache_time(at)}] "{method} {path} HTTP/1.1" {status} '
            f'{size if size else "-"} "{referrer}" "{agent}" vid={vid or "-"}')


def _apache_time(at: int) -> str:
    """``12/Mar/2025:09:14:03 +0100`` in Paris time (summer time from the last Sunday of
    March to the last Sunday of October)."""
    utc = time.gmtime(at)
    offset = 7200 if _summer(utc.tm_year, at) else 3600
    local = time.gmtime(at + offset)
    return (f"{local.tm_mday:02d}/{_MONTHS[local.tm_mon - 1]}/{local.tm_year}:"
            f"{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d} "
            f"+0{offset // 3600}00")


_SUMMER: dict[int, tuple[int, int]] = {}


def _summer(year: int, at: int) -> bool:
    if year not in _SUMMER:
        def last_sunday(month: int) -> int:
            day = date(year, month, 31)
            day = day.fromordinal(day.toordinal() - (day.weekday() + 1) % 7)
            return (day.toordinal() - date(1970, 1, 1).toordinal()) * 86400 + 3600
        _SUMMER[year] = (last_sunday(3), last_sunday(10))
    begin, end = _SUMMER[year]
    return begin <= at < end


class _Writer:
    """Routes sorted lines to the month's analytics file and to the right access log."""

    def __init__(self, directory: Path, seed: int):
        self.analytics_dir = directory / "analytics"
        self.logs_dir = directory / "logs"
        for folder in (self.analytics_dir, self.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.iterdir():
                old.unlink()
        rotated = datetime(AS_OF.year, AS_OF.month, 1) - datetime(1970, 1, 1)
        self.rotation = int(rotated.total_seconds()) - 3600
        self.logs = {name: (self.logs_dir / name).open("w", encoding="utf-8", newline="\n")
                     for name in ("access.log.1", "access.log")}
        self.month: str | None = None
        self.analytics = None
        self.counts = {"access_log_lines": 0, "analytics_events": 0}

    def write(self, item: tuple) -> None:
        at, _order, line, event = item
        if line is not None:
            log = self.logs["access.log" if at >= self.rotation else "access.log.1"]
            log.write(line + "\n")
            self.counts["access_log_lines"] += 1
        if event is not None:
            month = time.strftime("%Y-%m", time.gmtime(at))
            if month != self.month:
                if self.analytics:
                    self.analytics.close()
                self.month = month
                self.analytics = (self.analytics_dir / f"events-{month}.jsonl").open(
                    "a", encoding="utf-8", newline="\n")
            self.analytics.write(event + "\n")
            self.counts["analytics_events"] += 1

    def close(self) -> None:
        for log in self.logs.values():
            log.close()
        if self.analytics:
            self.analytics.close()

