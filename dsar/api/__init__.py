"""The HTTP API for the organisation's own tools (bearer tokens, JSON, no session, no CSRF
token): :mod:`.suppression`, the suppression-list check, and :mod:`.restriction`, the
restriction-register check, sharing :mod:`.checks`."""
