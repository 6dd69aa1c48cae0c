"""The environment of the ``dsar`` processes a test starts (``dsar worker``, ``dsar
scheduler``, ``dsar doctor``) so that they read the same deployment as the test's app: every
setting as a ``DSAR_*`` variable, and none inherited from outside."""

from __future__ import annotations

import json
import os

#: The settings a process needs to reach the test app's database, Redis, storage, key,
#: sources and SMTP server.
DEPLOYMENT_SETTINGS = ("DATABASE_URL", "REDIS_URL", "MASTER_KEY_FILE", "STORAGE_DIR",
                       "SOURCES_FILE", "REGISTER_FILE", "BASE_URL", "SMTP_HOST", "SMTP_PORT")


def dsar_env(config, instance: str, **settings) -> dict[str, str]:
    """The environment of a ``dsar`` process: ``config``'s deployment settings (an app's
    config, or a dict), the instance folder ``instance``, then ``settings`` (a value that is
    not a string is written as JSON: ``True`` → ``true``, a list → ``[...]``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env["DSAR_INSTANCE_PATH"] = instance
    values = {key: config[key] for key in DEPLOYMENT_SETTINGS if config.get(key) is not None}
    values.update(settings)
    for key, value in values.items():
        env[f"DSAR_{key}"] = value if isinstance(value, str) else json.dumps(value)
    return env
