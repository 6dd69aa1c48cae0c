"""The answer package is built when a case's search is over, once per set of results, stored
encrypted, and previewed by the staff who prepare the answer (each preview audited)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from sqlalchemy import select

from dsar.demo.org import SHOWCASE
from dsar.exports.build import build_package
from dsar.extensions import db
from dsar.models import AuditEvent, ExportPackage, PackageStatus
from tests.conftest import run_queued_jobs
from tests.gather_helpers import verified_case
from tests.staff_helpers import login, make_staff
from tests.test_demo_gathering import demo_app, demo_data  # noqa: F401 (fixtures)
from tests.test_gathering import start


def packages(app, case_id):
    with app.app_context():
        rows = db.session.scalars(select(ExportPackage).where(ExportPackage.case_id == case_id)
                                  .order_by(ExportPackage.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def test_the_package_is_built_at_review_and_previewed_by_staff(demo_app):  # noqa: F811
    person = SHOWCASE["A"]
    case = verified_case(demo_app, person["email"])
    start(demo_app, case.id)
    assert run_queued_jobs(demo_app) == 0
    [package] = packages(demo_app, case.id)
    assert package.status is PackageStatus.READY and package.record_count > 0

    # Building again from the same results does nothing.
    with demo_app.app_context():
        assert build_package(case.id) == "already-built"

    agent = make_staff(demo_app, "agent", email="preview@staff.example")
    client = demo_app.test_client()
    login(client, agent)
    page = client.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert f'data-package="{package.id}"' in page
    resp = client.get(f"/staff/cases/{case.reference}/package/{package.id}")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert resp.headers["Cache-Control"] == "no-store"
    data = resp.get_data()
    assert hashlib.sha256(data).hexdigest() == package.sha256
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        for entry in manifest["files"]:
            assert hashlib.sha256(archive.read(entry["name"])).hexdigest() == entry["sha256"]
        assert person["email"] in archive.read("export.json").decode()
        assert archive.read("report.pdf").startswith(b"%PDF-")
        assert "report.pdf" in {entry["name"] for entry in manifest["files"]}
    with demo_app.app_context():
        audited = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "package.previewed")).all()
        assert [(e.case_id, e.payload["package_id"]) for e in audited] == [(case.id, package.id)]


def test_auditors_do_not_download_the_persons_data(demo_app):  # noqa: F811
    case = verified_case(demo_app, SHOWCASE["B"]["email"])
    start(demo_app, case.id)
    run_queued_jobs(demo_app)
    [package] = packages(demo_app, case.id)
    auditor = make_staff(demo_app, "auditor", email="auditor@staff.example")
    client = demo_app.test_client()
    login(client, auditor)
    assert client.get(f"/staff/cases/{case.reference}/package/{package.id}").status_code == 403
    page = client.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert "package_preview" not in page and f"/package/{package.id}" not in page


def test_a_lost_package_build_is_queued_again(demo_app, redis_url):  # noqa: F811
    from datetime import timedelta

    from redis import Redis

    from dsar.models.types import utcnow
    from dsar.pipeline.sweep import requeue_lost_packages

    case = verified_case(demo_app, SHOWCASE["C"]["email"])
    start(demo_app, case.id)
    # Run the searches and the fan-in, but lose the package job with Redis.
    from dsar.pipeline.queues import SERIALIZER, DsarJob, get_queue, redis_connection
    from dsar.pipeline.worker import make_worker
    from workers.app import set_app

    set_app(demo_app)
    with demo_app.app_context():
        queues = [get_queue("gather"), get_queue("build")]
        worker = make_worker(["gather", "build"], fork=False)
        while not packages(demo_app, case.id) and any(q.count for q in queues):
            job = queues[0].dequeue_any(queues, None, connection=redis_connection(),
                                        job_class=DsarJob, serializer=SERIALIZER)
            if job is None:
                break
            if job[0].id.endswith("-package"):
                Redis.from_url(redis_url).flushdb()
                break
            worker.execute_job(job[0], job[1])
    assert packages(demo_app, case.id) == []
    with demo_app.app_context():
        assert requeue_lost_packages(utcnow() + timedelta(minutes=5)) == 1
    run_queued_jobs(demo_app)
    assert [p.status for p in packages(demo_app, case.id)] == [PackageStatus.READY]
