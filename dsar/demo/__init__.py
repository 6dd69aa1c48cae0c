"""The demo: a local mail catcher, its mailbox page, and the process runner of ``dsar demo``."""
