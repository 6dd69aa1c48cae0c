"""The demo population: person ``i`` computed on demand, the same every time.

Nothing is held in memory: :func:`person` derives everything about person ``i`` from a keyed
hash of ``(seed, i)``, so a writer can stream a million people, or pick random ones for the
access logs, in constant memory. E-mail addresses are unique by construction: ``i`` is
mapped through a bijection (a keyed permutation with cycle-walking) onto the tuples
(first name, last name, mail domain, spelling variant), and distinct tuples give distinct
addresses. Indices ``people .. people + people // 10`` are prospects: known to the CRM or the
newsletter, without a platform account.
"""

from __future__ import annotations

import hashlib
import time
import unicodedata
from datetime import date, datetime
from functools import lru_cache
from typing import NamedTuple

from dsar.demo.org import showcase
from dsar.demo.org.names import (
    EMPLOYERS,
    FIRST_NAMES,
    LAST_NAMES,
    MAIL_DOMAINS,
    PROFESSIONS,
    STREET_KINDS,
    STREET_NAMES,
    TOWNS,
)

#: The generated data's "now": every date is on or before it (fixed, so files are reproducible).
AS_OF = datetime(2026, 11, 15, 18, 0, 0)
AS_OF_TS = int((AS_OF - datetime(1970, 1, 1)).total_seconds())
EPOCH_2019 = int((datetime(2019, 1, 1) - datetime(1970, 1, 1)).total_seconds())
_ACCOUNTS_UNTIL = datetime(2026, 10, 31)
_BIRTH_ORDINAL = date(1958, 1, 1).toordinal()

_NUMBERS = (1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 17, 21, 22, 29, 31, 33, 35, 38, 44, 56, 59,
            62, 67, 69, 75, 76, 78, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95)
# (separator, number or None): every variant gives a different spelling for the same names.
# No variant glues the names together ("jeanmartin"): two pairs of names could glue into
# the same text, while a separator that no last name contains splits them one way only.
_VARIANTS = ((".", None), ("-", None), ("_", None),
             *((".", n) for n in _NUMBERS), *(("_", n) for n in _NUMBERS[:8]))
_F, _L, _D, _V = len(FIRST_NAMES), len(LAST_NAMES), len(MAIL_DOMAINS), len(_VARIANTS)
#: How many distinct addresses the construction can give (far above a million).
CAPACITY = _F * _L * _D * _V


def slug(text: str) -> str:
    """``"Lefèbvre"`` -> ``"lefebvre"``, ``"Le Gall"`` -> ``"legall"`` (for e-mail addresses)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return plain.lower().replace(" ", "").replace("'", "")


_FIRST_SLUGS = tuple(slug(n) for n, _ in FIRST_NAMES)
_LAST_SLUGS = tuple(slug(n) for n in LAST_NAMES)


def _permutation(key: int, bits: int):
    """A bijection of [0, 2**bits): xor, odd multiplications and xor-shifts, all invertible."""
    mask = (1 << bits) - 1
    k1, k2 = key & mask, (key >> 32) & mask
    m1, m2 = (0x9E3779B1 | 1) & mask, ((key >> 16) * 2 + 0x85EBCA77) & mask | 1
    shift1, shift2 = bits // 2 or 1, bits // 3 or 1

    def permute(x: int) -> int:
        x = ((x ^ k1) * m1) & mask
        x ^= x >> shift1
        x = ((x + k2) * m2) & mask
        return x ^ (x >> shift2)

    return permute


@lru_cache(maxsize=8)
def _email_permutation(seed: int):
    permute = _permutation(int.from_bytes(hashlib.sha256(f"email:{seed}".encode()).digest()[:8],
                                          "little"), CAPACITY.bit_length())

    def walk(i: int) -> int:
        x = permute(i)
        while x >= CAPACITY:  # cycle-walking: stays a bijection of [0, CAPACITY)
            x = permute(x)
        return x

    return walk


_visitor_permute = _permutation(0x5EED_D5A2_2026, 31)


def visitor_number(i: int) -> int:
    """The random-looking part of person ``i``'s analytics cookie, unique per ``i`` (a
    bijection of 31-bit numbers, independent of the seed so the showcase ids are fixed)."""
    return _visitor_permute(i)


def email_for(i: int, seed: int) -> tuple[int, int, str]:
    """(first name index, last name index, personal address) of generated person ``i``."""
    p = _email_permutation(seed)(i)
    p, f = divmod(p, _F)
    p, last = divmod(p, _L)
    variant, d = divmod(p, _D)
    sep, number = _VARIANTS[variant]
    local = f"{_FIRST_SLUGS[f]}{sep}{_LAST_SLUGS[last]}{number or ''}"
    return f, last, f"{local}@{MAIL_DOMAINS[d]}"


class Person(NamedTuple):
    """Everything the sources know about one person (a prospect has no account)."""

    index: int
    account_id: int | None
    first_name: str
    last_name: str
    gender: str
    email: str
    birth_date: str
    phone: str
    address: str
    postal_code: str
    city: str
    profession: str
    employer: int | None  # index in EMPLOYERS
    work_email: str | None
    created_at: str  # account creation (or first contact), local time
    created_ts: int
    visitor_id: str
    bio: str
    #: The person's dice for the writers (CRM, newsletter…): :func:`traits`.
    luck: int

    @property
    def showcase(self) -> str | None:
        """"A", "B"… for a showcase person, else None."""
        entry = showcase.PEOPLE.get(self.index)
        return entry["key"] if entry else None

    @property
    def employer_name(self) -> str | None:
        return EMPLOYERS[self.employer][0] if self.employer is not None else None


@lru_cache(maxsize=8)
def _hash_key(seed: int) -> bytes:
    return hashlib.sha256(f"horizon-demo:{seed}".encode()).digest()[:32]


def draws(i: int, seed: int, salt: bytes = b"p", size: int = 32) -> int:
    """A number of ``size`` bytes fixed by (seed, i, salt): the person's dice."""
    digest = hashlib.blake2b(i.to_bytes(8, "little"), key=_hash_key(seed), person=salt,
                             digest_size=size).digest()
    return int.from_bytes(digest, "little")


