#!/usr/bin/env python3
"""A socket-activated HTTP worker (fd 3) for the readiness integration tests.

    probe_worker.py [--mode accept|epoll] [--shutdown-on-term] [--exit-after SECONDS]

Every request gets 200 and {"pid": ..., "generation": ...}. It never sends READY=1.

Right before it first waits for a connection it prints
`accept-wait <unix time in seconds, microseconds>` on stderr, so a test can compare the
moment the worker began to wait with the moment graced logged it ready.

- `--mode accept` (default): the main thread blocks in accept(); `epoll`: a selectors
  loop (EpollSelector).
- `--shutdown-on-term`: on SIGTERM it calls shutdown(SHUT_RD) on the listener -- which
  stops the shared socket for every process, graced included -- then keeps "draining"
  for a second and exits 0. What a badly written server does; graced must listen again.
- otherwise SIGTERM closes the listener (stops accepting at once), waits `--drain`
  seconds (default 0.5) as if requests were in flight, and exits 0.
- `--exit-after S`: exits 1 S seconds after it started waiting (a crash loop).
- `--notify-first S`: sends READY=1 to $NOTIFY_SOCKET at once and starts waiting for
  connections only S seconds later (what gunicorn's master does: READY=1 before its
  workers have booted).
"""
import argparse
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time

PID = os.getpid()
GENERATION = os.environ.get("GRACED_GENERATION", "-")


def log(message):
    print(message, file=sys.stderr, flush=True)


def listener():
    if os.environ.get("LISTEN_PID") != str(PID) or os.environ.get("LISTEN_FDS", "0") == "0":
        sys.exit("expected a socket-activated listener (LISTEN_FDS, LISTEN_PID=own pid)")
    return socket.socket(fileno=3)


def handle(conn):
    with conn:
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        body = (json.dumps({"pid": PID, "generation": GENERATION}) + "\n").encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


def serve(conn):
    threading.Thread(target=handle, args=(conn,), daemon=True).start()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["accept", "epoll"], default="accept")
    parser.add_argument("--shutdown-on-term", action="store_true")
    parser.add_argument("--exit-after", type=float)
    parser.add_argument("--notify-first", type=float)
    parser.add_argument("--drain", type=float, default=0.5)
    args = parser.parse_args()
    sock = listener()
    stopping = threading.Event()

    def on_term(*_):
        if stopping.is_set():
            return
        stopping.set()
        if args.shutdown_on_term:
            log(f"worker {PID}: shutdown(SHUT_RD) on the listener, draining for 1 s")
            try:
                sock.shutdown(socket.SHUT_RD)
            except OSError as error:
                log(f"worker {PID}: shutdown: {error}")
            time.sleep(1)
        else:
            sock.close()
            time.sleep(args.drain)
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)

    if args.exit_after is not None:
        def crash():
            log(f"worker {PID}: exiting with status 1 on purpose")
            os._exit(1)
        timer = threading.Timer(args.exit_after, crash)
        timer.daemon = True
        timer.start()

    if args.notify_first is not None:
        path = os.environ.get("NOTIFY_SOCKET", "")
        if path:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
                notify.sendto(b"READY=1", "\0" + path[1:] if path.startswith("@") else path)
            log(f"worker {PID}: sent READY=1, accepting in {args.notify_first} s")
        time.sleep(args.notify_first)

    if args.mode == "accept":
        # O_NONBLOCK belongs to the open file description, which graced and every
        # generation share: an earlier generation's event loop may have set it.
        sock.setblocking(True)
        log(f"accept-wait {time.time():.6f} pid {PID} generation {GENERATION}")
        while True:
            try:
                conn, _ = sock.accept()
            except OSError as error:
                # EINVAL while another process has shut the shared socket down: wait
                # for graced to listen again.
                time.sleep(0.01)
                continue
            serve(conn)
    else:
        sock.setblocking(False)
        selector = selectors.EpollSelector()
        selector.register(sock, selectors.EVENT_READ)
        log(f"accept-wait {time.time():.6f} pid {PID} generation {GENERATION}")
        while True:
            for _ in selector.select():
                try:
                    conn, _ = sock.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    time.sleep(0.01)
                    continue
                conn.setblocking(True)
                serve(conn)


if __name__ == "__main__":
    main()
