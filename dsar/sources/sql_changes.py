"""Carrying out an approved plan in an SQL source: deletes and updates, in ONE transaction
(rectification, restriction and unsubscription too: their rules are in :mod:`.sql_rights`).

1. The rows asked for are read by their keys (``Record.key``: primary key or ``key`` columns)
   and locked (``FOR UPDATE``; SQLite: ``BEGIN IMMEDIATE``, foreign keys enforced). No other
   row is ever written (a namesake, an address containing hers); a key gone is ``absent``.
2. ``anonymize``: the mapped fields take :func:`~dsar.sources.base.anonymized_value`; a row
   whose fields are all already final counts as ``absent`` (a second run changes nothing). A
   ``hash`` field is final once it holds a keyed hash (64 lowercase hex digits): hashing it
   again would give another value.
3. ``delete``: children before parents, in the order of the foreign keys the database declares.
   **A row that a row staying in the database still references is not deleted** (a retained
   invoice pointing at the account; a row only anonymised, of a table no collection names, or
   itself kept): that would break the foreign key or cascade into the retained rows. It is
   anonymised with the operation's ``anonymize`` map when it carries one, else left as it is;
   ``details`` gives how many were ``kept: referenced by retained records`` (a count, never a
   value); ``changed`` when this run anonymised them, else ``absent`` (``changed + absent`` is
   always the number of keys asked for).

Any failure rolls the whole transaction back: nothing is half done, and the job may run again.
Foreign keys are read from the schemas of the collections' tables; a table of another schema
referencing them is not seen (PostgreSQL then refuses the delete: the step fails, reported).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, column, delete, inspect, or_, select, table
from sqlalchemy import update as update_
from sqlalchemy.exc import SQLAlchemyError

from dsar.sources import sql_rights
from dsar.sources.base import (
    Operation,
    OperationResult,
    OperationUnsupported,
    SourceError,
    anonymized_value,
    is_anonymized,
)
from dsar.sources.sql_paths import CollectionPlan
from dsar.sources.sql_values import column_type, parse_key

#: Values per ``IN`` list (rows per statement for composite keys: fewer).
CHUNK = 500
#: How long PostgreSQL waits for a row another transaction holds (then: fail, retry later).
LOCK_TIMEOUT = "10s"
KEPT = "kept: referenced by retained records"

#: (schema, table); schema None for the connection's default schema.
TableKey = tuple[str | None, str]
RowId = tuple[Any, ...]


class Reference(NamedTuple):
    """A declared foreign key: ``child.columns`` -> ``parent.referred``."""

    child: TableKey
    columns: tuple[str, ...]
    parent: TableKey
    referred: tuple[str, ...]


class Graph(NamedTuple):
    """The foreign keys and primary keys of the schemas holding the collections' tables."""

    references: tuple[Reference, ...]
    primary: Mapping[TableKey, tuple[str, ...]]
    default_schema: str | None


#: Graphs read from each database's catalogue, kept for the worker's life (like the plans).
_GRAPHS: dict[Any, Graph] = {}


def _schema(schema: str | None, default: str | None) -> str | None:
    return None if schema is None or schema == default else schema


def read_graph(conn: Connection, plans: Sequence[CollectionPlan], cache_key: Any) -> Graph:
    """The keys of every table of the collections' schemas (a table no collection names too)."""
    if cache_key in _GRAPHS:
        return _GRAPHS[cache_key]
    inspector = inspect(conn)
    default = inspector.default_schema_name
    schemas = sorted({_schema(p.table.schema, default) for p in plans}, key=lambda s: s or "")
    references: list[Reference] = []
    primary: dict[TableKey, tuple[str, ...]] = {}
    for schema in schemas:
        for (_, name), constraint in inspector.get_multi_pk_constraint(schema=schema).items():
            if constraint.get("constrained_columns"):
                primary[(schema, name)] = tuple(constraint["constrained_columns"])
        for (_, name), keys in inspector.get_multi_foreign_keys(schema=schema).items():
            references.extend(
                Reference((schema, name), tuple(fk["constrained_columns"]),
                          (_schema(fk.get("referred_schema"), default), fk["referred_table"]),
                          tuple(fk["referred_columns"]))
                for fk in keys if fk["referred_columns"])
    _GRAPHS[cache_key] = Graph(tuple(references), primary, default)
    return _GRAPHS[cache_key]


