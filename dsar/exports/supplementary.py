"""The person's supplementary statements (GDPR Art. 16, :mod:`dsar.changes.statements`) as an
access answer gives them: with the source's and the collection's labels in the case's
language. Every later access answer of the person's e-mail address lists them, in
``export.json`` (``supplementary_statements``) and in report.pdf's letter."""

from __future__ import annotations

from dataclasses import dataclass

from dsar.changes.statements import Statement, statements_for
from dsar.models import Case
from dsar.sources.catalog import Catalog

#: The scopes whose answer gives the statements: an access answer (Art. 15) is the copy of
#: their data Art. 16's statement goes with; a portability export holds the data the person
#: provided to a source, which a statement is not part of.
SCOPES_WITH_STATEMENTS = ("access",)


@dataclass(frozen=True)
class StatementContent(Statement):
    """A supplementary statement as the answer shows it: with its source's and collection's
    labels."""

    source_label: str
    collection_label: str


def statement_contents(case: Case, catalog: Catalog, language: str,
                       scope: str) -> tuple[StatementContent, ...]:
    """The statements of the person of ``case`` for an answer of ``scope``, labelled in
    ``language`` from the catalog (a source or collection no longer configured keeps its
    name)."""
    if scope not in SCOPES_WITH_STATEMENTS:
        return ()
    contents = []
    for s in statements_for(case):
        source = catalog.sources.get(s.source)
        collection = source.collections.get(s.collection) if source else None
        contents.append(StatementContent(
            **vars(s), source_label=source.label(language) if source else s.source,
            collection_label=collection.label(language) if collection else s.collection))
    return tuple(contents)
