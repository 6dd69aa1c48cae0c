"""How an SQL source's collections hang together: ``follow`` paths, foreign keys, the order.

A collection is found either by ``match`` (its own column holds one of the person's
identifiers), by ``follow`` (its rows point at rows already found in another collection), or,
with neither, along the database's own foreign keys to a collection that is found. This module
checks those paths (at start-up, without touching the database), reads the structure of the
tables (:func:`reflect_tables`), and turns them into a :class:`CollectionPlan` per collection,
in an order where every collection comes after the ones it follows.

Foreign keys are followed one way only: from the table holding the foreign key to the table it
points at (``enrolments.account_id -> accounts.id``). The other way would hand over shared rows
(the course an enrolment points at is nobody's personal data).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, ForeignKeyConstraint, MetaData, String, Table, inspect
from sqlalchemy.engine.reflection import ObjectKind
from sqlalchemy.sql import sqltypes

from dsar.sources.base import CollectionConfig, SourceConfig, SourceConfigError, SourceError

logger = logging.getLogger(__name__)

#: Types SQLite stores as text that SQLAlchemy would parse (see :func:`_table`).
SQLITE_TEXT = (sqltypes.Date, sqltypes.DateTime, sqltypes.Time, sqltypes.JSON)
#: A table name, optionally with its schema (``billing.invoices``).
TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")


@dataclass(frozen=True)
class FollowEdge:
    """Rows whose ``column`` equals ``target_column`` of a row found in ``target``."""

    column: str
    target: str
    target_column: str
    #: True when read from a reflected foreign key rather than from ``follow``.
    derived: bool = False


@dataclass(frozen=True)
class CollectionPlan:
    """One collection, ready to query: its reflected table and the columns it needs."""

    config: CollectionConfig
    table: Table
    key_columns: tuple[str, ...]
    follows: tuple[FollowEdge, ...]
    #: Every column selected: the visible ones, then those only used to link rows.
    columns: tuple[Column, ...]

    @property
    def name(self) -> str:
        return self.config.name


def table_of(collection: CollectionConfig) -> tuple[str | None, str]:
    """(schema, table) of a collection: its ``table`` option, or its own name."""
    name = collection.options.get("table", collection.name)
    schema, _, table = name.rpartition(".")
    return (schema or None), table


def key_option(collection: CollectionConfig) -> tuple[str, ...]:
    """The ``key`` columns the file names (empty: the primary key)."""
    key = collection.options.get("key")
    if key is None:
        return ()
    return (key,) if isinstance(key, str) else tuple(key)


def configured_follows(collection: CollectionConfig) -> list[FollowEdge]:
    """The ``follow`` option as edges (assumes :func:`check_paths` passed)."""
    follow = collection.options.get("follow") or {}
    return [FollowEdge(column, *target.split(".", 1)) for column, target in follow.items()]


def check_paths(source: SourceConfig) -> None:
    """Check ``table``, ``key`` and ``follow`` of every collection, and that the follows form no
    cycle. Raises :class:`SourceConfigError` naming the key."""
    for collection in source.collections.values():
        _check_collection(source, collection)
    edges = {name: configured_follows(c) for name, c in source.collections.items()}
    _, cycle = order_collections(list(source.collections), edges)
    if cycle:
        first = source.collections[cycle[0]]
        raise SourceConfigError(source.file, f"{first.where}.follow",
                                "the follows form a cycle: " + " -> ".join(cycle))


def _check_collection(source: SourceConfig, collection: CollectionConfig) -> None:
    where = collection.where

    def fault(key: str, text: str) -> SourceConfigError:
        return SourceConfigError(source.file, f"{where}.{key}", text)

    table = collection.options.get("table")
    if table is not None and not (isinstance(table, str) and TABLE_RE.match(table)):
        raise fault("table", "must be a table name (or schema.table)")
    key = collection.options.get("key")
    if key is not None:
        columns = [key] if isinstance(key, str) else key
        if not (isinstance(columns, list) and columns
                and all(isinstance(c, str) and c for c in columns)):
            raise fault("key", "must be a column name or a list of column names")
        for column in columns:
            if column in collection.exclude:
                raise fault("key", f"column {column!r} is also excluded")
    follow = collection.options.get("follow")
    if follow is None:
        return
    if not isinstance(follow, dict) or not follow:
        raise fault("follow", 'must be a table: { column = "other_collection.column" }')
    for column, target in follow.items():
        if column in collection.exclude:
            raise fault(f"follow.{column}", f"column {column!r} is also excluded")
        other, _, other_column = target.partition(".") if isinstance(target, str) else ("", "", "")
        if not other or not other_column:
            raise fault(f"follow.{column}", 'must be "other_collection.column"')
        if other not in source.collections:
            raise fault(f"follow.{column}", f"unknown collection {other!r} "
                        f"(collections: {', '.join(sorted(source.collections))})")
        if other_column in source.collections[other].exclude:
            raise fault(f"follow.{column}", f"column {other_column!r} of {other!r} is excluded")


def order_collections(names: Sequence[str], edges: Mapping[str, Sequence[FollowEdge]]
                      ) -> tuple[list[str], list[str]]:
    """(order, cycle): ``names`` with every collection after the ones it follows (file order
    otherwise), or, when the follows loop, one cycle such as ``[a, b, a]``."""
    done: list[str] = []
    placed: set[str] = set()
    pending = list(names)
    while pending:
        ready = [n for n in pending if all(e.target in placed for e in edges.get(n, ()))]
        if not ready:
            return done, _find_cycle(pending, edges)
        for name in ready:
            placed.add(name)
            done.append(name)
        pending = [n for n in pending if n not in placed]
    return done, []


def _find_cycle(pending: Sequence[str], edges: Mapping[str, Sequence[FollowEdge]]) -> list[str]:
    # Every pending collection waits on another pending one, so walking any chain of
    # waits must come back to a collection already seen.
    path: list[str] = []
    node = pending[0]
    while node not in path:
        path.append(node)
        node = next(e.target for e in edges[node] if e.target in pending)
    return path[path.index(node):] + [node]


def foreign_key_edges(source: SourceConfig, tables: Mapping[str, Table]
                      ) -> dict[str, list[FollowEdge]]:
    """Edges for the collections with neither ``match`` nor ``follow``, from the reflected
    foreign keys (single-column ones) to collections that are themselves found. ``tables``
    maps a collection to its table. Raises :class:`SourceError` when one has no such path."""
    by_table: dict[str, list[str]] = {}
    for name, table in tables.items():
        by_table.setdefault(table.fullname, []).append(name)
    found = {n for n, c in source.collections.items() if c.match or c.options.get("follow")}
    loose = [n for n in source.collections if n not in found]
    grown = True
    while grown:  # one more level of foreign keys per pass
        grown = False
        for name in loose:
            if name not in found and _references(name, tables, by_table, found):
                found.add(name)
                grown = True
    edges: dict[str, list[FollowEdge]] = {}
    for name in loose:
        if name not in found:
            raise SourceError(
                f"source {source.name!r}: collection {name!r} (table {tables[name].fullname!r}) "
                "has neither match nor follow, and no foreign key leads from it to a collection "
                "that has one; declare follow")
        edges[name] = _references(name, tables, by_table, found)
    return edges


def _references(name: str, tables: Mapping[str, Table], by_table: Mapping[str, list[str]],
                found: set[str]) -> list[FollowEdge]:
    edges = []
    for constraint in sorted(tables[name].foreign_key_constraints,
                             key=lambda c: tuple(c.column_keys)):
        if len(constraint.elements) != 1:
            continue  # a composite foreign key: declare follow instead
        element = constraint.elements[0]
        target_table, _, target_column = element.target_fullname.rpartition(".")
        for target in by_table.get(target_table, ()):
            if target != name and target in found:
                edges.append(FollowEdge(constraint.column_keys[0], target, target_column,
                                        derived=True))
    return edges


def reflect_tables(conn: Connection, source: SourceConfig) -> dict[str, Table]:
    """Collection -> its table: columns, primary key and foreign keys, of the tables the
    collections name and no other. Raises :class:`SourceError` for a missing table.

    Read with the inspector's bulk calls rather than ``MetaData.reflect``: a few catalogue
    queries for all tables at once, and no index reflection (which warns on the
    ``lower(email)`` expression indexes the docs recommend)."""
    collections = source.collections.values()
    wanted = {name: table_of(c) for name, c in source.collections.items()}
    # Each catalogue read costs milliseconds: skip those no collection needs.
    need_primary = any(not key_option(c) for c in collections)
    need_foreign = any(not (c.match or c.options.get("follow")) for c in collections)
    inspector = inspect(conn)
    metadata = MetaData()
    tables = {}
    for schema in sorted({s for s, _ in wanted.values()}, key=lambda s: s or ""):
        only = sorted({t for s, t in wanted.values() if s == schema})
        options = {"schema": schema, "filter_names": only, "kind": ObjectKind.ANY}
        columns = inspector.get_multi_columns(**options)
        primary = inspector.get_multi_pk_constraint(**options) if need_primary else {}
        foreign = inspector.get_multi_foreign_keys(**options) if need_foreign else {}
        for name, (table_schema, table) in wanted.items():
            if table_schema != schema:
                continue
            key = (schema, table)
            if key not in columns:
                fullname = f"{schema}.{table}" if schema else table
                raise SourceError(f"source {source.name!r}: table {fullname!r} not found "
                                  f"({source.collections[name].where})")
            tables[name] = _table(metadata, schema, table, columns[key], primary.get(key),
                                  foreign.get(key, ()), conn.dialect.name)
    logger.debug("source %s: reflected %d tables", source.name, len(tables))
    return tables


def _table(metadata: MetaData, schema: str | None, name: str, columns: list[dict[str, Any]],
           primary: dict[str, Any] | None, foreign: Iterable[dict[str, Any]], dialect: str
           ) -> Table:
    """A :class:`Table` from the inspector's description (the same table object serves
    every collection on it).

    On SQLite, dates, times and JSON are text that SQLAlchemy parses on reading, and any value
    stored another way (``15/01/2024``) would stop the search: they are read as the text
    stored."""
    fullname = f"{schema}.{name}" if schema else name
    if fullname in metadata.tables:
        return metadata.tables[fullname]
    keys = set((primary or {}).get("constrained_columns") or ())
    parts: list[Any] = [
        Column(c["name"], String() if dialect == "sqlite" and isinstance(c["type"], SQLITE_TEXT)
               else c["type"], primary_key=c["name"] in keys)
        for c in columns]
    for fk in foreign:
        prefix = f"{fk['referred_schema']}." if fk.get("referred_schema") else ""
        targets = [f"{prefix}{fk['referred_table']}.{c}" for c in fk["referred_columns"]]
        parts.append(ForeignKeyConstraint(fk["constrained_columns"], targets))
    return Table(name, metadata, *parts, schema=schema)


def build_plans(source: SourceConfig, tables: Mapping[str, Table]) -> list[CollectionPlan]:
    """Every collection's plan, in search order. Raises :class:`SourceError` for a column the
    file names that the table lacks, a table without a key, or foreign keys that loop."""
    edges = {name: configured_follows(c) for name, c in source.collections.items()}
    edges.update(foreign_key_edges(source, tables))
    order, cycle = order_collections(list(source.collections), edges)
    if cycle:
        raise SourceError(f"source {source.name!r}: the foreign keys between collections "
                          f"{' -> '.join(cycle)} form a cycle; declare follow")
    # Columns other collections follow must be read even when nothing else needs them.
    linked: dict[str, set[str]] = {}
    for name in order:
        for edge in edges[name]:
            linked.setdefault(edge.target, set()).add(edge.target_column)
    return [_plan(source, source.collections[name], tables[name], edges[name],
                  linked.get(name, set())) for name in order]


def _plan(source: SourceConfig, collection: CollectionConfig, table: Table,
          follows: Sequence[FollowEdge], linked: set[str]) -> CollectionPlan:
    def missing(column: str, key: str) -> SourceError:
        return SourceError(f"source {source.name!r}: column {column!r} not found in table "
                           f"{table.fullname!r} ({collection.where}.{key})")

    names = [
        *((c, f"fields.{c}") for c in collection.fields),
        *((c, f"match.{t}") for t, c in collection.match.items()),
        *((c, f"yields.{t}") for t, c in collection.yields.items()),
        *((c, "exclude") for c in collection.exclude),
        *((e.column, f"follow.{e.column}") for e in follows if not e.derived),
        *((c, "key") for c in key_option(collection)),
    ]
    for column, key in names:
        if column not in table.c:
            raise missing(column, key)
    keys = key_option(collection) or tuple(c.name for c in table.primary_key.columns)
    if not keys:
        raise SourceError(f"source {source.name!r}: table {table.fullname!r} has no primary "
                          f"key ({collection.where}.key: name the column identifying a row)")
    if any(k in collection.exclude for k in keys):
        raise SourceError(f"source {source.name!r}: the primary key of {table.fullname!r} is "
                          f"excluded ({collection.where}.key: name another column)")
    for column in linked:
        if column not in table.c:
            raise missing(column, "(followed)")
    visible = [c for c in table.c if c.name not in collection.exclude]
    # A derived foreign-key column may be excluded: read to link rows, never handed over.
    hidden = {e.column for e in follows} | linked
    extra = [table.c[n] for n in sorted(hidden) if n in collection.exclude]
    return CollectionPlan(config=collection, table=table, key_columns=keys,
                          follows=tuple(follows), columns=tuple(visible + extra))
