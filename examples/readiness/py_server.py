#!/usr/bin/env python3
"""A socket-activated HTTP server (fd 3) in one of several Python styles, to see how
graced's `ready = "accepting"` probe sees each of them.

    py_server.py MODE     MODE: accept | accept-threads | epoll | poll | select |
                                socketserver | asyncio

GET /slow answers after 2 s. SIGTERM: stop accepting at once (close the listener),
finish the requests in flight, exit 0. Needs LISTEN_FDS=1 and LISTEN_PID=<own pid>.
"""
import os
import selectors
import signal
import socket
import sys
import threading
import time

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"


def listener():
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        sys.exit("expected one socket-activated listener (LISTEN_FDS=1, LISTEN_PID=own pid)")
    sock = socket.socket(fileno=3)
    # O_NONBLOCK belongs to the socket, shared by every generation: an event-loop server
    # of an earlier generation may have set it.
    sock.setblocking(True)
    return sock


def handle(conn):
    with conn:
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        if data.startswith(b"GET /slow"):
            time.sleep(2)
        conn.sendall(RESPONSE)


def serve_accept(sock, threads):
    stopping = threading.Event()

    def stop(*_):
        stopping.set()
        # shutdown(SHUT_RD) would stop the socket for every process sharing it: close only.
        # A thread blocked in accept() stays blocked on a closed fd, so wake it with a
        # signal-interrupted accept: the handler runs in the main thread, which is the
        # accepting thread here, and accept() then fails with EBADF.
        sock.close()

    signal.signal(signal.SIGTERM, stop)
    workers = []
    while not stopping.is_set():
        try:
            conn, _ = sock.accept()
        except OSError:
            break
        if threads:
            t = threading.Thread(target=handle, args=(conn,))
            t.start()
            workers.append(t)
        else:
            handle(conn)
    for t in workers:
        t.join()


def serve_selector(sock, selector_class):
    sel = selector_class()
    sock.setblocking(False)
    sel.register(sock, selectors.EVENT_READ)
    stopping = threading.Event()
    workers = []

    def stop(*_):
        # Stop accepting at once; the loop notices within its timeout and drains.
        if not stopping.is_set():
            stopping.set()
            sel.unregister(sock)
            sock.close()

    signal.signal(signal.SIGTERM, stop)
    while not stopping.is_set():
        for key, _ in sel.select(timeout=0.5):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, OSError):
                continue
            conn.setblocking(True)
            t = threading.Thread(target=handle, args=(conn,))
            t.start()
            workers.append(t)
    for t in workers:
        t.join()


def serve_socketserver(sock):
    import http.server
    import socketserver

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/slow":
                time.sleep(2)
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = False
        block_on_close = True

        def __init__(self):
            socketserver.BaseServer.__init__(self, None, Handler)
            self.socket = sock

    server = Server()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()  # selectors.PollSelector
    sock.close()
    server.server_close()  # joins the request threads


def serve_asyncio(sock):
    import asyncio

    async def client(reader, writer):
        data = await reader.readuntil(b"\r\n\r\n")
        if data.startswith(b"GET /slow"):
            await asyncio.sleep(2)
        writer.write(RESPONSE)
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(client, sock=sock)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()  # stops accepting at once
        await server.wait_closed()  # waits for the connections in flight (3.12+)
        await asyncio.sleep(0)
        while len(asyncio.all_tasks()) > 1:
            await asyncio.sleep(0.05)

    asyncio.run(main())


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "accept"
    sock = listener()
    if mode == "accept":
        serve_accept(sock, threads=False)
    elif mode == "accept-threads":
        serve_accept(sock, threads=True)
    elif mode == "epoll":
        serve_selector(sock, selectors.EpollSelector)
    elif mode == "poll":
        serve_selector(sock, selectors.PollSelector)
    elif mode == "select":
        serve_selector(sock, selectors.SelectSelector)
    elif mode == "socketserver":
        serve_socketserver(sock)
    elif mode == "asyncio":
        serve_asyncio(sock)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
