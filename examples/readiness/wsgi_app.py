"""A minimal WSGI app for gunicorn: GET /slow answers after 2 s.

    gunicorn --no-control-socket wsgi_app:app     (LISTEN_FDS=1: gunicorn uses fd 3)
"""
import time


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/slow":
        time.sleep(2)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]
