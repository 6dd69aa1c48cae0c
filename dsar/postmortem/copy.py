"""The copy of a deceased person's data handed to the person they designated (or, for what the
estate needs, to an heir): the answer package's data files (``export.json``, the CSVs, the
schema and the manifest), built from the search results through a reader that lets through
only what is to be handed over (``dsar.postmortem.plan.Decision.handed``).

Never in it, whatever the directives or the DPO chose (LIL art. 85; the seed policies promise
as much):
- credentials: the fields ``sources.toml`` excludes, and any field whose name says it is a
  password, a hash, a token, a secret, a one-time code or a security question or answer;
- other people's data: the fields ``sources.toml`` marks as possibly holding it
  (``third_party``) are left out whole, and the e-mail addresses and phone numbers of other
  people written in the rest are masked as in every answer (``dsar.exports.redaction``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dsar.exports.content import ExportContent, build_content, stored_records
from dsar.models import Case, ChangePlan, SourceResult
from dsar.postmortem.plan import decision_of
from dsar.sources.base import CollectionConfig
from dsar.sources.catalog import get_catalog

#: Words of a field's name that make it a credential.
_CREDENTIAL_WORDS = frozenset({"password", "passwd", "pwd", "passphrase", "motdepasse", "hash",
                               "hashed", "token", "secret", "salt", "otp", "totp", "mfa", "pin",
                               "apikey", "credential", "credentials", "recovery", "cookie",
                               "jwt", "bearer"})
#: Words that make a credential with ``code`` or ``key`` (``reset_code``, ``ssh_key``), or
#: with ``id`` for a session (``session_id``).
_CODE_WORDS = frozenset({"one", "time", "verification", "reset", "auth", "backup", "sms",
                         "recovery", "security", "activation", "confirmation"})
_KEY_WORDS = frozenset({"api", "access", "private", "secret", "recovery", "ssh", "signing",
                        "session", "encryption"})
_WORDS = re.compile(r"[a-z0-9]+")


def is_credential(name: str) -> bool:
    """Whether a field's name says it holds a credential (``password_hash``, ``apiToken``,
    ``security_answer``, ``totp_secret``...)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    words = set(_WORDS.findall(spaced))
    glued = "".join(_WORDS.findall(spaced))
    if words & _CREDENTIAL_WORDS or "password" in glued or "motdepasse" in glued:
        return True
    if ({"code", "codes"} & words and words & _CODE_WORDS) or (
            {"key", "keys"} & words and words & _KEY_WORDS):
        return True
    if "session" in words and words & {"id", "key", "token"}:
        return True
    return "security" in words and bool(words & {"question", "answer"})


def link_fields(config: CollectionConfig) -> set[str]:
    """The fields that only tie a record to others (its id, what it is matched by or yields,
    any ``…_id``): a record whose handed-over fields are all such links holds nothing of what
    is handed over (an invoice with only the id of a training course)."""
    names = {"id", *config.match.values(), *config.yields.values()}
    return names | {n for n in config.fields if n.endswith("_id")}


def _field_filter(config: CollectionConfig, handed: Callable[[str], bool]
                  ) -> Callable[[str], bool]:
    excluded = set(config.exclude) | set(config.third_party)
    return lambda name: name not in excluded and not is_credential(name) and handed(name)


def in_copy(config: CollectionConfig, handed: Callable[[str], bool] | None) -> bool:
    """Whether anything of a collection goes into the copy, as ``sources.toml`` declares its
    fields (``handed``: :meth:`dsar.postmortem.plan.Decision.handed`)."""
    if handed is None:
        return False
    if not config.fields:
        return handed("")
    keep, links = _field_filter(config, handed), link_fields(config)
    return any(keep(name) for name in config.fields if name not in links)


def copy_reader(case: Case, plan: ChangePlan | None
                ) -> Callable[[SourceResult], Iterable[Mapping[str, Any]]]:
    """A record reader (``build_content(read_records=...)``) that yields, of each stored
    result, only the records of collections handed over, with only their handed-over fields
    (a record left with none, or with links only, is dropped)."""
    catalog = get_catalog()
    decision = decision_of(case, plan)  # read once, asked per collection

    def read(row: SourceResult) -> Iterable[Mapping[str, Any]]:
        source = catalog.sources.get(row.source)
        if source is None:
            return
        filters: dict[str, Callable[[str], bool] | None] = {}
        links: dict[str, set[str]] = {}
        for raw in stored_records(row):
            name = raw["collection"]
            if name not in filters:
                config = source.collections.get(name)
                handed = (decision.handed(source.name, config)
                          if config is not None else None)
                filters[name] = _field_filter(config, handed) if handed else None
                links[name] = link_fields(config) if config is not None else set()
            keep = filters[name]
            if keep is None:
                continue
            fields = {k: v for k, v in (raw.get("fields") or {}).items() if keep(k)}
            if any(k not in links[name] for k in fields):
                yield {**raw, "fields": fields}

    return read


def copy_content(case: Case, plan: ChangePlan | None) -> ExportContent | None:
    """What the requester receives of the deceased's data; None when nothing is handed over."""
    content = build_content(case, read_records=copy_reader(case, plan))
    return content if content.record_count else None
