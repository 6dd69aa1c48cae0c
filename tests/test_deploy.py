"""deploy/systemd and deploy/bin: the units pass ``systemd-analyze verify`` and stay
sandboxed, their commands are ones ``dsar`` accepts, ``dsar serve`` tells systemd it is ready,
a worker sent systemd's SIGTERM finishes the job in hand, and the administrator's ``dsar``
runs commands with the services' settings.
The nginx site: tests/test_deploy_nginx.py."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
from sqlalchemy import select

from dsar.cli import main as dsar_cli
from dsar.config import DEFAULTS
from dsar.extensions import db
from dsar.models import GatherStatus, SourceResult
from dsar.pipeline.queues import JOB_TIMEOUT, QUEUES
from tests.support.fault_harness import fault_setup, starter
from tests.support.gathering import verified_case
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"
INSTALLED_DSAR = "/opt/dsar/.venv/bin/dsar"
DSAR = Path(sys.executable).parent / "dsar"  # this checkout's, standing in for /opt/dsar's
#: The worker groups docs/deploy.md and the template's header name, as instance names.
WORKER_GROUPS = ("mail", "gather", "build", "maintenance,default")
SERVICES = ("dsar-web.service", "dsar-worker@.service", "dsar-scheduler.service",
            "dsar-anchor.service", "dsar-backup.service")
LONG_RUNNING = ("dsar-web.service", "dsar-worker@.service", "dsar-scheduler.service")

needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is missing (Debian package systemd)")


def escape(instance: str) -> str:
    """``systemd-escape`` for a queue list: "," is not allowed in a unit name."""
    return instance.replace(",", r"\x2c")


def directives(unit: Path) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file (all sections), values in order."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def seconds(span: str) -> int:
    """A systemd time span of these units ("45s", "11min") in seconds."""
    number, unit = re.fullmatch(r"(\d+)\s*(s|min)", span).groups()
    return int(number) * (60 if unit == "min" else 1)


def verify(folder: Path) -> tuple[int, list[str]]:
    """``systemd-analyze verify`` of every unit in ``folder`` (the worker template with each
    group's instance), its ExecStart pointed at this checkout's ``dsar``: the exit status and
    the lines of its output that are about these units."""
    for unit in folder.iterdir():
        unit.write_text(unit.read_text().replace(INSTALLED_DSAR, str(DSAR)))
    names = sorted(str(u) for u in folder.iterdir())
    names += [str(folder / f"dsar-worker@{escape(group)}.service") for group in WORKER_GROUPS]
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", "--recursive-errors=no",
                           *names], capture_output=True, text=True, timeout=120, check=False)
    output = (done.stdout + done.stderr).splitlines()
    return done.returncode, [line for line in output if "dsar" in line or str(folder) in line]


@needs_systemd
def test_every_unit_passes_systemd_analyze_verify(tmp_path):
    shutil.copytree(UNITS, tmp_path / "units")
    status, complaints = verify(tmp_path / "units")
    assert (status, complaints) == (0, [])


@needs_systemd
def test_verify_catches_a_broken_unit(tmp_path):
    """The check above can fail: a misspelt setting, a bad value and a missing program."""
    shutil.copytree(UNITS, tmp_path / "units")
    scheduler = tmp_path / "units" / "dsar-scheduler.service"
    scheduler.write_text(scheduler.read_text().replace("ProtectSystem=", "ProtectSystm=")
                         .replace("Type=exec", "Type=exekute"))
    timer = tmp_path / "units" / "dsar-backup.timer"
    timer.write_text(timer.read_text().replace("02:30:00", "02:70:00"))
    web = tmp_path / "units" / "dsar-web.service"
    web.write_text(web.read_text().replace(INSTALLED_DSAR, "/nowhere/dsar"))
    status, complaints = verify(tmp_path / "units")
    text = "\n".join(complaints)
    assert status != 0
    for fault in ("ProtectSystm", "exekute", "02:70:00", "/nowhere/dsar"):
        assert fault in text


@needs_systemd
@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_sandboxed(service):
    """systemd's own score of what the service could do if taken over: "OK" (under 2) for
    each, the same sandbox everywhere."""
    unit = UNITS / service
    done = subprocess.run(["systemd-analyze", "security", "--offline=true", "--man=no",
                           str(unit)], capture_output=True, text=True, timeout=60, check=False)
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert score, done.stdout + done.stderr
    assert float(score.group(1)) < 2.0, done.stdout
    settings = directives(unit)
    for key, value in {"User": "dsar", "EnvironmentFile": "/etc/dsar/dsar.env",
                       "ProtectSystem": "strict", "NoNewPrivileges": "yes",
                       "PrivateTmp": "yes", "ProtectHome": "yes", "CapabilityBoundingSet": "",
                       "UMask": "0077", "SystemCallFilter": "@system-service",
                       "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
                       "StateDirectory": "dsar", "WorkingDirectory": "/var/lib/dsar"}.items():
        assert settings.get(key) == [value], (service, key)
    assert "DSAR_INSTANCE_PATH=/var/lib/dsar" in settings["Environment"][0]


def test_stops_wait_for_the_work_in_hand():
    """A worker's warm shutdown outlasts the longest job's time limit (then the job would be
    cut off and run again); the web server's stop outlasts gunicorn's graceful timeout."""
    worker = directives(UNITS / "dsar-worker@.service")
    longest = max(*JOB_TIMEOUT.values(), int(DEFAULTS["GATHER_TIMEOUT"]),
                  4 * int(DEFAULTS["TRANSMIT_TIMEOUT"]))
    assert seconds(worker["TimeoutStopSec"][0]) > longest
    assert worker["KillSignal"] == ["SIGTERM"]  # RQ: warm shutdown (a second one is cold)
    assert worker["KillMode"] == ["mixed"]  # a --fork child finishes its job
    graceful = next(p.default for p in dsar_cli.get_command(None, "serve").params
                    if p.name == "graceful_timeout")
    assert seconds(directives(UNITS / "dsar-web.service")["TimeoutStopSec"][0]) > graceful
    for service in LONG_RUNNING:
        settings = directives(UNITS / service)
        assert settings["Restart"] == ["on-failure"], service
        assert settings["PartOf"] == ["dsar.target"], service
        assert settings["WantedBy"] == ["dsar.target"], service


def exec_starts() -> list[list[str]]:
    """The argument lists of every ExecStart, the worker template's for each group."""
    commands = []
    for service in SERVICES:
        line = directives(UNITS / service)["ExecStart"][0]
        for group in WORKER_GROUPS if "%I" in line else (None,):
            commands.append(line.replace("%I", group or "").split())
    return commands


@pytest.mark.parametrize("argv", exec_starts(), ids=lambda argv: " ".join(argv[1:3]))
def test_each_command_is_one_dsar_accepts(argv):
    """Every option and value the units pass exists (a renamed option fails here, not at 3 am)."""
    assert argv[0] == INSTALLED_DSAR
    command, args, path = dsar_cli, argv[1:], ["dsar"]
    while isinstance(command, click.Group):
        command = command.get_command(None, args[0])
        assert command is not None, argv
        path.append(args.pop(0))
    command.make_context(" ".join(path), args)  # raises on an unknown option or bad value


def test_worker_groups_cover_every_queue():
    header = (UNITS / "dsar-worker@.service").read_text()
    for group in WORKER_GROUPS:
        assert f"dsar-worker@{escape(group)}.service" in header
    assert {q for g in WORKER_GROUPS for q in g.split(",")} == set(QUEUES)


@pytest.mark.parametrize("fork", [False, True], ids=["in-process", "fork"])
def test_a_worker_stopped_by_systemd_finishes_the_search_in_hand(
        fork, tmp_path, app, database_url, redis_url, key_file, smtp_server):
    """What dsar-worker@.service relies on: SIGTERM to the worker's own process (KillMode=
    mixed) while a search hangs on the CRM; the worker waits for it, stores its result
    once, then leaves with status 0 (RQ's warm shutdown), the job never cut off or redone."""
    with fault_setup(tmp_path, database_url, redis_url, key_file, smtp_server,
                     ["shop", "crm"]) as f:
        case_id = verified_case(f.app).id
        worker = f.processes.worker(*(["--fork"] if fork else []))
        starter(f.app)(case_id)
        assert f.crm.arrived.wait(60), f.processes.log_tail()
        worker.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):
            worker.wait(timeout=1)  # still at work on the search in hand
        f.crm.release.set()
        assert worker.wait(timeout=60) == 0, f.processes.log_tail()
        with f.app.app_context():
            row = db.session.scalar(select(SourceResult).where(
                SourceResult.case_id == case_id, SourceResult.source == "crm"))
            assert (row.status, row.record_count, f.crm.hits) == (GatherStatus.DONE, 1, 1)


