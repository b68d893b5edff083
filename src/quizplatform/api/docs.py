"""The interactive API documentation (Swagger UI), served by the app itself.

FastAPI's default page loads Swagger UI from a CDN and starts it with an inline script,
which needs ``'unsafe-inline'`` in the page's script policy. Here the assets come from the
``swagger-ui-bundle`` package and the start-up code is a file of its own, so the page's
Content-Security-Policy allows scripts from this site only
(``api/middleware/security_headers.py``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

from quizplatform.api.v1 import API_PREFIX

DOCS_PATH = f"{API_PREFIX}/docs"
_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
_START = f"""window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{
    url: "{API_PREFIX}/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  }});
}});
"""
_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Quiz Platform API</title>
<link rel="stylesheet" href="{DOCS_PATH}/assets/swagger-ui.css">
<link rel="icon" href="{DOCS_PATH}/assets/favicon-32x32.png">
</head>
<body>
<main id="swagger-ui"></main>
<script src="{DOCS_PATH}/assets/swagger-ui-bundle.js"></script>
<script src="{DOCS_PATH}/assets/start.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
async def docs_page() -> HTMLResponse:
    return HTMLResponse(_PAGE)


@router.get(f"{DOCS_PATH}/assets/start.js")
async def docs_start() -> Response:
    return Response(
        _START,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get(f"{DOCS_PATH}/assets/{{name}}")
async def docs_asset(name: str) -> FileResponse:
    media_type = _ASSETS.get(name)
    if media_type is None:  # a fixed list: no path from the URL reaches the file system
        raise HTTPException(404)
    return FileResponse(
        Path(swagger_ui_path) / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400"},
    )
