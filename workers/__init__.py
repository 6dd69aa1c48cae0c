"""RQ job functions. Thin: load by id, call a ``dsar`` service, raise on failure."""
