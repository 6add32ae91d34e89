"""The demo web app at ``/``: plain HTML, CSS and JavaScript from ``api/static/app/`` (no
build step, no CDN), calling the public API like any client. Tested in headless Chromium by
``tests/web/test_browser.py``."""

# No `from __future__ import annotations`: FastAPI evaluates the endpoint annotations.

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.docs import STATIC_DIR

INDEX = STATIC_DIR / "app" / "index.html"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(INDEX, media_type="text/html; charset=utf-8")
