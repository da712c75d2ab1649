"""Process helpers for the benchmark: start, measure (/proc) and always stop.

Every process the benchmark starts goes through `Registry.spawn`, so that one
`Registry.stop_all()` in a `finally` can stop them all, together with every
descendant they forked (graced and Circus workers live in their own sessions,
so killing a process group would miss them: we walk /proc instead).
"""

import os
import signal
import socket
import subprocess
import threading
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------
# /proc readers
# --------------------------------------------------------------------------

def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (which may hold spaces)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2:].split()


def parent_map():
    """{pid: ppid} for every process on the machine."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(_stat_fields(entry)[1])
            except (OSError, ValueError, IndexError):
                pass   # exited while we looked
    return parents


def descendants(pid):
    """pid's children, grandchildren, ... (not pid itself)."""
    children = {}
    for child, parent in parent_map().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        return _stat_fields(pid)[0] != "Z"
    except (OSError, IndexError):
        return False


def rss_kib(pid):
    """VmRSS of one process in KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(roots):
    """Sum of VmRSS over the roots and all their descendants (shared pages count once per process)."""
    pids = set()
    for root in roots:
        if alive(root):
            pids.add(root)
            pids.update(descendants(root))
    return sum(rss_kib(p) for p in pids), len(pids)


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds; None if it is gone."""
    try:
        fields = _stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return None


def context_switches(pid):
    """Voluntary + involuntary context switches summed over all threads: counts wake-ups."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
    except OSError:
        return None
    return total


def listening_inodes(port):
    """Socket inodes listening on TCP 127.0.0.1/0.0.0.0/:: port (from /proc/net/tcp{,6})."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state, inode = parts[1], parts[3], parts[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except OSError:
            pass
    return inodes


def pids_holding(inodes):
    """Processes that have one of these socket inodes open."""
    wanted = {f"socket:[{i}]" for i in inodes}
    holders = set()
    if not wanted:
        return holders
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                if os.readlink(f"/proc/{entry}/fd/{fd}") in wanted:
                    holders.add(int(entry))
                    break
        except OSError:
            pass
    return holders


# --------------------------------------------------------------------------
# Network probes (127.0.0.1 only)
# --------------------------------------------------------------------------

def http_get(port, path="/", timeout=2.0):
    """One GET to 127.0.0.1:port; returns the status code, or None on any failure."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                data += chunk
            return int(data.split(b" ", 2)[1])
    except (OSError, ValueError, IndexError):
        return None


def wait_http_ok(port, timeout):
    """Polls until GET / answers 200 (True) or the timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_get(port, timeout=1.0) == 200:
            return True
        time.sleep(0.02)
    return False


def port_free(port):
    """Nothing listens on the port and we can bind it ourselves (with SO_REUSEADDR, as
    every server here does: TIME_WAIT leftovers of an earlier run do not count)."""
    if listening_inodes(port):
        return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


# --------------------------------------------------------------------------
# Registry of started processes
# --------------------------------------------------------------------------

class Registry:
    """Starts processes and guarantees they (and their descendants) are stopped."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs = []        # Popen objects we started
        self.seen = set()      # every pid we ever saw in our trees (for the final sweep)

    def spawn(self, argv, log_path=None, env=None, cwd=None, pass_fds=()):
        """Starts argv in its own session (a Ctrl-C on the terminal reaches only us,
        and we stop things in order); stdout+stderr go to log_path."""
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=env, cwd=cwd, pass_fds=pass_fds, start_new_session=True)
        finally:
            if log_path:
                log.close()
        with self.lock:
            self.procs.append(proc)
            self.seen.add(proc.pid)
        return proc

    def remember_tree(self, pid):
        """Records pid's current descendants, so the final sweep knows they are ours."""
        tree = descendants(pid)
        with self.lock:
            self.seen.update(tree)
        return tree

    def stop(self, proc, graceful=None, timeout=30.0):
        """Stops one started process and its whole tree: `graceful()` (or SIGTERM),
        wait up to `timeout`, then SIGKILL to whatever of the tree is left."""
        tree = set(self.remember_tree(proc.pid))
        if proc.poll() is None:
            try:
                if graceful is not None:
                    graceful()
                else:
                    proc.send_signal(signal.SIGTERM)
            except Exception:   # a failed polite stop must not prevent the hard one
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # Workers may outlive their supervisor for their drain: give them a moment.
        deadline = time.monotonic() + min(timeout, 10.0)
        while time.monotonic() < deadline and any(alive(p) for p in tree):
            time.sleep(0.05)
        for pid in [proc.pid, *tree]:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        with self.lock:
            if proc in self.procs:
                self.procs.remove(proc)

    def stop_all(self):
        """Hard stop of everything still registered (used in `finally`)."""
        with self.lock:
            procs = list(self.procs)
        for proc in procs:
            self.stop(proc, timeout=5.0)

    def sweep_ports(self, ports):
        """Final check: kills any of *our* processes still listening on our ports and
        returns a description of listeners that remain."""
        leftovers = []
        for port in ports:
            for pid in pids_holding(listening_inodes(port)):
                if pid in self.seen and pid != os.getpid():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                    leftovers.append(f"port {port}: killed leftover pid {pid}")
                else:
                    leftovers.append(f"port {port}: held by pid {pid} (not ours, left alone)")
        return leftovers
