"""Set-ups of erasure cases for the least-privilege table: a case in review with its plan
drafted from a real search result of the shop (``tests/support/gathering``), and one whose plan
is verified with a recipient's notice waiting for staff."""

from __future__ import annotations

from pathlib import Path

from dsar.changes.plan import open_plan
from dsar.core import storage
from dsar.extensions import db
from dsar.models import (
    CaseKind,
    CaseStatus,
    GatherStatus,
    NoticeStatus,
    PlanStatus,
    RecipientNotice,
    SourceResult,
)
from dsar.search.gathering import result_lines
from dsar.sources import catalog
from dsar.sources.base import Discovery, Identity, Record
from tests.support.gathering import EMAIL, SHOP_SOURCE, build_databases, write_config
from tests.support.role_scenarios import World
from tests.support.staff import make_case


def erasure_in_review(app) -> World:
    """An erasure in review whose search found her customer record in the shop."""
    instance = Path(app.config["SOURCES_FILE"]).parent
    build_databases(instance)
    write_config(instance, {"shop": SHOP_SOURCE})
    catalog.init_app(app)  # the app now reads the shop
    case = make_case(app, status=CaseStatus.REVIEW, kind=CaseKind.ERASURE, email=EMAIL)
    found = Discovery(records=[Record("customers", "1", {"id": 1, "email": EMAIL,
                                                          "name": "Camille Martin"})],
                      identifiers=Identity.of(customer_id=["1"]))
    with app.app_context():
        with storage.text_writer() as out:
            for line in result_lines(found):
                out.write(line)
        db.session.add(SourceResult(case_id=case.id, source="shop", round=1,
                                    status=GatherStatus.DONE, counts={"customers": 1},
                                    record_count=1, result_blob_id=out.blob.blob_id,
                                    result_sha256=out.blob.sha256))
        open_plan(db.session.get(type(case), case.id))
        db.session.commit()
    return World(case.reference, case.id)


def erasure_with_a_pending_notice(app) -> World:
    """An erasure carried out and verified; the host's notice waits for staff."""
    world = erasure_in_review(app)
    with app.app_context():
        from dsar.changes.plan import plan_of
        from dsar.models import Case

        plan = plan_of(db.session.get(Case, world.case_id))
        plan.status = PlanStatus.VERIFIED
        notice = RecipientNotice(case_id=world.case_id, recipient="host",
                                 status=NoticeStatus.PENDING)
        db.session.add(notice)
        db.session.commit()
        world.extra["notice_id"] = notice.id
    return world
