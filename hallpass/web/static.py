"""The pages: `/` signs people in or sends them to their page; `/static/...` serves `web/`.

The pages need no build step; they are plain files served as they are, with
the right content types (the Content-Security-Policy forbids inline script,
so every script is a file of its own).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from hallpass.web.auth import current_user
from hallpass.web.errors import error_response

STATIC_PREFIX = "/static"
SIGN_IN_PAGE = "index.html"
# Each role's page: its address, and its file within web/.
ROLE_PAGES: dict[str, tuple[str, str]] = {
    "student": ("/student", "student.html"),
    "teacher": ("/teacher", "teacher.html"),
    "admin": ("/admin", "admin.html"),
    "kiosk": ("/kiosk", "kiosk.html"),
}

# The system's MIME table may lack these or name old types (application/javascript).
for _type, _suffix in (
    ("text/javascript", ".js"),
    ("text/javascript", ".mjs"),
    ("text/css", ".css"),
    ("image/svg+xml", ".svg"),
    ("application/manifest+json", ".webmanifest"),
    ("application/json", ".json"),
    ("font/woff2", ".woff2"),
):
    mimetypes.add_type(_type, _suffix)


def _page(web_dir: str, name: str) -> Response:
    path = Path(web_dir) / name
    if not path.is_file():
        return error_response(404, "not_found", "This page is not there yet.")
    return FileResponse(path, media_type="text/html; charset=utf-8")


def page_routes(web_dir: str) -> list[BaseRoute]:
    """`/`: the sign-in page, or a signed-in person's own page (a redirect);
    `/student`, `/teacher`, `/admin`, `/kiosk`: the pages (each checks who is
    signed in itself, through the API); `/static/...`: everything in web/."""

    async def home(request: Request) -> Response:
        user = await current_user(request)
        if user is not None and user.role in ROLE_PAGES:
            address, name = ROLE_PAGES[user.role]
            if (Path(web_dir) / name).is_file():
                return RedirectResponse(address, status_code=303)
        return _page(web_dir, SIGN_IN_PAGE)

    def page(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return _page(web_dir, name)

        return serve

    return [
        Route("/", home, methods=["GET"]),
        *(Route(address, page(name), methods=["GET"]) for address, name in ROLE_PAGES.values()),
        # check_dir=False: a deployment without pages still serves its API.
        Mount(STATIC_PREFIX, StaticFiles(directory=web_dir, check_dir=False), name="static"),
    ]
