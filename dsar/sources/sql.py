"""The ``sql`` connector kind: any database SQLAlchemy reaches (see docs/sources.md).

The search, for one person:

1. connect once, and reflect only the tables the file names (once per connector);
2. for each collection, in an order where a collection comes after the ones it follows, run ONE
   query: ``match`` columns ``IN`` the person's identifiers (e-mail columns as
   ``lower(column) IN (…)``), ``OR`` ``follow`` columns ``IN`` the linked values of the rows
   already found (lists cut at :data:`CHUNK` values);
3. keep only the rows that really match, checked again in Python with
   :func:`~dsar.sources.base.normalize_identifier` (belt and braces against a collation or a
   type conversion the database applies);
4. when the rows found yield identifiers this source matches on (an account's ``customer_id``
   that invoices match), search again with the new values only, until nothing new appears.

Speed: index every ``match`` and ``follow`` column. For e-mail columns the query compares
``lower(column)``, which an ordinary index cannot serve: on PostgreSQL create
``CREATE INDEX ON accounts (lower(email))``; SQLite (3.9+) takes the same expression index.

Connections (:mod:`.sql_engines`): a worker keeps one pooled connection per server database
between searches; a SQLite file is opened per search.

On PostgreSQL the whole search is one read-only REPEATABLE READ transaction: every collection
is read as it stood at the same moment, and a search can write nothing. On SQLite, dates, times
and JSON are handed over as the text stored (SQLAlchemy would stop on any other format).

Changes (:meth:`SqlConnector.carry_out`): deletes and updates in one transaction, children
before parents, a parent still referenced kept (:mod:`.sql_changes`); rectification,
restriction, unsubscription (:mod:`.sql_rights`).

Errors become :class:`SourceError` with the exception's type and the source's name only: a
driver message may quote a value searched (PostgreSQL quotes bad parameters), and the engine
hides SQL parameters anyway.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import InvalidOperation
from typing import Any

from sqlalchemy import Column, Connection, func, or_, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from dsar.sources import sql_changes, sql_rights
from dsar.sources.base import (
    CASE_INSENSITIVE_TYPES,
    CollectionConfig,
    Connector,
    Discovery,
    Identity,
    Operation,
    OperationResult,
    Record,
    SourceConfig,
    SourceError,
    normalize_identifier,
)
from dsar.sources.sql_engines import engine_for, is_kept
from dsar.sources.sql_paths import CollectionPlan, build_plans, check_paths, reflect_tables
from dsar.sources.sql_values import converter, json_value

logger = logging.getLogger(__name__)

#: Values per ``IN`` list (and per query): well under every driver's parameter limit.
CHUNK = 500
#: Rounds of the internal fixpoint (identifiers yielded, then searched again).
MAX_ROUNDS = 10

#: Plans built from each database's catalogue, kept for the life of the worker process:
#: reading the catalogue costs more than the search itself (15-20 ms against 10 on
#: PostgreSQL). A plan that no longer fits the database (a migration dropped a column) fails
#: its query; the search then reads the catalogue again once.
_PLAN_CACHE: dict[tuple[str, str, str], list[CollectionPlan]] = {}
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SqlConnector(Connector):
    """Searches the tables of one SQL database for a person (``kind = "sql"``)."""

    kind = "sql"
    SOURCE_KEYS = frozenset({"url", "url_env"})
    COLLECTION_KEYS = frozenset({"table", "key", "follow", "read_only", "operations"})

    def __init__(self, source: SourceConfig, **kwargs: Any):
        super().__init__(source, **kwargs)
        self._engine: Engine | None = None
        self._plans: list[CollectionPlan] | None = None

    @classmethod
    def check_config(cls, source: SourceConfig) -> None:
        """Exactly one of ``url`` / ``url_env``; ``table``, ``key`` and ``follow`` well formed,
        naming collections of this source, without a cycle. Never connects (the database may
        be down at start-up)."""
        url, env = source.options.get("url"), source.options.get("url_env")
        if url is not None and env is not None:
            raise source.error("url_env", "give url or url_env, not both")
        if url is None and env is None:
            raise source.error("url", "missing: give url (a SQLAlchemy URL) or url_env (the "
                                      "environment variable holding it)")
        if url is not None:
            if not isinstance(url, str) or not url.strip():
                raise source.error("url", "must be non-empty text")
            try:
                make_url(url)
            except ArgumentError:
                # Never quote the URL: it may hold a password.
                raise source.error("url", "not a SQLAlchemy URL "
                                          "(dialect+driver://user:password@host/database)"
                                   ) from None
        elif not isinstance(env, str) or not ENV_RE.match(env):
            raise source.error("url_env", "must be the name of an environment variable")
        check_paths(source)
        sql_rights.check_config(source)

    @classmethod
    def supports(cls, source: SourceConfig, collection: CollectionConfig, action: str) -> bool:
        """Delete, anonymize; update unless ``read_only``; the operations it declares."""
        return sql_rights.supports(collection, action)

    def discover(self, identity: Identity) -> Discovery:
        """The rows of every collection that belong to the person, and what they yield."""
        return self._retrying(lambda: self._discover(identity))

    def carry_out(self, operations: list[Operation], *, hash_key: bytes) -> list[OperationResult]:
        """Delete and anonymise the rows of an approved plan, all in one transaction, children
        before parents; a row that a row staying in the database still references is kept
        (anonymised when the operation carries a map). The rules: :mod:`.sql_changes`."""
        if not operations:
            return []
        return self._retrying(lambda: self._carry_out(operations, hash_key))

    def _retrying(self, work: Callable[[], Any]) -> Any:
        """``work()``; after a database error, once more with the catalogue read again when
        the plan kept from an earlier call was used (it may be stale)."""
        try:
            return work()
        except SQLAlchemyError as exc:
            stale = _PLAN_CACHE.pop(self._cache_key(), None) is not None
            if not (sql_changes.forget(self._cache_key()) or stale):
                raise SourceError(self._failure(exc)) from None
        self._plans = None
        try:
            return work()
        except SQLAlchemyError as exc:
            raise SourceError(self._failure(exc)) from None

    def _discover(self, identity: Identity) -> Discovery:
        with self._connect() as conn:
            _snapshot(conn)
            plans = self._plan(conn)
            return _Search(conn, plans, self.source).run(identity)

    def _carry_out(self, operations: list[Operation], hash_key: bytes) -> list[OperationResult]:
        with self._connect() as conn, sql_changes.transaction(conn):
            plans = self._plan(conn)
            graph = sql_changes.read_graph(conn, plans, self._cache_key())
            return sql_changes.Changes(conn, plans, graph, self.source.name,
                                       hash_key).run(operations)

    def remaining(self, operations: list[Operation]) -> dict[str, int]:
        """The records the operations named, looked up by key (not searched again): per
        collection, how many are still there unchanged (kept parents included)."""
        if not operations:
            return {}
        return self._retrying(lambda: self._remaining(operations))

    def _remaining(self, operations: list[Operation]) -> dict[str, int]:
        with self._connect() as conn:
            plans = self._plan(conn)
            graph = sql_changes.read_graph(conn, plans, self._cache_key())
            return sql_changes.Changes(conn, plans, graph, self.source.name, b"").remaining(
                operations)

    def _cache_key(self) -> tuple[str, str, str]:
        return (self.source.name, self._url(), repr(self.source.collections))

    def close(self) -> None:
        """Dispose of a SQLite file's engine (NullPool: the file is not held between searches);
        a server database's engine stays, with its pooled connection, for the next search."""
        if self._engine is not None and not is_kept(self._engine):
            self._engine.dispose()
        self._engine = None

    # -- connecting and reflecting ---------------------------------------------------------

    def _url(self) -> str:
        if "url" in self.source.options:
            return self.source.options["url"]
        variable = self.source.options["url_env"]
        url = self.environ.get(variable, "").strip()
        if not url:
            raise SourceError(f"source {self.source.name!r}: the environment variable "
                              f"{variable} (url_env) is not set")
        return url

    def _connect(self) -> Connection:
        if self._engine is None:
            url = self._url()
            try:
                self._engine = engine_for(url)
            except (ArgumentError, ImportError) as exc:
                raise SourceError(f"source {self.source.name!r}: cannot use the database URL "
                                  f"({type(exc).__name__}; check the dialect and its driver)"
                                  ) from None
        return self._engine.connect()

    def _plan(self, conn: Connection) -> list[CollectionPlan]:
        if self._plans is None:
            key = self._cache_key()
            if key not in _PLAN_CACHE:
                _PLAN_CACHE[key] = build_plans(self.source, reflect_tables(conn, self.source))
            self._plans = _PLAN_CACHE[key]
        return self._plans

    def _failure(self, exc: SQLAlchemyError) -> str:
        cause = getattr(exc, "orig", None)
        detail = f" ({type(cause).__module__}.{type(cause).__name__})" if cause else ""
        logger.warning("source %s: database error %s%s", self.source.name,
                       type(exc).__name__, detail)
        # What carry_out was doing (sql_changes adds it): a collection's name, no value.
        doing = "".join(f" ({n})" for n in getattr(exc, "__notes__", ())
                        if n.startswith("collection '"))
        return (f"{type(exc).__name__}{detail} from the database of source "
                f"{self.source.name!r}{doing}")


