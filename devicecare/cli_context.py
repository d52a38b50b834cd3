"""What command groups share: the server settings, loaded once on first use.

Loading lazily keeps commands that do not need them (the device agent's, which must stay
small in memory) from importing pydantic; a command that needs them still fails at its
start when a value is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from devicecare.config import Settings

FILL_SETTINGS = "devicecare.fill_settings"
"""Key in the click context's shared `meta` of a function that completes the loaded
settings; the command line sets it to fill them from the local development stack."""


def settings_of(ctx: typer.Context) -> Settings:
    root = ctx.find_root()
    if root.obj is None:
        from devicecare import logsetup
        from devicecare.config import load_settings

        fill: Callable[[Settings], Settings] = root.meta.get(FILL_SETTINGS, lambda s: s)
        root.obj = fill(load_settings())
        logsetup.configure(root.obj.log_level)
    return root.obj
