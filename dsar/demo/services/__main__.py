"""``python -m dsar.demo.services crm|newsletter --db PATH --port N``: one demo API as a
process, until SIGTERM or Ctrl-C (a clean stop, no traceback). The secret comes from the
environment: ``HORIZON_CRM_TOKEN`` or ``HORIZON_NEWSLETTER_API_KEY``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from dsar.demo.org.config import CRM_TOKEN_ENV, NEWSLETTER_KEY_ENV
from dsar.demo.services.common import make_quiet_server
from dsar.demo.services.crm import crm_app
from dsar.demo.services.newsletter import newsletter_app

logger = logging.getLogger("dsar.demo.services")

SERVICES = {"crm": (crm_app, CRM_TOKEN_ENV), "newsletter": (newsletter_app, NEWSLETTER_KEY_ENV)}


def main(argv: list[str] | None = None) -> int:
    """Run one service; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m dsar.demo.services",
                                     description="Run one of the demo organisation's APIs.")
    parser.add_argument("service", choices=sorted(SERVICES))
    parser.add_argument("--db", required=True, type=Path, help="the service's SQLite file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    factory, variable = SERVICES[args.service]
    secret = os.environ.get(variable, "").strip()
    if not secret:
        print(f"error: set {variable} (the API's secret)", file=sys.stderr)
        return 2
    try:
        app = factory(args.db, secret)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = make_quiet_server(app, args.host, args.port)

    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever() to return: call it from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info("%s API listening on http://%s:%d", args.service, args.host, server.port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    logger.info("%s API stopped", args.service)
    return 0


if __name__ == "__main__":
    sys.exit(main())
