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
from tests.support.gathering import start, verified_case
from tests.support.staff import login, make_staff
from tests.support.workers import run_queued_jobs


def packages(app, case_id):
    with app.app_context():
        rows = db.session.scalars(select(ExportPackage).where(ExportPackage.case_id == case_id)
                                  .order_by(ExportPackage.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def test_the_package_is_built_at_review_and_previewed_by_staff(demo):
    person = SHOWCASE["A"]
    case = verified_case(demo, person["email"])
    start(demo, case.id)
    assert run_queued_jobs(demo) == 0
    [package] = packages(demo, case.id)
    assert package.status is PackageStatus.READY and package.record_count > 0

    # Building again from the same results does nothing.
    with demo.app_context():
        assert build_package(case.id) == "already-built"

    agent = make_staff(demo, "agent", email="preview@staff.example")
    client = demo.test_client()
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
    with demo.app_context():
        audited = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "package.previewed")).all()
        assert [(e.case_id, e.payload["package_id"]) for e in audited] == [(case.id, package.id)]


def test_auditors_do_not_download_the_persons_data(demo):
    case = verified_case(demo, SHOWCASE["B"]["email"])
    start(demo, case.id)
    run_queued_jobs(demo)
    [package] = packages(demo, case.id)
    auditor = make_staff(demo, "auditor", email="auditor@staff.example")
    client = demo.test_client()
    login(client, auditor)
    assert client.get(f"/staff/cases/{case.reference}/package/{package.id}").status_code == 403
    page = client.get(f"/staff/cases/{case.reference}").get_data(as_text=True)
    assert "package_preview" not in page and f"/package/{package.id}" not in page


def test_a_lost_package_build_is_queued_again(demo, redis_url):
    from datetime import timedelta

    from redis import Redis

    from dsar.models.types import utcnow
    from dsar.pipeline.sweep import requeue_lost_packages

    case = verified_case(demo, SHOWCASE["C"]["email"])
    start(demo, case.id)
    # Run the searches and the fan-in, but lose the package job with Redis.
    from dsar.pipeline import package_job_id
    from dsar.pipeline.queues import SERIALIZER, DsarJob, get_queue, redis_connection
    from dsar.pipeline.worker import make_worker

    with demo.app_context():
        queues = [get_queue("gather"), get_queue("build")]
        worker = make_worker(["gather", "build"], fork=False)
        while not packages(demo, case.id) and any(q.count for q in queues):
            job = queues[0].dequeue_any(queues, None, connection=redis_connection(),
                                        job_class=DsarJob, serializer=SERIALIZER)
            if job is None:
                break
            if job[0].id.startswith(package_job_id(case.id, "")):
                Redis.from_url(redis_url).flushdb()
                break
            worker.execute_job(job[0], job[1])
    assert packages(demo, case.id) == []
    with demo.app_context():
        # Noted as lost with Redis's data, queued again once live workers have had two
        # heartbeats to name what they run.
        now = utcnow()
        assert requeue_lost_packages(now) == 0
        assert requeue_lost_packages(now + timedelta(seconds=15)) == 1
    run_queued_jobs(demo)
    assert [p.status for p in packages(demo, case.id)] == [PackageStatus.READY]
