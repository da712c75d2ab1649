#!/usr/bin/env python3
"""examples/worker.py with extra faults, for graced's fault-injection tests.

    faulty_worker.py [FAULT OPTIONS] [--] [worker.py OPTIONS]

The fault options below are taken first; everything else goes to worker.py's own
main() unchanged (--work-ms, --ready-after, --never-ready, ...), so the process
serves HTTP on its socket-activated listeners exactly like worker.py once the fault
is set up.

Faults:
  --start-delay S        sleep S seconds before anything else (a window in which the
                         process exists but has neither accepted nor sent READY=1)
  --flood-stdout         a thread writes to stdout as fast as the pipe takes it
  --flood-stderr         the same on stderr
  --flood-line-bytes N   length of each flood line including its newline (default 100)
  --flood-mbps R         cap each flood stream at R MB/s (default 0: no cap)
  --long-line BYTES      write BYTES bytes of "x" to stdout without a newline at start
                         (from a thread: the worker serves meanwhile)
  --close-stdio          close stdout and stderr at start (graced sees EOF on both
                         pipes while the worker lives on); fds 1 and 2 are then
                         reopened on /dev/null so the worker's own prints still work
  --fork-holder          fork a child that keeps the listening sockets (fds 3...),
                         ignores SIGTERM, SIGINT and SIGHUP and sleeps for an hour; it
                         stays in the worker's process group, and is not killed when
                         the worker exits (no PR_SET_DEATHSIG): a careless
                         daemonizing server
  --holder-setsid        the holder also leaves the worker's session (setsid)
  --holder-pid-file P    the holder writes its pid into P (atomically)
"""

import argparse
import os
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_fault_arguments(argv):
    parser = argparse.ArgumentParser(add_help=True, description=__doc__.split("\n\n")[0])
    parser.add_argument("--start-delay", type=float, default=0.0)
    parser.add_argument("--flood-stdout", action="store_true")
    parser.add_argument("--flood-stderr", action="store_true")
    parser.add_argument("--flood-line-bytes", type=int, default=100)
    parser.add_argument("--flood-mbps", type=float, default=0.0)
    parser.add_argument("--long-line", type=int, default=0, metavar="BYTES")
    parser.add_argument("--close-stdio", action="store_true")
    parser.add_argument("--fork-holder", action="store_true")
    parser.add_argument("--holder-setsid", action="store_true")
    parser.add_argument("--holder-pid-file")
    faults, rest = parser.parse_known_args(argv)
    if rest and rest[0] == "--":
        rest = rest[1:]
    return faults, rest


def write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def flood(fd, line_bytes, mbps):
    """Writes lines of "y" to fd forever, as fast as the reader takes them or at mbps."""
    line = b"y" * max(0, line_bytes - 1) + b"\n"
    chunk = line * max(1, 65536 // len(line))
    budget_start = time.monotonic()
    sent = 0
    try:
        while True:
            write_all(fd, chunk)
            sent += len(chunk)
            if mbps > 0:
                ahead = sent / (mbps * 1e6) - (time.monotonic() - budget_start)
                if ahead > 0:
                    time.sleep(ahead)
    except OSError:
        pass   # the reader is gone: stop flooding, keep serving


def start_thread(target, *args):
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def fork_holder(pid_file, new_session):
    """Forks the child that keeps the listeners; returns its pid in the parent."""
    child = os.fork()
    if child != 0:
        return child
    try:
        if new_session:
            os.setsid()
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, signal.SIG_IGN)
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if null > 2:
            os.close(null)
        if pid_file:
            temporary = f"{pid_file}.{os.getpid()}.tmp"
            with open(temporary, "w") as handle:
                handle.write(f"{os.getpid()}\n")
            os.rename(temporary, pid_file)
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            time.sleep(1)
    finally:
        os._exit(0)


def main(argv):
    faults, rest = parse_fault_arguments(argv)
    if faults.start_delay > 0:
        time.sleep(faults.start_delay)

    if faults.fork_holder:
        # Before worker.py's threads exist, and before the fds are marked close-on-exec
        # (a fork keeps them regardless).
        holder = fork_holder(faults.holder_pid_file, faults.holder_setsid)
        print(f"faulty worker {os.getpid()}: forked listener holder {holder}", file=sys.stderr, flush=True)

    if faults.close_stdio:
        sys.stdout.flush()
        sys.stderr.flush()
        os.close(1)
        os.close(2)
        null = os.open("/dev/null", os.O_WRONLY)   # takes fd 1
        if null != 1:
            os.dup2(null, 1)
            os.close(null)
        os.dup2(1, 2)

    if faults.long_line > 0:
        def long_line():
            try:
                write_all(1, b"x" * faults.long_line)
            except OSError:
                pass
        start_thread(long_line)

    if faults.flood_stdout:
        start_thread(flood, 1, faults.flood_line_bytes, faults.flood_mbps)
    if faults.flood_stderr:
        start_thread(flood, 2, faults.flood_line_bytes, faults.flood_mbps)

    sys.path.insert(0, HERE)
    import worker   # noqa: E402  (PID is taken at import: after any fork above)
    worker.main(rest)


if __name__ == "__main__":
    main(sys.argv[1:])
