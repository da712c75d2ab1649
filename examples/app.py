"""Minimal WSGI app for running under graced with gunicorn (`gunicorn app:app`).

Every request gets a JSON body {"pid", "ppid", "generation"} after sleeping
WORK_MS milliseconds (environment variable, default 5) to simulate work;
`GET /health` gets "ok". Python 3 stdlib only.

Example graced command (gunicorn reads LISTEN_FDS/LISTEN_PID when started without --bind):
    command = ["/usr/bin/python3", "-m", "gunicorn", "--no-control-socket",
               "--chdir", "/path/to/examples", "app:app"]
"""

import json
import os
import time

WORK_SECONDS = int(os.environ.get("WORK_MS", "5")) / 1000.0


def app(environ, start_response):
    """The WSGI entry point."""
    if WORK_SECONDS > 0:
        time.sleep(WORK_SECONDS)
    if environ.get("PATH_INFO") == "/health":
        content_type, body = "text/plain", b"ok"
    else:
        document = {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "generation": os.environ.get("GRACED_GENERATION"),
        }
        content_type, body = "application/json", (json.dumps(document) + "\n").encode()
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
