"""The baseline for ``make bench``: the cheapest useful FastAPI endpoint.

Served by bench/run.py exactly like the app (uvicorn, uvloop + httptools, one process,
``--log-level warning --no-access-log``); every route's numbers are read relative to it.

    .venv/bin/uvicorn --app-dir bench hello_app:app --port 8001
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