def forget(cache_key: Any) -> bool:
    """Drop a graph that may be stale (after a failure); whether there was one."""
    return _GRAPHS.pop(cache_key, None) is not None


@contextmanager
def transaction(conn: Connection) -> Iterator[None]:
    """One transaction around the whole call, committed at the end, rolled back on any error.
    SQLite's Python driver would begin only at the first write (the rows read before unlocked):
    it is begun by hand, with the foreign keys enforced (a setting of this connection only)."""
    if conn.dialect.name == "sqlite":
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("PRAGMA foreign_keys = ON")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
            conn.exec_driver_sql("COMMIT")
        except BaseException:
            with suppress(SQLAlchemyError):  # the transaction may be gone already
                conn.exec_driver_sql("ROLLBACK")
            raise
        return
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        yield


class Changes:
    """One call's operations on one database, inside :func:`transaction`."""

    def __init__(self, conn: Connection, plans: Sequence[CollectionPlan], graph: Graph,
                 source: str, hash_key: bytes):
        self.conn, self.graph, self.source, self.hash_key = conn, graph, source, hash_key
        self.plans = {p.name: p for p in plans}
        self.keys = {p.name: (_schema(p.table.schema, graph.default_schema), p.table.name)
                     for p in plans}
        self.tables: dict[TableKey, Any] = {}
        #: Table -> the columns identifying a row: its primary key, else the collection's key.
        self.identity: dict[TableKey, tuple[str, ...]] = {}
        for plan in plans:
            self.tables.setdefault(self.keys[plan.name], plan.table)
            self.identity.setdefault(self.keys[plan.name],
                                     graph.primary.get(self.keys[plan.name]) or plan.key_columns)

    def run(self, operations: Sequence[Operation]) -> list[OperationResult]:
        """Anonymisations first (a child whose link is nulled no longer holds its parent), then
        deletes, children before parents; one result per operation, in their order."""
        plans = [self._check(op) for op in operations]
        wanted = [self._targets(op, plan) for op, plan in zip(operations, plans, strict=True)]
        results = [OperationResult(op.collection, op.action) for op in operations]
        found = [self._step(op, "read", self._rows, plan, op.keys,
                            sql_rights.columns(targets) if targets else op.anonymize)
                 for op, plan, targets in zip(operations, plans, wanted, strict=True)]
        doomed: dict[TableKey, dict[RowId, tuple[dict[str, Any], int]]] = {}
        for index, (op, plan) in enumerate(zip(operations, plans, strict=True)):
            if op.action == "anonymize":
                results[index].changed = self._step(op, "anonymize", self._anonymize, plan,
                                                    found[index].values(), op.anonymize)
            elif op.action in sql_rights.SETTING_ACTIONS:  # update, restrict…: set fields
                results[index].changed = self._step(
                    op, op.action, sql_rights.apply, self.conn, plan,
                    self.identity[self.keys[plan.name]], found[index].values(), wanted[index])
            else:
                rows = doomed.setdefault(self.keys[plan.name], {})
                for identity, row in found[index].items():
                    rows.setdefault(identity, (row, index))
        kept = self._spare_referenced(doomed)
        for key in self._children_first(doomed):
            rows = doomed[key]
            self._step(operations[next(iter(rows.values()))[1]], "delete", self._delete, key,
                       list(rows))
            for _, index in rows.values():
                results[index].changed += 1
        for index, (op, plan) in enumerate(zip(operations, plans, strict=True)):
            spared = [row for row, i in kept.get(self.keys[plan.name], {}).values()
                      if i == index]
            if spared:
                results[index].kept = len(spared)
                results[index].details = f"{len(spared)} {KEPT}" + (
                    ", anonymised" if op.anonymize else "")
                results[index].changed += self._step(op, "anonymize", self._anonymize, plan,
                                                     spared, op.anonymize)
            results[index].absent = len(op.keys) - results[index].changed
        return results

    def remaining(self, operations: Sequence[Operation]) -> dict[str, int]:
        """Per collection, the named rows still there unchanged (read, not locked)."""
        counts: dict[str, int] = {}
        for op in operations:
            plan = self._check(op)
            wanted = self._targets(op, plan)
            rows = self._rows(plan, op.keys, sql_rights.columns(wanted) if wanted
                              else op.anonymize, lock=False).values()
            if wanted:
                rows = [r for r in rows if sql_rights.differing(plan, r, wanted)]
            elif op.action == "anonymize":
                rows = [r for r in rows if not all(_final(action, r.get(name))
                                                   for name, action in op.anonymize.items())]
            if rows:
                counts[op.collection] = len(list(rows))
        return counts

    def _check(self, op: Operation) -> CollectionPlan:
        """The collection's plan; an operation that cannot be done refused before any write."""
        plan = self.plans.get(op.collection)
        where = f"source {self.source!r}, collection {op.collection!r}"
        if plan is None:
            raise OperationUnsupported(f"{where}: no such collection")
        if op.action not in ("delete", "anonymize", *sql_rights.SETTING_ACTIONS):
            raise OperationUnsupported(f"{where}: the sql connector cannot {op.action}")
        if op.action == "anonymize" and not op.anonymize:
            raise OperationUnsupported(f"{where}: anonymize names no field")
        for name, action in op.anonymize.items():
            if name not in plan.table.c:
                raise SourceError(f"{where}: column {name!r} (anonymize.{name}) not found in "
                                  f"table {plan.table.fullname!r}")
            # SQLite would store a hash in an integer column without a word.
            if action == "hash" and column_type(plan.table.c[name]) not in (str, None):
                raise SourceError(f"{where}: column {name!r} cannot hold a hash (not text)")
        return plan

    def _targets(self, op: Operation, plan: CollectionPlan) -> sql_rights.Targets:
        """What an update, restrict… sets, checked and converted (empty for the others)."""
        if op.action not in sql_rights.SETTING_ACTIONS:
            return {}
        return sql_rights.targets(op, plan, f"source {self.source!r}, collection "
                                            f"{op.collection!r}")

    def _step(self, op: Operation, doing: str, work: Any, *args: Any) -> Any:
        """``work(*args)``; a database error notes what was being done (never on which values)."""
        try:
            return work(*args)
        except SQLAlchemyError as exc:
            exc.add_note(f"collection {op.collection!r}: {doing}")
            raise

    def _rows(self, plan: CollectionPlan, keys: Iterable[str], fields: Iterable[str],
              lock: bool = True) -> dict[RowId, dict]:
        """The rows whose key is one of ``keys``, locked, by identity: the columns needed to
        find them, anonymise ``fields``, and find the rows pointing at them (no more)."""
        wanted, key = set(keys), self.keys[plan.name]
        columns = [plan.table.c[c] for c in plan.key_columns]
        candidates = list(dict.fromkeys(
            parts for text_ in sorted(wanted) for parts in parse_key(text_, columns)))
        identity = self.identity[key]
        needed = {*plan.key_columns, *identity, *fields, *(
            c for r in self.graph.references if r.parent == key for c in r.referred)}
        read = [c for c in plan.table.c if c.name in needed]
        rows: dict[RowId, dict] = {}
        for condition in _in(columns, candidates):
            statement = select(*read).where(condition)
            if lock:
                statement = statement.with_for_update()
            for row in self.conn.execute(statement).mappings():
                row = dict(row)  # the exact key the search wrote ("07" is not 7):
                if ":".join("" if row[c] is None else str(row[c])
                            for c in plan.key_columns) in wanted:
                    rows[tuple(row[c] for c in identity)] = row
        return rows

    def _anonymize(self, plan: CollectionPlan, rows: Iterable[dict[str, Any]],
                   mapping: Mapping[str, str]) -> int:
        """Update the mapped fields of ``rows`` not yet in their final state; how many."""
        identity = self.identity[self.keys[plan.name]]
        fields = sorted(mapping)
        batch = []
        for row in rows:
            if all(_final(mapping[f], row[f]) for f in fields):
                continue
            values = {f"dsar_v{n}": row[f] if _final(mapping[f], row[f])
                      else anonymized_value(mapping[f], row[f], self.hash_key)
                      for n, f in enumerate(fields)}
            batch.append({**values, **{f"dsar_k{n}": row[c] for n, c in enumerate(identity)}})
        if batch:
            table_ = plan.table
            statement = (update_(table_)
                         .where(and_(*(table_.c[c] == bindparam(f"dsar_k{n}")
                                       for n, c in enumerate(identity))))
                         .values({table_.c[f]: bindparam(f"dsar_v{n}")
                                  for n, f in enumerate(fields)}))
            self.conn.execute(statement, batch)
        return len(batch)

    def _delete(self, key: TableKey, identities: list[RowId]) -> None:
        table_ = self.tables[key]
        columns = [table_.c[c] for c in self.identity[key]]
        deleted = sum(self.conn.execute(delete(table_).where(condition)).rowcount
                      for condition in _in(columns, identities))
        if deleted != len(identities):  # locked since read: the key is not unique
            raise SourceError(f"source {self.source!r}: {deleted} rows deleted in table "
                              f"{table_.fullname!r}, not {len(identities)}: rolled back")

    def _spare_referenced(self, doomed: dict[TableKey, dict]) -> dict[TableKey, dict]:
        """Move out of ``doomed`` every row a row staying in the database references, until
        none is left (a kept child keeps its own parent in turn); the rows kept, by table."""
        kept: dict[TableKey, dict] = {}
        recheck: set[TableKey] | None = None  # None: every reference, the first time
        while True:
            shrunk: set[TableKey] = set()
            for ref in self.graph.references:
                if not doomed.get(ref.parent) or (recheck is not None
                                                  and ref.child not in recheck):
                    continue
                for identity in self._referenced(ref, doomed):
                    kept.setdefault(ref.parent, {})[identity] = doomed[ref.parent].pop(identity)
                    shrunk.add(ref.parent)
            if not shrunk:
                return kept
            recheck = shrunk

    def _referenced(self, ref: Reference, doomed: dict[TableKey, dict]) -> set[RowId]:
        """The rows of ``doomed[ref.parent]`` that a row of ``ref.child`` not doomed points at."""
        by_value: dict[tuple, list[RowId]] = {}
        for identity, (row, _) in doomed[ref.parent].items():
            value = tuple(row[c] for c in ref.referred)
            if None not in value:
                by_value.setdefault(value, []).append(identity)
        if not by_value:
            return set()
        leaving = doomed.get(ref.child, {})
        identity_columns = self.identity.get(ref.child, ()) if leaving else ()
        names = list(dict.fromkeys(ref.columns + identity_columns))
        child = self.tables.get(ref.child)
        if child is None:
            child = table(ref.child[1], *(column(n) for n in names), schema=ref.child[0])
        holding: set[tuple] = set()
        for condition in _in([child.c[c] for c in ref.columns], list(by_value)):
            statement = select(*(child.c[n] for n in names)).where(condition)
            for row in self.conn.execute(statement).mappings():
                if identity_columns and tuple(row[c] for c in identity_columns) in leaving:
                    continue  # deleted in this call too
                value = tuple(row[c] for c in ref.columns)
                holding.update((value, tuple(map(str, value))))
        # Also compared as text: a value stored as another type (SQLite's loose affinity).
        return {identity for value, identities in by_value.items()
                if value in holding or tuple(map(str, value)) in holding
                for identity in identities}

    def _children_first(self, doomed: dict[TableKey, dict]) -> list[TableKey]:
        """Tables with rows to delete, every one after the tables whose rows point at it."""
        pending = [key for key, rows in doomed.items() if rows]
        order: list[TableKey] = []
        while pending:
            waiting = {r.parent for r in self.graph.references
                       if r.child in pending and r.child != r.parent}
            # Tables pointing at each other: the database's own checks decide.
            ready = [key for key in pending if key not in waiting] or pending[:1]
            order += ready
            pending = [key for key in pending if key not in ready]
        return order


_final = is_anonymized


def _in(columns: Sequence[Any], values: Sequence[tuple]) -> Iterator[Any]:
    """Conditions ``columns IN values``, cut at :data:`CHUNK` values each."""
    if len(columns) == 1:
        flat = [v[0] for v in values]
        for start in range(0, len(flat), CHUNK):
            yield columns[0].in_(flat[start:start + CHUNK])
        return
    size = max(1, CHUNK // len(columns))
    for start in range(0, len(values), size):
        yield or_(*(and_(*(c == v for c, v in zip(columns, value, strict=True)))
                    for value in values[start:start + size]))
