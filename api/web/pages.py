"""The web pages' router: the owner's `/care`, the staff `/console`, and their static files
(CSS and the console's small script, served from the package: no CDN, no build step)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import FileResponse

from api.web import console, owner
from api.web.render import HERE

STATIC = HERE / "static"
ASSETS = frozenset(p.name for p in STATIC.iterdir() if p.is_file())

router = APIRouter(include_in_schema=False)
router.include_router(owner.router)
router.include_router(console.router)


@router.get("/static/web/{name}")
def asset(name: Annotated[str, Path(max_length=100)]) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, detail=f"no asset {name!r}")
    return FileResponse(STATIC / name, headers={"cache-control": "max-age=3600"})