def traits(i: int, seed: int) -> int:
    """64 random bits of person ``i`` that the writers read without computing the whole
    person. Bytes: 0 in the CRM, 1 subscribed to the newsletter, 2 consented to audience
    measurement, 3 browser, 4 employed / work address, 5 employer, 6-7 first visit."""
    return draws(i, seed, b"t", 8)


def employer_of(luck: int) -> tuple[int | None, bool]:
    """(employer index or None, has a work address) from :func:`traits` bits."""
    works = (luck >> 32) & 0xFF
    if works >= 115:  # 45 % are employed somewhere we know of
        return None, False
    return ((luck >> 40) & 0xFF) % len(EMPLOYERS), works < 64


def visitor_id(i: int, seed: int, luck: int | None = None) -> str:
    """Person ``i``'s analytics cookie: ``<random number>.<first visit>``, the Google
    Analytics client-id shape. Unique per person (the number is a bijection of ``i``)."""
    if i in showcase.PEOPLE:
        return showcase_visitor_id(i)
    luck = traits(i, seed) if luck is None else luck
    return f"{visitor_number(i)}.{EPOCH_2019 + 3600 * (luck >> 48)}"


def as_typed(email: str) -> str:
    """``jean.dupont@x`` -> ``Jean.Dupont@x``: the same mailbox, written with capitals."""
    local, _, domain = email.partition("@")
    return ".".join(part[:1].upper() + part[1:] for part in local.split(".")) + "@" + domain


def _phone(h: int, zone: int) -> tuple[int, str]:
    h, kind = divmod(h, 10)
    h, digits = divmod(h, 10**8)
    lead = (6 if kind < 5 else 7) if kind < 6 else zone
    d = f"{digits:08d}"
    return h, f"+33 {lead} {d[0:2]} {d[2:4]} {d[4:6]} {d[6:8]}"


