"""Rectification, restriction and objection in an SQL source: ``update``, ``restrict``,
``lift_restriction`` and ``unsubscribe`` (docs/sources.md), inside the transaction of
:mod:`.sql_changes`.

```toml
[sources.platform.collections.accounts]
read_only = true          # optional: no update here (a supplementary statement instead)
operations.restrict = { set = { processing_restricted = 1 } }
operations.lift_restriction = { set = { processing_restricted = 0 } }
operations.unsubscribe = { set = { marketing_optin = 0 } }
```

- ``update`` sets the fields an operation names per record (``Operation.values``) to their new
  values, converted to the column's type (:func:`~.sql_values.column_value`): any column of
  the table but the excluded ones and the key columns, unless the collection is
  ``read_only``.
- the others set the columns their ``set`` declares to the declared values.

A row whose fields all hold their target already (compared leniently:
:func:`~.compare.same_value`), or whose key is gone, counts as ``absent``: a second run
writes nothing and reports the same totals. Every operation is checked, and every value
converted, before anything is written; a fault names the collection and the field, never a
value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, and_
from sqlalchemy import update as update_

from dsar.sources.base import (
    FLAG_ACTIONS,
    CollectionConfig,
    Operation,
    OperationUnsupported,
    SourceConfig,
    SourceConfigError,
    SourceError,
)
from dsar.sources.compare import same_value
from dsar.sources.config import unliftable, values_fault
from dsar.sources.sql_paths import CollectionPlan
from dsar.sources.sql_values import column_value

#: The actions this module carries out.
SETTING_ACTIONS = ("update", *FLAG_ACTIONS)
#: Key -> column -> the value the row must hold.
Targets = dict[str, dict[str, Any]]


def supports(collection: CollectionConfig, action: str) -> bool:
    """What the ``sql`` kind can do to ``collection``, from its configuration alone."""
    if action in ("delete", "anonymize"):
        return True
    if action == "update":
        return not collection.options.get("read_only", False)
    return action in FLAG_ACTIONS and action in (collection.options.get("operations") or {})


def check_config(source: SourceConfig) -> None:
    """``read_only`` a yes/no; ``operations`` a table of ``restrict``, ``lift_restriction``
    and ``unsubscribe``, each ``{ set = { column = value } }``; ``restrict`` never without
    ``lift_restriction``. Raises :class:`SourceConfigError` naming the key."""
    for collection in source.collections.values():
        where = collection.where

        def fault(key: str, text: str, where: str = where) -> SourceConfigError:
            return SourceConfigError(source.file, f"{where}.{key}", text)

        read_only = collection.options.get("read_only", False)
        if not isinstance(read_only, bool):
            raise fault("read_only", "must be true or false")
        operations = collection.options.get("operations", {})
        if not isinstance(operations, dict):
            raise fault("operations", "must be a table, e.g. { restrict = { set = { "
                                      "processing_restricted = 1 } } }")
        for name, spec in operations.items():
            if name not in FLAG_ACTIONS:
                raise fault(f"operations.{name}", "unknown operation (an sql collection may "
                                                  f"declare {', '.join(FLAG_ACTIONS)})")
            if not isinstance(spec, dict) or set(spec) != {"set"}:
                raise fault(f"operations.{name}", "must be { set = { column = value } }")
            wrong = values_fault(spec["set"])
            if wrong:
                raise fault(f"operations.{name}.set{wrong[0]}", wrong[1])
        if unliftable(operations):
            raise fault("operations.lift_restriction",
                        "missing: a restriction must be liftable (declare lift_restriction "
                        "next to restrict)")


def targets(op: Operation, plan: CollectionPlan, where: str) -> Targets:
    """Key -> column -> the value (of the column's type) each named row must hold. Raises
    :class:`OperationUnsupported` for what cannot be done here, :class:`SourceError` for a
    value the column cannot hold; never quotes a value."""
    config = plan.config
    if op.action == "update":
        if config.options.get("read_only", False):
            raise OperationUnsupported(f"{where}: read-only (read_only = true): its records "
                                       "cannot be updated")
        if set(op.values) != set(op.keys) or not all(op.values.values()):
            raise OperationUnsupported(f"{where}: update must give new values for each of "
                                       "its records, and only for them")
        wanted = {key: dict(fields) for key, fields in op.values.items()}
        for name in {n for fields in wanted.values() for n in fields}:
            if (name not in plan.table.c or name in config.exclude
                    or name in plan.key_columns or plan.table.c[name].primary_key):
                raise OperationUnsupported(f"{where}: field {name!r} cannot be updated (not "
                                           "a field of the collection, excluded, or a key)")
    else:
        spec = (config.options.get("operations") or {}).get(op.action)
        if spec is None:
            raise OperationUnsupported(f"{where}: declares no {op.action!r} operation in "
                                       "sources.toml")
        for name in spec["set"]:
            if name not in plan.table.c:
                raise SourceError(f"{where}: column {name!r} (operations.{op.action}.set) not "
                                  f"found in table {plan.table.fullname!r}")
        wanted = {key: dict(spec["set"]) for key in op.keys}
    converted: Targets = {}
    for key, fields in wanted.items():
        converted[key] = {}
        for name, value in fields.items():
            try:
                converted[key][name] = column_value(plan.table.c[name], value)
            except (ValueError, TypeError, ArithmeticError):  # InvalidOperation too
                raise SourceError(f"{where}: field {name!r}: a new value is not a value of "
                                  "its column's type") from None
    return converted


def columns(wanted: Targets) -> set[str]:
    """Every column the targets name (read with the rows, to compare)."""
    return {name for fields in wanted.values() for name in fields}


def row_key(plan: CollectionPlan, row: Mapping[str, Any]) -> str:
    """The key the search wrote for ``row`` (``Record.key``)."""
    return ":".join("" if row[c] is None else str(row[c]) for c in plan.key_columns)


def differing(plan: CollectionPlan, row: Mapping[str, Any], wanted: Targets
              ) -> dict[str, Any]:
    """The columns of ``row`` not yet holding their target, with it."""
    fields = wanted.get(row_key(plan, row), {})
    return {name: value for name, value in fields.items()
            if not same_value(row[name], value)}


def apply(conn: Connection, plan: CollectionPlan, identity: tuple[str, ...],
          rows: Iterable[Mapping[str, Any]], wanted: Targets) -> int:
    """Set the differing columns of each row (found by ``identity``, its identifying
    columns); how many rows were written."""
    table_ = plan.table
    written = 0
    for row in rows:
        changes = differing(plan, row, wanted)
        if not changes:
            continue
        statement = (update_(table_)
                     .where(and_(*(table_.c[c] == row[c] for c in identity)))
                     .values({table_.c[name]: value for name, value in changes.items()}))
        conn.execute(statement)
        written += 1
    return written


def not_done(plan: CollectionPlan, rows: Iterable[Mapping[str, Any]], wanted: Targets
             ) -> int:
    """How many of ``rows`` do not hold their targets yet (the verification)."""
    return sum(1 for row in rows if differing(plan, row, wanted))
