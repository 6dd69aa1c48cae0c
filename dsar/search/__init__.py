"""Searching the sources for a person: one job per source, then the fan-in that moves the case
to review (or searches again where new identifiers appeared)."""
