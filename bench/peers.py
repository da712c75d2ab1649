"""The peers under test: how each one is started, reloaded, measured and stopped.

Every peer serves the same backend on its own 127.0.0.1 port:
  * "gunicorn": examples/app.py under gunicorn, 2 sync workers, WORK_MS ms of work per request;
  * "worker":   examples/worker.py (stdlib, threaded), 2 processes, --work-ms WORK_MS;
  * "swift-worker": examples/swift-worker (SwiftNIO, one event loop thread each), 2 processes,
    --work-ms WORK_MS (bench/run.sh builds it);
  * "uvicorn":  examples/readiness/asgi_app.py under uvicorn (`--fd`), 2 processes, WORK_MS ms
    (asyncio.sleep) per request;
  * "go":       examples/readiness/go (net/http, socket-activated on fd 3), 2 processes, WORK_MS ms
    (time.Sleep) per request (bench/run.sh builds it into bench/out/go/).
A peer's `reload()` returns the exit status of its reload command; the caller times it.
"""

import os
import re
import socket
import subprocess
import sys

import procs

WORK_MS = 5
GUNICORN_WORKERS = 2
WORKER_PROCESSES = 2
BACKLOG = 2048            # gunicorn's default; every peer gets the same accept queue
START_TIMEOUT = 30.0      # seconds for a peer to answer its first request
COMMAND_TIMEOUT = 60.0    # any control command (reload, stop) is bounded by this

PYTHON = sys.executable                    # the real interpreter, not a pyenv shim (no shim start-up cost)
PY_BIN = os.path.dirname(PYTHON)           # circusd, circusctl, supervisord, supervisorctl live here


class PeerError(Exception):
    """A peer could not be started; the benchmark records it and goes on."""


def backend_env():
    """Our environment for a backend, without anything that would confuse socket activation."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LISTEN_", "NOTIFY_SOCKET", "WATCHDOG_", "GRACED_"))}
    env["WORK_MS"] = str(WORK_MS)
    return env


def gunicorn_argv(repo, bind=None):
    """gunicorn serving app.py. `--no-control-socket`: gunicorn >= 25.1 opens a control
    socket at a fixed path, which two overlapping masters (graced, Circus) would fight over."""
    argv = [PYTHON, "-m", "gunicorn", "--no-control-socket", "--workers", str(GUNICORN_WORKERS),
            "--backlog", str(BACKLOG), "--chdir", os.path.join(repo, "examples")]
    if bind:
        argv += ["--bind", bind]
    return argv + ["app:app"]


def worker_argv(repo, *extra):
    return [PYTHON, os.path.join(repo, "examples", "worker.py"), "--work-ms", str(WORK_MS), *extra]


SWIFT_WORKER_THREADS = 1   # event loop threads per swift-worker process (2 processes on 2 cores)


def swift_worker_bin(repo):
    return os.path.join(repo, "examples", "swift-worker", ".build", "release", "swift-worker")


def swift_worker_argv(repo, *extra):
    binary = swift_worker_bin(repo)
    if not os.access(binary, os.X_OK):
        raise PeerError(f"{binary} is not built (make swift-worker)")
    return [binary, "--work-ms", str(WORK_MS), "--threads", str(SWIFT_WORKER_THREADS), *extra]


def backend_argv(repo, backend, *extra):
    """argv of a socket-activated backend that is not gunicorn: "worker" or "swift-worker"."""
    return swift_worker_argv(repo, *extra) if backend == "swift-worker" else worker_argv(repo, *extra)


def uvicorn_argv(repo, fd):
    """uvicorn (one process, its default asyncio loop and HTTP parser) serving asgi_app.py
    on an inherited listening fd; `fd` is a number or graced's "{fd:http}"."""
    return [PYTHON, "-m", "uvicorn", "--fd", str(fd), "--app-dir", os.path.join(repo, "examples", "readiness"),
            "--no-access-log", "--log-level", "warning", "asgi_app:app"]


def go_server_bin(repo):
    return os.path.join(repo, "bench", "out", "go", "readiness-server")


def go_argv(repo):
    """The Go net/http example: it serves only on fd 3 with LISTEN_FDS=1, LISTEN_PID=own pid."""
    binary = go_server_bin(repo)
    if not os.access(binary, os.X_OK):
        raise PeerError(f"{binary} is not built (bench/run.sh builds it with go build)")
    return [binary]


def activated_argv(argv, fd):
    """argv run as systemd would: `fd` moved to fd 3, LISTEN_FDS=1, LISTEN_PID=the pid
    that execs argv (a shell that execs keeps its pid)."""
    script = ('fd=$1; shift; if [ "$fd" != 3 ]; then eval "exec 3<&$fd $fd<&-"; fi; '
              'LISTEN_FDS=1; LISTEN_PID=$$; export LISTEN_FDS LISTEN_PID; exec "$@"')
    return ["/bin/sh", "-c", script, "sh", str(fd), *argv]


def standalone_argv(repo, backend, fd):
    """argv of a backend serving alone on an inherited listening fd (no graced, no READY=1)."""
    if backend == "uvicorn":
        return uvicorn_argv(repo, fd)
    if backend == "go":
        return activated_argv(go_argv(repo), fd)
    if backend == "gunicorn":
        return gunicorn_argv(repo, f"fd://{fd}")
    return backend_argv(repo, backend, "--fd", str(fd), "--no-notify")


def run_command(argv, timeout=COMMAND_TIMEOUT, log_path=None):
    """Runs a control command to completion; returns its exit status (124 on time-out)."""
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                              timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return 124
    finally:
        if log_path:
            log.close()


class Peer:
    """Base class. Subclasses set key/label/backend and implement start/reload/stop."""
    key = ""
    label = ""
    backend = ""
    reloads = True           # False for the controls (backend alone)
    reload_note = ""         # how a reload is done, for results.md
    supervisor_name = None   # the process whose RSS/CPU is "the supervisor's"

    def __init__(self, registry, repo, out_dir, port):
        self.registry = registry
        self.repo = repo
        self.out_dir = out_dir
        self.port = port
        self.proc = None

    def path(self, name):
        return os.path.join(self.out_dir, f"{self.key}-{name}")

    def wait_serving(self):
        if not procs.wait_http_ok(self.port, START_TIMEOUT):
            raise PeerError(f"{self.label} did not answer on 127.0.0.1:{self.port} within "
                            f"{START_TIMEOUT:.0f}s (see {self.path('log')})")

    def start(self):
        raise NotImplementedError

    def reload(self):
        raise NotImplementedError

    def stop(self):
        if self.proc is not None:
            self.registry.stop(self.proc)
            self.proc = None

    def supervisor_pid(self):
        """pid of the supervisor process, or None where there is none."""
        return self.proc.pid if self.proc is not None and self.supervisor_name else None

    def tree_roots(self):
        """Roots of the process tree whose RSS is summed."""
        return [self.proc.pid] if self.proc is not None else []


class NaiveRestart(Peer):
    key, label, backend = "naive", "naive restart", "gunicorn"
    reload_note = "SIGTERM gunicorn, wait for it to exit, start it again, wait until it answers"

    def start(self):
        self.proc = self.registry.spawn(gunicorn_argv(self.repo, f"127.0.0.1:{self.port}"),
                                        self.path("log"), backend_env())
        self.wait_serving()

    def reload(self):
        self.registry.stop(self.proc, timeout=COMMAND_TIMEOUT)
        self.proc = self.registry.spawn(gunicorn_argv(self.repo, f"127.0.0.1:{self.port}"),
                                        self.path("log"), backend_env())
        return 0 if procs.wait_http_ok(self.port, START_TIMEOUT) else 1


class GunicornHup(Peer):
    key, label, backend = "gunicorn-hup", "gunicorn master, kill -HUP", "gunicorn"
    supervisor_name = "gunicorn master"
    reload_note = "`kill -HUP <master>` (returns at once; the master replaces its workers in the background)"

    def start(self):
        self.proc = self.registry.spawn(gunicorn_argv(self.repo, f"127.0.0.1:{self.port}"),
                                        self.path("log"), backend_env())
        self.wait_serving()

    def reload(self):
        return run_command(["kill", "-HUP", str(self.proc.pid)])


class Circus(Peer):
    key, label, backend = "circus", "Circus (holds the socket)", "gunicorn"
    supervisor_name = "circusd"
    reload_note = "`circusctl reload web --waiting` (graceful: new gunicorn spawned, then the old one stopped)"

    def endpoint(self):
        return f"ipc://{self.path('endpoint.sock')}"

    def circusctl(self, *args):
        return [os.path.join(PY_BIN, "circusctl"), "--endpoint", self.endpoint(), "--timeout", "60", *args]

    def write_config(self):
        # ipc:// endpoints and an empty multicast_endpoint: no TCP control ports, and
        # no multicast discovery socket on 0.0.0.0 (traffic stays on this machine).
        # No stats_endpoint: setting one turns circusd-stats on.
        gunicorn = " ".join(gunicorn_argv(self.repo, "fd://$(circus.sockets.web)"))
        config = f"""[circus]
endpoint = {self.endpoint()}
pubsub_endpoint = ipc://{self.path('pubsub.sock')}
multicast_endpoint =
statsd = False
check_delay = 5
logoutput = {self.path('circusd.log')}

[watcher:web]
cmd = {gunicorn}
use_sockets = True
numprocesses = 1
graceful_timeout = 30
copy_env = True
stdout_stream.class = FileStream
stdout_stream.filename = {self.path('log')}
stderr_stream.class = FileStream
stderr_stream.filename = {self.path('stderr.log')}

[socket:web]
host = 127.0.0.1
port = {self.port}
backlog = {BACKLOG}

[env:web]
WORK_MS = {WORK_MS}
"""
        with open(self.path("circus.ini"), "w") as f:
            f.write(config)

    def start(self):
        self.write_config()
        self.proc = self.registry.spawn([os.path.join(PY_BIN, "circusd"), self.path("circus.ini")],
                                        self.path("circusd.out"), backend_env())
        self.wait_serving()

    def reload(self):
        return run_command(self.circusctl("reload", "web", "--waiting"))

    def stop(self):
        if self.proc is not None:
            self.registry.stop(self.proc, graceful=lambda: run_command(self.circusctl("quit", "--waiting")))
            self.proc = None


class Supervisord(Peer):
    key, label, backend = "supervisord", "supervisord, supervisorctl restart", "gunicorn"
    supervisor_name = "supervisord"
    reload_note = "`supervisorctl restart web` (stop, then start; gunicorn binds the port itself; startsecs=1)"

    def write_config(self):
        gunicorn = " ".join(gunicorn_argv(self.repo, f"127.0.0.1:{self.port}"))
        config = f"""[unix_http_server]
file = {self.path('supervisor.sock')}

[supervisord]
nodaemon = true
logfile = {self.path('supervisord.log')}
pidfile = {self.path('supervisord.pid')}
childlogdir = {self.out_dir}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://{self.path('supervisor.sock')}

[program:web]
command = {gunicorn}
environment = WORK_MS="{WORK_MS}"
startsecs = 1
stopsignal = TERM
stopwaitsecs = 30
autorestart = true
redirect_stderr = true
stdout_logfile = {self.path('log')}
"""
        with open(self.path("supervisord.conf"), "w") as f:
            f.write(config)

    def supervisorctl(self, *args):
        return [os.path.join(PY_BIN, "supervisorctl"), "-c", self.path("supervisord.conf"), *args]

    def start(self):
        self.write_config()
        self.proc = self.registry.spawn([os.path.join(PY_BIN, "supervisord"), "-n", "-c",
                                         self.path("supervisord.conf")], self.path("supervisord.out"),
                                        backend_env())
        self.wait_serving()

    def reload(self):
        return run_command(self.supervisorctl("restart", "web"))

    def stop(self):
        if self.proc is not None:
            self.registry.stop(self.proc, graceful=lambda: run_command(self.supervisorctl("shutdown")))
            self.proc = None


class Graced(Peer):
    """graced holding the socket; `backend` is "gunicorn", "worker", "swift-worker", "uvicorn"
    or "go". `ready` is the `ready` key, or None for none (graced's default, "accepting")."""
    supervisor_name = "graced"
    reload_note = "`graced reload --config ...` (blocks until the new generation is ready and the old one told to stop)"

    def __init__(self, registry, repo, out_dir, port, graced_bin, backend, settle, key=None, ready="notify"):
        self.backend = backend
        self.settle = settle
        self.ready = ready
        self.key = key or f"graced-{backend}"
        suffix = f", ready_settle {settle}" if backend == "gunicorn" else ""
        suffix += " (no ready key: accepting)" if ready is None else ""
        self.label = f"graced + {backend}{suffix}"
        super().__init__(registry, repo, out_dir, port)
        self.graced = graced_bin
        self.last_generation = None

    def write_config(self):
        if self.backend == "gunicorn":
            # No --bind: gunicorn takes the socket from LISTEN_FDS. Its master sends
            # READY=1 before its workers have booted, hence ready_settle.
            command, processes = gunicorn_argv(self.repo), 1
        elif self.backend == "uvicorn":
            command, processes = uvicorn_argv(self.repo, "{fd:http}"), WORKER_PROCESSES
        elif self.backend == "go":
            command, processes = go_argv(self.repo), WORKER_PROCESSES
        else:
            command, processes = backend_argv(self.repo, self.backend), WORKER_PROCESSES
        toml_list = ", ".join(f'"{a}"' for a in command)
        ready_line = f'ready = "{self.ready}"\n' if self.ready else ""
        config = f"""[graced]
control_socket = "{self.path('control.sock')}"
log_format = "text"

[[listener]]
name = "http"
address = "127.0.0.1:{self.port}"
backlog = {BACKLOG}

[worker]
command = [{toml_list}]
environment = {{ WORK_MS = "{WORK_MS}" }}
processes = {processes}
{ready_line}ready_timeout = "30s"
ready_settle = "{self.settle}"
stop_signal = "SIGTERM"
drain_timeout = "30s"
max_draining = 2
restart = "on-failure"
"""
        with open(self.path("graced.conf"), "w") as f:
            f.write(config)

    def graced_cmd(self, *args):
        return [self.graced, *args, "--config", self.path("graced.conf")]

    def start(self):
        self.write_config()
        self.proc = self.registry.spawn(self.graced_cmd("run"), self.path("log"), backend_env())
        self.wait_serving()

    def reload(self):
        """`graced reload`; remembers which generation it started (from its progress
        lines), so its wall time can be set against that generation's start-up."""
        self.last_generation = None
        try:
            result = subprocess.run(self.graced_cmd("reload", "--timeout", "60s"), stdin=subprocess.DEVNULL,
                                    capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            return 124
        match = re.search(r"generation (\d+) spawned", result.stdout)
        self.last_generation = int(match.group(1)) if match else None
        with open(self.path("reloads.log"), "a") as f:
            f.write(result.stdout + result.stderr)
        return result.returncode

    def stop(self):
        if self.proc is not None:
            self.registry.stop(self.proc, graceful=lambda: run_command(self.graced_cmd("stop")))
            self.proc = None


class GunicornAlone(Peer):
    key, label, backend = "alone-gunicorn", "gunicorn alone (control)", "gunicorn"
    reloads = False

    def start(self):
        self.proc = self.registry.spawn(gunicorn_argv(self.repo, f"127.0.0.1:{self.port}"),
                                        self.path("log"), backend_env())
        self.wait_serving()


class WorkerAlone(Peer):
    """The example worker without a supervisor: we bind the socket once, hand it to
    two worker processes with --fd (as graced would) and close our copy."""
    key, label, backend = "alone-worker", "example worker alone (control)", "worker"
    reloads = False

    def argv(self, fd):
        return worker_argv(self.repo, "--fd", str(fd), "--no-notify")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.workers = []

    def start(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            sock.listen(BACKLOG)
            fd = sock.fileno()
            for _ in range(WORKER_PROCESSES):
                self.workers.append(self.registry.spawn(self.argv(fd),
                                                        self.path("log"), backend_env(), pass_fds=(fd,)))
        finally:
            sock.close()
        self.wait_serving()

    def stop(self):
        for worker in self.workers:
            self.registry.stop(worker)
        self.workers = []

    def tree_roots(self):
        return [w.pid for w in self.workers]


class SwiftWorkerAlone(WorkerAlone):
    """The Swift example worker (SwiftNIO) without a supervisor, two processes on one socket."""
    key, label, backend = "alone-swift-worker", "Swift worker alone (control)", "swift-worker"

    def argv(self, fd):
        return swift_worker_argv(self.repo, "--fd", str(fd), "--no-notify")


class UvicornAlone(WorkerAlone):
    """uvicorn without a supervisor, two processes on one socket (`--fd`)."""
    key, label, backend = "alone-uvicorn", "uvicorn alone (control)", "uvicorn"

    def argv(self, fd):
        return standalone_argv(self.repo, "uvicorn", fd)


class GoAlone(WorkerAlone):
    """The Go net/http example without a supervisor, two processes on one socket (as fd 3)."""
    key, label, backend = "alone-go", "Go net/http alone (control)", "go"

    def argv(self, fd):
        return standalone_argv(self.repo, "go", fd)


def make_peers(registry, repo, out_dir, graced_bin, base_port):
    """All peers in run order, each on its own port (base_port, base_port+1, ...)."""
    # Each graced peer runs right after its control, so that slow drifts of a shared
    # machine's load hurt the comparison least.
    ports = iter(range(base_port, base_port + 100))
    common = (registry, repo, out_dir)
    return [
        NaiveRestart(*common, next(ports)),
        GunicornHup(*common, next(ports)),
        Circus(*common, next(ports)),
        Supervisord(*common, next(ports)),
        GunicornAlone(*common, next(ports)),
        Graced(*common, next(ports), graced_bin, "gunicorn", "1s"),
        # ready_settle comparison: reload runs only (see bench.py).
        Graced(*common, next(ports), graced_bin, "gunicorn", "0s", key="graced-gunicorn-settle0"),
        WorkerAlone(*common, next(ports)),
        Graced(*common, next(ports), graced_bin, "worker", "0s"),
        SwiftWorkerAlone(*common, next(ports)),
        Graced(*common, next(ports), graced_bin, "swift-worker", "0s"),
        # Servers that never send READY=1: no `ready` key, graced's default "accepting".
        UvicornAlone(*common, next(ports)),
        Graced(*common, next(ports), graced_bin, "uvicorn", "0s", ready=None),
        GoAlone(*common, next(ports)),
        Graced(*common, next(ports), graced_bin, "go", "0s", ready=None),
    ]
