"""The baselines for ``make bench``: the cheapest useful FastAPI endpoint, bare (``app``)
and behind the instance's whole request middleware (``app_with_middleware``: request id,
access log, metrics, rate limits, security headers), so their ratio is the middleware's
cost.

Served by bench/run.py exactly like the app (uvicorn, uvloop + httptools, one process,
``--log-level warning --no-access-log``); every route's numbers are read relative to ``app``.

    .venv/bin/uvicorn --app-dir bench hello_app:app --port 8001
"""

from __future__ import annotations

import os

from fastapi import FastAPI

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


def _with_middleware() -> FastAPI:
    from quizplatform.api.middleware import RequestContextMiddleware
    from quizplatform.runtime.lifecycle import tune_gc
    from quizplatform.runtime.logging import configure_logging
    from quizplatform.runtime.settings import Settings
    from quizplatform.services.container import Services

    # Rate limits stay on (their cost is measured) but never refuse this load.
    unlimited = {group: "100000000/60" for group in ("auth", "import", "write", "read")}
    settings = Settings(
        env="staging",
        data_dir=os.environ.get("BENCH_HELLO_DATA_DIR", "var/bench"),
        rate_limits_per_ip=unlimited,
        rate_limits_per_user=unlimited,
    )
    configure_logging(settings)
    services = Services.create(settings)
    tune_gc()  # as the instance does once started
    full = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    # The same endpoint under /api/ so that the rate limiter counts it.
    full.add_api_route("/api/hello", hello, methods=["GET"])
    full.add_middleware(
        RequestContextMiddleware, settings=settings, services=services, docs_path="/docs"
    )
    return full


app_with_middleware = _with_middleware() if os.environ.get("BENCH_HELLO_MIDDLEWARE") else None
