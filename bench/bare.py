"""The baseline for bench/ingest.py: a Starlette endpoint that answers 204 without reading
the body, run by the same uvicorn settings as `ctrlens serve`."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def collect(request: Request) -> Response:
    return Response(status_code=204)


app = Starlette(routes=[Route("/e", collect, methods=["POST"])])
