"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served from the package, so the API's
documentation works with no internet access (FastAPI's defaults load both from a CDN).

The assets in ``api/static/`` are vendored from npm (see ``api/static/README.md``) and
mounted at ``/static`` by ``create_app``.
"""

# No `from __future__ import annotations`: FastAPI evaluates the endpoint annotations.

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"

router = APIRouter(include_in_schema=False)


def _prefix(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    prefix, app = _prefix(request), request.app
    assets = f"{prefix}{STATIC_PATH}/swagger-ui"
    return get_swagger_ui_html(
        openapi_url=f"{prefix}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon-32x32.png",
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    prefix, app = _prefix(request), request.app
    return get_redoc_html(
        openapi_url=f"{prefix}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{prefix}{STATIC_PATH}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{prefix}{STATIC_PATH}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )
