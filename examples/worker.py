#!/usr/bin/env python3
"""Example graced worker: a small threaded HTTP/1.1 server (Python 3 stdlib only).

It takes its listening sockets from systemd socket activation exactly as
sd_listen_fds(3) does (LISTEN_PID must be our pid, LISTEN_FDS sockets from fd 3,
names from LISTEN_FDNAMES), or from explicit `--fd N` options, and serves on all
of them at once.

Every request gets 200 and a JSON description of the process (pid, generation,
listeners, open fds, selected environment, ...); `GET /health` gets "ok".

Readiness and shutdown follow sd_notify(3): READY=1 (and STATUS=) once started,
STOPPING=1 when a SIGTERM/SIGINT starts a graceful drain: stop accepting, finish
in-flight requests, close idle keep-alive connections, exit 0.

Fault switches (--crash-at-start, --ignore-sigterm, --exit-after, ...) let the
graced integration tests provoke the failures a supervisor must handle.
"""

import argparse
import json
import os
import selectors
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

SD_LISTEN_FDS_START = 3
MAX_HEADER_BYTES = 64 * 1024
DRAIN_IDLE_GRACE_SECONDS = 0.5  # a draining keep-alive connection idle this long is closed
IDLE_POLL_SECONDS = 0.05      # how quickly idle keep-alive connections notice a drain
IDLE_TIMEOUT_SECONDS = 60.0   # idle keep-alive connections are closed after this
READ_TIMEOUT_SECONDS = 10.0   # for the rest of a request once its first byte arrived

PID = os.getpid()
INHERITED_FDS = None   # the fds open when main() started, before the worker opened any


def log(message):
    """One line to stderr (graced reads it line by line)."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Socket activation and sd_notify
# --------------------------------------------------------------------------

class Listener:
    """One listening socket with the name it was passed under."""

    def __init__(self, name, fd, sock):
        self.name = name
        self.fd = fd
        self.sock = sock

    def describe(self):
        family = {socket.AF_INET: "inet", socket.AF_INET6: "inet6",
                  socket.AF_UNIX: "unix"}.get(self.sock.family, str(self.sock.family))
        try:
            address = self.sock.getsockname()
            if isinstance(address, tuple):
                host, port = address[0], address[1]
                address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            elif isinstance(address, bytes):  # abstract unix socket
                address = "@" + address[1:].decode(errors="replace")
        except OSError:
            address = None
        return {"name": self.name, "fd": self.fd, "family": family, "address": address}


def fail_start(message):
    """Refuse to start: a clear message on stderr, exit status 2."""
    log(f"worker {PID}: {message}")
    sys.exit(2)


def activation_names():
    """(count, names) from the socket activation environment, as sd_listen_fds_with_names(3).

    Returns (0, []) when LISTEN_PID is not our pid or LISTEN_FDS is unset/invalid.
    """
    listen_pid = os.environ.get("LISTEN_PID")
    listen_fds = os.environ.get("LISTEN_FDS")
    if listen_pid is None or listen_fds is None:
        return 0, []
    try:
        if int(listen_pid) != PID:
            log(f"worker {PID}: LISTEN_PID={listen_pid} is not my pid, ignoring LISTEN_FDS")
            return 0, []
        count = int(listen_fds)
    except ValueError:
        log(f"worker {PID}: invalid LISTEN_PID={listen_pid!r} or LISTEN_FDS={listen_fds!r}")
        return 0, []
    if count <= 0:
        return 0, []
    names = os.environ.get("LISTEN_FDNAMES", "").split(":") if os.environ.get("LISTEN_FDNAMES") else []
    if len(names) != count:
        # sd_listen_fds_with_names: names that are missing are "unknown".
        names = (names + ["unknown"] * count)[:count]
    return count, names


def adopt_listener(fd, name):
    """Wraps fd in a socket object; refuses anything that is not a listening stream socket."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError as error:
        fail_start(f"fd {fd} ({name}) is not open: {error.strerror}")
    if not stat.S_ISSOCK(mode):
        fail_start(f"fd {fd} ({name}) is not a socket")
    os.set_inheritable(fd, False)  # sd_listen_fds sets FD_CLOEXEC too
    sock = socket.socket(fileno=fd)
    if sock.type != socket.SOCK_STREAM or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        fail_start(f"fd {fd} ({name}) is not a listening stream socket")
    return Listener(name, fd, sock)


