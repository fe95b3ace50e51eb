"""The framework's floor for bench/throughput: bare Starlette, served as
`hallpass serve` serves Hallpass.

Two endpoints with Hallpass's addresses, so the load generator runs the same
loop against both: `POST /api/passes` reads and decodes a pass request's
JSON body and answers 201 with a Pass; `POST /api/passes/{id}/end` answers
200 with the ended Pass. The answers are Hallpass's own answers from the same
run (`--sample`, captured by bench/_throughput_main.py), re-encoded with the
id changed, so both send the same bytes. A request without the session
cookie is refused, as Hallpass would. No middleware, no store, no rules:
what is left is uvicorn, Starlette's routing and msgspec (Hallpass's JSON
library, so JSON costs the same on both sides).

The server is made by hallpass.service.serve.uvicorn_config (the very
options of `hallpass serve`: httptools, proxy headers, no access log, the
same logging) with only the app swapped, and run in the event loop the
`hallpass` command runs it in (hallpass.cli.run: uvloop).

    python -m bench._floor_app --port PORT --sample FILE
"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hallpass.cli import run
from hallpass.service.serve import serve_async, server_settings, uvicorn_config

SESSION_COOKIE = "hallpass_session"


class Sample(msgspec.Struct, frozen=True):
    """What Hallpass answered to one create and one end, decoded."""

    create: dict[str, Any]
    end: dict[str, Any]


def create_floor_app(sample: Sample) -> Starlette:
    encode = msgspec.json.Encoder().encode
    decode = msgspec.json.decode
    unauthenticated = encode({"error": {"code": "unauthenticated", "message": "Sign in."}})

    async def create_pass(request: Request) -> Response:
        if not request.cookies.get(SESSION_COOKIE):
            return Response(unauthenticated, 401, media_type="application/json")
        asked = decode(await request.body())
        answer = {
            **sample.create,
            "id": f"pass_{secrets.token_hex(10)}",
            "origin": asked["origin"],
            "destination": asked["destination"],
        }
        return Response(encode(answer), 201, media_type="application/json")

    async def end_pass(request: Request) -> Response:
        if not request.cookies.get(SESSION_COOKIE):
            return Response(unauthenticated, 401, media_type="application/json")
        answer = {**sample.end, "id": request.path_params["id"]}
        return Response(encode(answer), 200, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/api/passes", create_pass, methods=["POST"]),
            Route("/api/passes/{id}/end", end_pass, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sample", type=Path, required=True, help="JSON {create, end}")
    args = parser.parse_args()
    sample = msgspec.json.decode(args.sample.read_bytes(), type=Sample)
    config = uvicorn_config(server_settings(None, False), args.host, args.port)
    config.app = create_floor_app(sample)  # the same server, another app
    run(serve_async(config))


if __name__ == "__main__":
    main()