class _Search:
    """One person's search of one database: rounds until no new identifier appears.

    Only new values are queried in each round (new identifiers, new linked values), so a round
    that finds nothing new costs nothing more."""

    def __init__(self, conn: Connection, plans: list[CollectionPlan], source: SourceConfig):
        self.conn = conn
        self.plans = plans
        self.source = source
        self.match_types = source.match_types
        #: Identifier type -> values already searched.
        self.searched: dict[str, set[str]] = {t: set() for t in self.match_types}
        #: Collection -> key -> row (every selected column, excluded ones too).
        self.rows: dict[str, dict[str, dict[str, Any]]] = {p.name: {} for p in plans}
        #: (collection, column) -> the values of that column over the rows found.
        self.linked: dict[tuple[str, str], set[str]] = {}
        #: (collection, column) -> linked values already queried on that follow column.
        self.followed: dict[tuple[str, str], set[str]] = {}
        #: Collection -> its columns other collections follow.
        self.link_columns = {p.name: {e.target_column for q in plans for e in q.follows
                                      if e.target == p.name} for p in plans}
        self.yielded: list[tuple[str, Any]] = []

    def run(self, identity: Identity) -> Discovery:
        new = {t: set(identity.get(t)) for t in self.match_types}
        rounds = 0
        for _ in range(MAX_ROUNDS):
            rounds += 1
            for kind, values in new.items():
                self.searched[kind] |= values
            found = [self._collection(plan, new) for plan in self.plans]
            yielded = Identity.from_pairs(pair for pairs in found for pair in pairs)
            new = {t: set(yielded.get(t)) - self.searched[t] for t in self.match_types}
            if not any(new.values()):
                break
        else:
            logger.warning("source %s: search stopped after %d rounds with new identifiers "
                           "left", self.source.name, MAX_ROUNDS)
        records = [Record(plan.name, key, _visible(plan, row))
                   for plan in self.plans for key, row in self.rows[plan.name].items()]
        logger.info("source %s: %d rounds, rows found: %s", self.source.name, rounds,
                    ", ".join(f"{p.name}={len(self.rows[p.name])}" for p in self.plans))
        return Discovery(records=records,
                         identifiers=Identity.from_pairs(self.yielded)).sorted()

    def _collection(self, plan: CollectionPlan, new: Mapping[str, set[str]]
                    ) -> list[tuple[str, Any]]:
        """Query one collection with the new values; keep its new rows; their yields."""
        table, config = plan.table, plan.config
        conditions: list[tuple[Any, list[Any]]] = []
        for kind, column in config.match.items():
            values = new.get(kind)
            if values:
                conditions.append(_match_condition(table.c[column], kind, values))
        for edge in plan.follows:
            key = (plan.name, edge.column)
            values = self.linked.get((edge.target, edge.target_column), set())
            fresh = values - self.followed.get(key, set())
            if fresh:
                self.followed.setdefault(key, set()).update(fresh)
                conditions.append(_match_condition(table.c[edge.column], "", fresh))
        yields: list[tuple[str, Any]] = []
        for chunk in _pack(conditions):
            statement = select(*plan.columns).where(or_(*(e.in_(v) for e, v in chunk)))
            try:
                rows = self.conn.execute(statement).mappings().all()
            except (ValueError, TypeError, ArithmeticError) as exc:
                # A stored value the column type cannot read; the message would quote it.
                raise SourceError(f"source {self.source.name!r}: a value of table "
                                  f"{plan.table.fullname!r} cannot be read "
                                  f"({type(exc).__name__})") from None
            for row in rows:
                yields.extend(self._keep(plan, dict(row)))
        return yields

    def _keep(self, plan: CollectionPlan, row: dict[str, Any]) -> list[tuple[str, Any]]:
        if not self._really_matches(plan, row):
            return []
        key = ":".join("" if row[c] is None else str(row[c]) for c in plan.key_columns)
        rows = self.rows[plan.name]
        if key in rows:
            # A configured key that is not unique would lose rows (a primary key cannot).
            if plan.config.options.get("key") and rows[key] != row:
                raise SourceError(
                    f"source {self.source.name!r}: two rows of table {plan.table.fullname!r} "
                    f"share a key ({plan.config.where}.key: name a unique column)")
            return []
        rows[key] = row
        for column in self.link_columns[plan.name]:
            if row.get(column) is not None:
                self.linked.setdefault((plan.name, column), set()).add(str(row[column]))
        pairs = plan.config.yielded(row)
        self.yielded.extend(pairs)
        return pairs

    def _really_matches(self, plan: CollectionPlan, row: Mapping[str, Any]) -> bool:
        for kind, column in plan.config.match.items():
            value = normalize_identifier(kind, row.get(column))
            if value is not None and value in self.searched[kind]:
                return True
        for edge in plan.follows:
            value = row.get(edge.column)
            if value is not None and str(value) in self.linked.get(
                    (edge.target, edge.target_column), ()):
                return True
        return False


