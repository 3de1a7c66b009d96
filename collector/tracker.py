"""GET /ctr.js, /ctr-debug.js and /ctr-overlay.js: the built snippet and its two lazily loaded
overlays, gzipped once, with an ETag.

The tag users paste has no version in its URL, so the script is cached for an hour and
revalidated with its ETag (304) after that; a new release reaches every site within the hour.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from ctrlens.collector.errors import NotFound

SCRIPTS = {"ctr.js": "ctr.js", "ctr-debug.js": "ctr-debug.js", "ctr-overlay.js": "ctr-overlay.js"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str


def load_asset(directory: Path, name: str) -> Asset | None:
    path = directory / name
    if not path.is_file():
        return None
    body = path.read_bytes()
    return Asset(body, gzip.compress(body, 9, mtime=0), '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


class Scripts:
    def __init__(self, directory: Path) -> None:
        self.assets = {route: load_asset(directory, name) for route, name in SCRIPTS.items()}

    async def serve(self, request: Request) -> Response:
        asset = self.assets.get(request.url.path.lstrip("/"))
        if asset is None:
            raise NotFound("the snippet has not been built (see 'Building the snippet' in README.md)")
        headers = {
            "ETag": asset.etag,
            "Cache-Control": "public, max-age=3600",
            "Vary": "Accept-Encoding",
            "Access-Control-Allow-Origin": "*",
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
        if asset.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        body = asset.body
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = asset.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)
