"""A minimal ASGI app for uvicorn and hypercorn: GET /slow answers after 2 s.

    uvicorn --fd 3 asgi_app:app          hypercorn --bind fd://3 asgi_app:app

WORK_MS (environment, default 0): every other request answers after that many ms
(bench/ sets 5, as for its other backends).
"""
import asyncio
import os

WORK_SECONDS = int(os.environ.get("WORK_MS", "0")) / 1000.0


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/slow":
        await asyncio.sleep(2)
    elif WORK_SECONDS:
        await asyncio.sleep(WORK_SECONDS)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"3")]})
    await send({"type": "http.response.body", "body": b"ok\n"})
