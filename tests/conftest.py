"""Test fixtures: a real redis-server, a real SMTP server (in-process), SQLite or PostgreSQL.

Set ``DSAR_TEST_DATABASE_URL`` to run the suite on PostgreSQL, ``DSAR_TEST_REDIS_URL`` to use
a running Redis instead of starting one.

The fixtures live in ``tests/fixtures`` by theme; the plain helpers the tests share in
``tests/support``; TOML configurations the tests write in ``tests/data``.
"""

pytest_plugins = [
    "tests.fixtures.app",
    "tests.fixtures.workers",
    "tests.fixtures.mail",
    "tests.fixtures.sources",
    "tests.fixtures.connectors",
    "tests.fixtures.demo",
    "tests.fixtures.https",
    "tests.fixtures.browser",
    "tests.fixtures.delivery",
]
