"""What a visit to the website looks like: the pages of a browsing or learning session, and
the showcase people's fixed visits (A and C come out of the same clinic address)."""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import date
from typing import NamedTuple

from dsar.demo.org.names import COURSES


class Page(NamedTuple):
    """One step of a visit. ``method`` empty: an analytics event without a server request
    (a video played from the CDN); ``event`` empty: a request the analytics never sees."""

    method: str
    path: str
    status: int
    size: int
    event: str
    title: str
    pause: int  # seconds before the next step (up to twice this)


def url_slug(text: str) -> str:
    """``"Excel : niveau avancé"`` -> ``"excel-niveau-avance"``."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")


_COURSE_PAGES = tuple((f"/formations/{url_slug(title)}", title, code)
                      for code, title, *_ in COURSES)
_BLOG = (("/blog/financer-sa-formation-avec-le-cpf", "Financer sa formation avec le CPF"),
         ("/blog/reconversion-professionnelle-par-ou-commencer",
          "Reconversion professionnelle : par où commencer ?"),
         ("/blog/ia-generative-au-bureau", "L'IA générative au bureau"),
         ("/blog/certification-qualiopi", "Qualiopi : ce que la certification garantit"))
_PUBLIC = (("/", "Académie Horizon Formation"), ("/formations", "Nos formations"),
           ("/cpf", "Financer avec le CPF"), ("/contact", "Nous contacter"), *_BLOG)


def _size(rng: random.Random) -> int:
    return 18_000 + int(rng.random() * 42_000)


def _view(rng: random.Random, path: str, title: str, pause: int = 40) -> Page:
    status = 304 if rng.random() < 0.05 else 200
    return Page("GET", path, status, 0 if status == 304 else _size(rng), "page_view", title,
                pause)


def browse(rng: random.Random) -> list[Page]:
    """A look around the public pages, sometimes ending with the contact form."""
    pages = []
    for _ in range(1 + int(rng.random() * 3)):
        if rng.random() < 0.5:
            path, title, _code = _COURSE_PAGES[int(rng.random() * len(_COURSE_PAGES))]
        else:
            path, title = _PUBLIC[int(rng.random() * len(_PUBLIC))]
        pages.append(_view(rng, path, title))
    if rng.random() < 0.05:
        pages.append(_view(rng, "/contact", "Nous contacter", 90))
        pages.append(Page("POST", "/contact", 302, 0, "form_submit", "Nous contacter", 5))
    return pages


def learn(rng: random.Random) -> list[Page]:
    """A learner signs in and follows modules, maybe a quiz, maybe her invoices."""
    _path, title, code = _COURSE_PAGES[int(rng.random() * len(_COURSE_PAGES))]
    pages = [_view(rng, "/connexion", "Connexion", 20),
             Page("POST", "/connexion", 302, 0, "login", "Connexion", 3),
             _view(rng, "/mon-compte", "Mon espace", 15)]
    first = 1 + int(rng.random() * 6)
    for module in range(first, first + 1 + int(rng.random() * 3)):
        path = f"/mon-compte/formations/{code.lower()}/module-{module}"
        pages.append(_view(rng, path, f"{title} – module {module}", 30))
        pages.append(Page("", path, 200, 0, "video_play", f"{title} – module {module}", 600))
        pages.append(Page("POST", "/api/progression", 204, 0, "", "", 5))
    if rng.random() < 0.3:
        path = f"/mon-compte/formations/{code.lower()}/quiz-{first}"
        pages.append(_view(rng, path, f"{title} – quiz", 300))
        pages.append(Page("POST", path, 200, 4_200, "quiz_submit", f"{title} – quiz", 20))
    if rng.random() < 0.1:
        pages.append(_view(rng, "/mon-compte/factures", "Mes factures", 20))
        number = f"FA-2026-{int(rng.random() * 10**7):07d}"
        pages.append(Page("GET", f"/mon-compte/factures/{number}.pdf", 200, 84_000 +
                          int(rng.random() * 9_000), "file_download", "Mes factures", 10))
    return pages


#: Day -> (showcase key, local time, where from, kind of visit).
SHOWCASE_SESSIONS: dict[date, list[tuple[str, str, str, str]]] = {}
for _key, _when, _place, _kind in (
    ("A", "2026-03-10 09:12:31", "office", "learn"),
    ("C", "2026-03-10 09:40:05", "office", "learn"),
    ("A", "2026-03-10 21:30:12", "home", "learn"),
    ("B", "2026-04-08 12:30:44", "home", "learn"),
    ("A", "2026-05-19 14:05:09", "office", "learn"),
    ("D", "2026-05-19 16:30:27", "office", "browse"),
    ("A", "2026-06-02 08:47:50", "mobile", "browse"),
    ("E", "2026-06-11 22:05:18", "mobile", "browse"),
    ("C", "2026-07-01 20:00:33", "home", "learn"),
    ("B", "2026-08-21 18:10:02", "mobile", "browse"),
    ("C", "2026-09-15 10:05:40", "office", "browse"),
    ("A", "2026-09-15 10:20:16", "office", "learn"),
    ("E", "2026-10-02 17:45:51", "home", "learn"),
    ("A", "2026-10-06 19:45:03", "home", "learn"),
    ("D", "2026-10-20 09:00:12", "office", "learn"),
    ("A", "2026-11-03 11:02:47", "centre", "learn"),
    ("B", "2026-11-10 20:15:29", "home", "learn"),
    ("A", "2026-11-12 09:30:58", "office", "browse"),
):
    SHOWCASE_SESSIONS.setdefault(date.fromisoformat(_when[:10]), []).append(
        (_key, _when, _place, _kind))