def take_listeners(explicit_fds):
    """The listeners: the --fd numbers if given, otherwise the socket-activated ones."""
    count, names = activation_names()
    if explicit_fds:
        listeners = []
        for fd in explicit_fds:
            index = fd - SD_LISTEN_FDS_START
            name = names[index] if 0 <= index < count else f"fd{fd}"
            listeners.append(adopt_listener(fd, name))
        return listeners
    if count == 0:
        fail_start("no listening sockets: not socket-activated (LISTEN_FDS/LISTEN_PID "
                   "not set for this process) and no --fd given; refusing to start")
    return [adopt_listener(SD_LISTEN_FDS_START + i, names[i]) for i in range(count)]


def sd_notify(state):
    """Sends state ("READY=1", ...) to $NOTIFY_SOCKET like sd_notify(3). False if unset or failed."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]   # abstract namespace
    elif not address.startswith("/"):
        log(f"worker {PID}: unsupported NOTIFY_SOCKET {address!r}")
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode(), address)
        return True
    except OSError as error:
        log(f"worker {PID}: sd_notify({state!r}) failed: {error}")
        return False


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

def open_fds():
    """Sorted open fd numbers, without the directory fd used to list them.

    The listing's own fd is closed once os.listdir returns, so readlink fails for it.
    """
    fds = []
    for entry in os.listdir("/proc/self/fd"):
        try:
            os.readlink(f"/proc/self/fd/{entry}")
        except OSError:
            continue
        fds.append(int(entry))
    return sorted(fds)


def fd_targets(fds):
    """{fd: readlink target} for the given fds ("socket:[123]", "pipe:[45]", ...)."""
    targets = {}
    for fd in fds:
        try:
            targets[str(fd)] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return targets


def describe_process(server, listener, method, path):
    """The JSON document every request gets."""
    env = os.environ
    fds = open_fds()

    def env_int(name):
        try:
            return int(env[name])
        except (KeyError, ValueError):
            return None

    return {
        "pid": PID,
        "ppid": os.getppid(),
        "generation": env.get("GRACED_GENERATION"),
        "worker": env.get("GRACED_WORKER"),
        "listen_pid": env_int("LISTEN_PID"),
        "listen_fds": env_int("LISTEN_FDS"),
        "listen_fdnames": env.get("LISTEN_FDNAMES"),
        "einhorn_fds": env.get("EINHORN_FDS"),
        "notify_socket": env.get("NOTIFY_SOCKET"),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": sorted(os.getgroups()),
        "cwd": os.getcwd(),
        "fds": fds,
        "inherited_fds": INHERITED_FDS,
        "fd_targets": fd_targets(fds),
        "listener": listener.name,
        "listeners": [l.describe() for l in server.listeners],
        "method": method,
        "path": path,
        "child_pid": server.child.pid if server.child else None,
        "env": {k: v for k, v in sorted(env.items()) if k.startswith(("APP_", "TEST_"))},
    }


class BadRequest(Exception):
    pass


class Connection:
    """One accepted connection, served by its own thread: HTTP/1.1 with keep-alive."""

    def __init__(self, server, sock, listener):
        self.server = server
        self.sock = sock
        self.listener = listener
        self.buffer = b""
        self.served = 0

    def run(self):
        try:
            while self.wait_for_request():
                self.served += 1
                if not self.serve_one():
                    break
        except (OSError, BadRequest):
            pass
        finally:
            try:
                self.sock.close()
            finally:
                self.server.connection_done(self)

    def wait_for_request(self):
        """Waits for the first byte of the next request; False on EOF, drain or idle timeout."""
        if self.buffer:
            return True
        idle_since = time.monotonic()
        drain_idle_since = None
        while True:
            # During a drain a keep-alive connection is closed once it has been idle for
            # DRAIN_IDLE_GRACE_SECONDS: a client that is about to send its next request
            # gets it answered (with "Connection: close"), instead of a reset. A fresh
            # connection is never closed unread: its client sent, or is sending, a request.
            if self.served > 0 and self.server.draining.is_set():
                if drain_idle_since is None:
                    drain_idle_since = time.monotonic()
                elif time.monotonic() - drain_idle_since > DRAIN_IDLE_GRACE_SECONDS:
                    return False
            if time.monotonic() - idle_since > IDLE_TIMEOUT_SECONDS:
                return False
            self.sock.settimeout(IDLE_POLL_SECONDS)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return False
            self.buffer += data
            return True

    def read_head(self):
        """Reads up to the blank line; returns (request line, headers dict)."""
        self.sock.settimeout(READ_TIMEOUT_SECONDS)
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEADER_BYTES:
                raise BadRequest("header too large")
            data = self.sock.recv(65536)
            if not data:
                raise BadRequest("eof in header")
            self.buffer += data
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise BadRequest("malformed header")
            headers[name.strip().lower()] = value.strip()
        return lines[0], headers

    def skip_body(self, headers):
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise BadRequest("chunked request bodies are not supported")
        length = int(headers.get("content-length", "0") or "0")
        while len(self.buffer) < length:
            data = self.sock.recv(65536)
            if not data:
                raise BadRequest("eof in body")
            self.buffer += data
        self.buffer = self.buffer[length:]

    def serve_one(self):
        """Serves one request; returns whether the connection stays open."""
        request_line, headers = self.read_head()
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            self.respond(400, "text/plain", b"bad request\n", "HTTP/1.0", keep_alive=False)
            return False
        method, target, version = parts
        self.skip_body(headers)
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection

        self.server.request_started()
        try:
            if self.server.work_seconds > 0:
                time.sleep(self.server.work_seconds)
            path = target.split("?", 1)[0]
            if path == "/health":
                status, content_type, body = 200, "text/plain", b"ok"
            else:
                document = describe_process(self.server, self.listener, method, target)
                status, content_type, body = 200, "application/json", (json.dumps(document) + "\n").encode()
            if self.server.draining.is_set():
                keep_alive = False   # in flight during a drain: answer, then close
            self.respond(status, content_type, b"" if method == "HEAD" else body, version,
                         keep_alive, content_length=len(body))
        finally:
            self.server.request_finished()
        return keep_alive

    def respond(self, status, content_type, body, version, keep_alive, content_length=None):
        reason = {200: "OK", 400: "Bad Request"}.get(status, "Unknown")
        version = "HTTP/1.1" if version == "HTTP/1.1" else "HTTP/1.0"
        head = (f"{version} {status} {reason}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(body) if content_length is None else content_length}\r\n"
                f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
                f"X-Worker-Pid: {PID}\r\n"
                "\r\n").encode("latin-1")
        self.sock.settimeout(READ_TIMEOUT_SECONDS)
        self.sock.sendall(head + body)


class Server:
    """Accepts on every listener from one selector thread; one thread per connection."""

    def __init__(self, listeners, work_seconds, child):
        self.listeners = listeners
        self.work_seconds = work_seconds
        self.child = child
        self.draining = threading.Event()
        self.lock = threading.Lock()
        self.connections = set()
        self.in_flight = 0
        self.wake_read, self.wake_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.accept_thread = threading.Thread(target=self.accept_loop, name="accept", daemon=True)

    def start(self):
        self.accept_thread.start()

    def accept_loop(self):
        selector = selectors.DefaultSelector()
        for listener in self.listeners:
            # Non-blocking, because the accept queue is shared with other processes
            # (the next generation): readiness may be gone by the time we accept.
            listener.sock.setblocking(False)
            selector.register(listener.sock, selectors.EVENT_READ, listener)
        selector.register(self.wake_read, selectors.EVENT_READ, None)
        while not self.draining.is_set():
            for key, _ in selector.select():
                listener = key.data
                if listener is None or self.draining.is_set():
                    continue
                try:
                    sock, _ = listener.sock.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                except OSError as error:
                    log(f"worker {PID}: accept on {listener.name}: {error}")
                    time.sleep(0.05)
                    continue
                sock.setblocking(True)
                connection = Connection(self, sock, listener)
                with self.lock:
                    self.connections.add(connection)
                threading.Thread(target=connection.run, name="conn", daemon=True).start()
        selector.close()

    def connection_done(self, connection):
        with self.lock:
            self.connections.discard(connection)

    def request_started(self):
        with self.lock:
            self.in_flight += 1

    def request_finished(self):
        with self.lock:
            self.in_flight -= 1

    def drain(self):
        """Stops accepting, closes the listeners, waits for every connection to finish."""
        self.draining.set()
        os.write(self.wake_write, b"x")
        self.accept_thread.join()
        for listener in self.listeners:
            # close(), never shutdown(): the socket is shared with graced and the
            # next generation, and shutdown() would stop it for all of them.
            listener.sock.close()
        while True:
            with self.lock:
                if not self.connections:
                    return
            time.sleep(0.01)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_arguments(argv):
    parser = argparse.ArgumentParser(description="Example graced worker (socket-activated HTTP server).")
    parser.add_argument("--fd", type=int, action="append", default=[], metavar="N",
                        help="serve on fd N (repeatable) instead of the socket-activated fds")
    parser.add_argument("--work-ms", type=int, default=0, metavar="N", help="sleep N ms per request")
    parser.add_argument("--ready-after", type=float, default=0.0, metavar="SECONDS",
                        help="send READY=1 after this delay (default 0)")
    parser.add_argument("--no-notify", action="store_true", help="send nothing to NOTIFY_SOCKET")
    parser.add_argument("--never-ready", action="store_true", help="never send READY=1")
    parser.add_argument("--crash-at-start", action="store_true",
                        help='print "crashing on purpose" and exit 3 at once')
    parser.add_argument("--ignore-sigterm", action="store_true", help="ignore SIGTERM (only SIGKILL stops it)")
    parser.add_argument("--print-on-drain", metavar="TEXT", action="append", default=[],
                        help="print TEXT to stderr when draining starts (repeatable)")
    parser.add_argument("--exit-after", type=float, metavar="SECONDS", help="exit 1 after this time")
    parser.add_argument("--print-lines", type=int, default=0, metavar="N",
                        help='print N lines "output line <i>" to stdout at start')
    parser.add_argument("--spawn-child", action="store_true",
                        help="start a child `sleep 1000` (killed with the worker)")
    return parser.parse_args(argv)


def spawn_child():
    """A `sleep 1000` child with no fds beyond 0-2; it dies with us (PR_SET_PDEATHSIG)."""
    def die_with_parent():
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:
            pass
    child = subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL, close_fds=True,
                             preexec_fn=die_with_parent)
    log(f"worker {PID} spawned child {child.pid}")
    return child


def main(argv):
    global INHERITED_FDS
    INHERITED_FDS = open_fds()
    args = parse_arguments(argv)

    for i in range(1, args.print_lines + 1):
        print(f"output line {i}", flush=True)

    if args.crash_at_start:
        log("crashing on purpose")
        sys.stdout.flush()
        os._exit(3)

    listeners = take_listeners(args.fd)
    names = ",".join(l.name for l in listeners)

    stop = threading.Event()

    def on_stop_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, signal.SIG_IGN if args.ignore_sigterm else on_stop_signal)
    signal.signal(signal.SIGINT, on_stop_signal)

    child = spawn_child() if args.spawn_child else None  # before any thread (preexec_fn)

    server = Server(listeners, args.work_ms / 1000.0, child)
    server.start()
    log(f"worker {PID} generation {os.environ.get('GRACED_GENERATION', '-')} serving on {names}")

    if not args.no_notify and not args.never_ready:
        def notify_ready():
            sd_notify(f"READY=1\nSTATUS=serving on {names}")
        if args.ready_after > 0:
            timer = threading.Timer(args.ready_after, notify_ready)
            timer.daemon = True
            timer.start()
        else:
            notify_ready()

    if args.exit_after is not None:
        def exit_on_purpose():
            log(f"worker {PID} exiting with status 1 after {args.exit_after}s on purpose")
            os._exit(1)
        timer = threading.Timer(args.exit_after, exit_on_purpose)
        timer.daemon = True
        timer.start()

    while not stop.is_set():
        stop.wait(0.5)

    log(f"worker {PID} draining")
    for text in args.print_on_drain:
        log(text)
    if not args.no_notify:
        sd_notify("STOPPING=1")
    server.drain()
    if child is not None:
        child.kill()
        child.wait()
    log(f"worker {PID} drained, exiting")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