def stamp(ts: int) -> str:
    """``"2025-03-12 09:14:03"`` for a timestamp in seconds (the sources' local time)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


_ACCOUNT_SPAN = int((_ACCOUNTS_UNTIL - datetime(2019, 1, 1)).total_seconds())


def person(i: int, seed: int, people: int) -> Person:
    """Person ``i`` of a population of ``people`` account holders (``i >= people``: a
    prospect, known only to the CRM or the newsletter)."""
    if i in showcase.PEOPLE:
        return _showcase_person(i, seed)
    h = draws(i, seed)
    f, last, email = email_for(i, seed)
    first_name, gender = FIRST_NAMES[f]
    h, t = divmod(h, len(TOWNS))
    city, postal_code, zone = TOWNS[t]
    h, phone = _phone(h, zone)
    h, birth = divmod(h, 17_900)
    h, number = divmod(h, 120)
    h, kind = divmod(h, len(STREET_KINDS))
    h, street = divmod(h, len(STREET_NAMES))
    h, job = divmod(h, len(PROFESSIONS))
    h, created = divmod(h, _ACCOUNT_SPAN)
    h, has_bio = divmod(h, 10)
    birth_date = date.fromordinal(_BIRTH_ORDINAL + birth)
    profession = PROFESSIONS[job][gender == "F"]
    luck = traits(i, seed)
    employer, has_work_email = employer_of(luck)
    work_email = None
    if has_work_email:
        work_email = f"{_FIRST_SLUGS[f]}.{_LAST_SLUGS[last]}@{EMPLOYERS[employer][1]}"
    created_ts = EPOCH_2019 + created
    return Person(
        index=i, account_id=i + 1 if i < people else None, first_name=first_name,
        last_name=LAST_NAMES[last], gender=gender, email=email,
        birth_date=birth_date.isoformat(), phone=phone,
        address=f"{number + 1} {STREET_KINDS[kind]} {STREET_NAMES[street]}",
        postal_code=postal_code, city=city, profession=profession,
        employer=employer, work_email=work_email,
        created_at=stamp(created_ts), created_ts=created_ts,
        visitor_id=visitor_id(i, seed, luck),
        bio=_bio(profession, has_bio, h, 2019 - birth_date.year), luck=luck,
    )


_GOALS = (
    "je souhaite évoluer vers un poste d'encadrement",
    "je prépare une reconversion professionnelle",
    "je veux valider mes compétences par une certification",
    "je me forme pour rester à jour dans mon métier",
    "j'utilise mon CPF pour progresser à mon rythme",
)


def _bio(profession: str, has_bio: int, h: int, adult_years: int) -> str:
    if has_bio >= 3:
        return ""
    goal = _GOALS[(h >> 8) % len(_GOALS)]
    if profession.startswith(("Étudiant", "Demandeu")):
        return f"{profession}, {goal}."
    years = 1 + h % max(2, min(25, adult_years))
    return f"{profession} depuis {years} an{'s' if years > 1 else ''}, {goal}."


def _showcase_person(i: int, seed: int) -> Person:
    entry = showcase.PEOPLE[i]
    created_ts = int((datetime.fromisoformat(entry["created_at"])
                      - datetime(1970, 1, 1)).total_seconds())
    return Person(
        index=i, account_id=i + 1, first_name=entry["first_name"],
        last_name=entry["last_name"], gender=entry["gender"], email=entry["email"],
        birth_date=entry["birth_date"], phone=entry["phone"], address=entry["address"],
        postal_code=entry["postal_code"], city=entry["city"], profession=entry["profession"],
        employer=entry["employer"], work_email=entry["work_email"],
        created_at=entry["created_at"], created_ts=created_ts,
        visitor_id=showcase_visitor_id(i), bio=entry["bio"],
        luck=traits(i, seed),
    )


def showcase_visitor_id(i: int) -> str:
    """The fixed analytics cookie of showcase person ``i``."""
    return f"{visitor_number(i)}.{showcase.PEOPLE[i]['first_visit']}"


def build_showcase() -> dict[str, dict]:
    """The public ``SHOWCASE`` constant: key -> what tests need to know about each person."""
    out = {}
    for i, entry in showcase.PEOPLE.items():
        info = {
            "first_name": entry["first_name"], "last_name": entry["last_name"],
            "email": entry["email"], "customer_id": i + 1,
            "visitor_id": showcase_visitor_id(i), "work_email": entry["work_email"],
            "city": entry["city"],
        }
        if "died" in entry:  # F and G: what a request about a deceased person states
            info.update(birth_date=entry["birth_date"], died=entry["died"],
                        relative=dict(entry["relative"]))
        out[entry["key"]] = info
    out["A"]["email_other_case"] = showcase.A_EMAIL_OTHER_CASE
    out["A"]["office_ip"] = out["C"]["office_ip"] = showcase.CLINIC_IP
    return out
