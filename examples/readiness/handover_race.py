#!/usr/bin/env python3
"""Handover race without graced: is a failed request during a reload the server's own doing?

    handover_race.py COMMAND...      ("{port}" and "{fd:http}" in COMMAND are replaced)
    env: N handovers (3), W seconds between starting the new process and SIGTERM to the
         old one (2.5), K=0 never sends SIGTERM, P request path (/)

Binds one listener and keeps it (as graced does), starts the server on it as fd 3
(LISTEN_FDS=1, LISTEN_PID), and under load from 4 threads (new connection per request)
N times starts a second copy and SIGTERMs the first. Run from examples/readiness, e.g.
    N=10 W=3 python3 handover_race.py python3 -m hypercorn --bind fd://3 asgi_app:app
Measured here (ReadinessTests notes): uvicorn 2 resets in 10 handovers, hypercorn 5,
twistd 1 in 3, Puma 1 in 10, py_server.py epoll 0; K=0 (no SIGTERM) hypercorn 0.
"""
import os, socket, subprocess, sys, threading, time, signal
cmd = sys.argv[1:]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 0)); s.listen(128)
port = s.getsockname()[1]
def spawn():
    def pre():
        os.dup2(s.fileno(), 3); os.set_inheritable(3, True); os.setpgid(0, 0)
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES="http")
    return subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"] + [c.replace("{port}", str(port)).replace("{fd:http}", "3") for c in cmd],
                            env=env, preexec_fn=pre, pass_fds=(s.fileno(),), cwd=os.path.dirname(os.path.abspath(__file__)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
stop = False; ok = 0; fails = []
path = os.environ.get("P", "/")
def load():
    global ok
    while not stop:
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            data = b""
            while True:
                d = c.recv(65536)
                if not d: break
                data += d
            c.close()
            if data.startswith(b"HTTP/1.") and b" 200 " in data[:20]: ok += 1
            else: fails.append("bad:" + repr(data[:40]))
        except Exception as e:
            fails.append(repr(e))
gens = [spawn()]
time.sleep(3)
ts = [threading.Thread(target=load) for _ in range(4)]
[t.start() for t in ts]
for i in range(int(os.environ.get("N","3"))):
    time.sleep(1)
    gens.append(spawn()); time.sleep(float(os.environ.get("W","2.5")))
    if os.environ.get("K","1")=="1": gens[-2].send_signal(signal.SIGTERM)
time.sleep(1.5)
stop = True; [t.join() for t in ts]
for g in gens: 
    try: os.killpg(g.pid, 9)
    except Exception: pass
print(cmd[2] if len(cmd) > 2 else cmd, "ok", ok, "failed", len(fails), fails[:3])
