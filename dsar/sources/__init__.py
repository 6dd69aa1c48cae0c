"""Where a person's data lives: the connector kinds (``sql``, ``http``, ``files``), their
configuration (``instance/sources.toml``) and the catalog the pipeline searches.
See docs/sources.md."""
