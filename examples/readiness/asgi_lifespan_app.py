"""An ASGI app for uvicorn whose lifespan startup fails after 1.5 s when the file named
by $FAIL_STARTUP_IF exists (a deploy that breaks at startup); otherwise it starts at
once. Every request gets 200 and {"pid": ..., "generation": ...}.

    uvicorn --fd 3 asgi_lifespan_app:app
"""
import asyncio
import json
import os


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                flag = os.environ.get("FAIL_STARTUP_IF")
                if flag and os.path.exists(flag):
                    await asyncio.sleep(1.5)
                    await send({"type": "lifespan.startup.failed", "message": "database unreachable (on purpose)"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = (json.dumps({"pid": os.getpid(), "generation": os.environ.get("GRACED_GENERATION", "-")}) + "\n").encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