def _snapshot(conn: Connection) -> None:
    """On PostgreSQL, one read-only transaction that sees one snapshot: the rows of every
    collection are read as they stood at the same moment, and a search can write nothing."""
    if conn.dialect.name == "postgresql":
        options: dict[str, Any] = {"isolation_level": "REPEATABLE READ"}
        if conn.dialect.driver in ("psycopg", "psycopg2"):
            options["postgresql_readonly"] = True
        conn.execution_options(**options)


def _match_condition(column: Column, kind: str, values: Iterable[str]
                     ) -> tuple[Any, list[Any]]:
    """(expression, values) for ``expression IN values``: e-mails as ``lower(column)``,
    other values converted to the column's Python type (those that do not convert dropped)."""
    if kind in CASE_INSENSITIVE_TYPES:
        return func.lower(column), sorted(values)
    convert = converter(column)
    converted = []
    for value in sorted(values):
        try:
            converted.append(convert(value))
        except (ValueError, TypeError, InvalidOperation):
            continue  # "abc" can be no Integer column's value
    return column, converted


def _pack(conditions: list[tuple[Any, list[Any]]]) -> list[list[tuple[Any, list[Any]]]]:
    """Cut the ``IN`` lists at :data:`CHUNK` values, and group them into queries of at most
    :data:`CHUNK` values in all (usually a single query)."""
    queries: list[list[tuple[Any, list[Any]]]] = []
    current: list[tuple[Any, list[Any]]] = []
    size = 0
    for expression, values in conditions:
        for start in range(0, len(values), CHUNK):
            part = values[start:start + CHUNK]
            if size + len(part) > CHUNK and current:
                queries.append(current)
                current, size = [], 0
            current.append((expression, part))
            size += len(part)
    if current:
        queries.append(current)
    return queries


def _visible(plan: CollectionPlan, row: Mapping[str, Any]) -> dict[str, Any]:
    fields = {}
    for name, value in plan.config.visible(row).items():
        if isinstance(value, bytes | bytearray | memoryview):
            continue  # binary content (a file, a hash): not readable data
        fields[name] = json_value(value)
    return fields
