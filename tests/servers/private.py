"""Private Redis and PostgreSQL servers that a test may kill and start again.

Each runs on its own free loopback port with its data in a throwaway folder, so killing it
never touches the machine's shared servers (5432, 6379, 5672). PostgreSQL refuses to run as
root: as root its processes run as the ``postgres`` user. A missing binary skips the test
with the package to install.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.smtp import free_port

START_TIMEOUT_S = 60.0


def _accepting(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(ready: object, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{out[-3000:]}")
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {START_TIMEOUT_S:.0f} s")


class PrivateRedis:
    """A ``redis-server`` of its own; ``kill`` is SIGKILL, ``start`` reuses the port."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        _wait(lambda: _accepting(self.port), self.proc, "redis-server")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=30)
            self.proc = None


class PrivatePostgres:
    """A PostgreSQL cluster of its own; ``kill`` is an immediate shutdown (SIGQUIT: every
    backend dies at once, crash recovery at the next start), ``start`` reuses the port."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
        if not found and shutil.which("postgres") is None:
            pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = found[-1].parent if found else Path(shutil.which("postgres") or "").parent
        self.user = "postgres" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="mailflow-pg-"))
        os.chmod(self.dir, 0o755)
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [self.bin / "initdb", "-D", self.dir / "data", "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
            user=self.user,
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        command = [str(self.bin / "postgres"), "-D", str(self.dir / "data"), "-p", str(self.port)]
        command += ["-k", str(self.dir), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, user=self.user
        )
        _wait(self._ready, self.proc, "postgres")

    def _ready(self) -> bool:
        probe = [self.bin / "pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        return subprocess.run(probe, capture_output=True).returncode == 0

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGQUIT)
            self.proc.wait(timeout=60)
            self.proc = None

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRabbitmq:
    """A RabbitMQ node of its own (its own node name, ports, Mnesia and log folders; no
    plugins). ``kill`` is SIGKILL to the node's process group; ``start`` brings the same node
    back on the same port with its durable queues. Starting takes tens of seconds."""

    def __init__(self) -> None:
        self.script = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
        if not self.script.exists():
            pytest.skip("RabbitMQ is not installed (apt-get install rabbitmq-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="mailflow-rabbitmq-"))
        self.port, dist = free_port(), free_port()
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq.conf").write_text("")
        self.env = {
            **os.environ,
            "HOME": str(self.dir),  # the Erlang cookie is written here
            "RABBITMQ_NODENAME": f"mailflow-test-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(dist),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "RABBITMQ_PID_FILE": str(self.dir / "rabbitmq.pid"),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(self.script)],
            env=self.env,
            cwd=self.dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() ends the node, nothing else
        )
        _wait(self._ready, self.proc, "rabbitmq-server")

    def _ready(self) -> bool:
        if not _accepting(self.port):
            return False
        import pika

        try:
            pika.BlockingConnection(pika.URLParameters(self.url)).close()
        except pika.exceptions.AMQPError:
            return False
        return True

    def kill(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A started Redis of the test's own."""
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started PostgreSQL cluster of the test's own."""
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(params=["redis", "rabbitmq"])
def private_broker(request: pytest.FixtureRequest) -> Iterator[PrivateRedis | PrivateRabbitmq]:
    """A started Redis, then a started RabbitMQ, of the test's own."""
    server = PrivateRedis() if request.param == "redis" else PrivateRabbitmq()
    try:
        server.start()
        yield server
    finally:
        server.kill()
        if isinstance(server, PrivateRabbitmq):
            server.remove()