def test_env_example_sets_only_real_settings():
    """Every DSAR_ variable of deploy/dsar.env.example (commented out or not) names a setting
    of dsar/config.py, with a value systemd and a shell read alike."""
    text = (ROOT / "deploy" / "dsar.env.example").read_text()
    pairs = re.findall(r"^#? ?DSAR_(\w+)=(.*)$", text, re.M)
    assert len(pairs) >= 10
    for key, value in pairs:
        assert key in DEFAULTS, key
        assert not re.search(r"[\s\"'$`\\]", value), key


def test_web_server_tells_systemd_it_is_ready(tmp_path):
    """dsar-web.service is Type=notify: ``dsar serve`` sends READY=1 to systemd's socket once
    it listens (else systemd would kill it after its start timeout), and stops on SIGTERM."""
    assert directives(UNITS / "dsar-web.service")["Type"] == ["notify"]
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(60)
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": str(tmp_path / "notify"),
           "DSAR_INSTANCE_PATH": str(tmp_path / "instance"), "DSAR_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([DSAR, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert b"READY=1" in notify.recv(4096).split(b"\n")
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # listening once ready
    finally:
        notify.close()
        server.send_signal(signal.SIGTERM)
        status = server.wait(timeout=45)
    assert status == 0


def test_admin_wrapper_runs_dsar_with_the_service_settings(tmp_path):
    """deploy/bin/dsar reads /etc/dsar/dsar.env (here a copy) and runs the command in the
    instance folder: the broken sources file the env file names is the one dsar reports."""
    (tmp_path / "sources.toml").write_text("not = = toml\n")
    env_file = tmp_path / "dsar.env"
    env_file.write_text(f"DSAR_SOURCES_FILE={tmp_path / 'sources.toml'}\nDSAR_LOG_LEVEL=ERROR\n")
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "DSAR_ENV_FILE": str(env_file),
           "DSAR_SERVICE_USER": subprocess.check_output(["id", "-un"], text=True).strip(),
           "DSAR_APP_DIR": str(DSAR.parent.parent.parent),  # …/.venv/bin/dsar
           "DSAR_INSTANCE_PATH": str(tmp_path / "instance")}
    (tmp_path / "instance").mkdir()
    if env["DSAR_SERVICE_USER"] != "root":
        pytest.skip("runuser switches users only as root")
    done = subprocess.run([ROOT / "deploy" / "bin" / "dsar", "sources", "check"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert f"{tmp_path / 'sources.toml'}: (syntax)" in done.stderr
    env["DSAR_ENV_FILE"] = str(tmp_path / "missing.env")
    done = subprocess.run([ROOT / "deploy" / "bin" / "dsar", "sources", "check"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "cannot read" in done.stderr

