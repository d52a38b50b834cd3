"""What command groups share: the server settings, loaded once on first use.

Loading lazily keeps commands that do not need them (the device agent's, which must stay
small in memory) from importing pydantic; a command that needs them still fails at its
start when a value is wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from devicecare.config import Settings


def settings_of(ctx: typer.Context) -> Settings:
    root = ctx.find_root()
    if root.obj is None:
        from devicecare import logsetup
        from devicecare.config import load_settings

        root.obj = load_settings()
        logsetup.configure(root.obj.log_level)
    return root.obj
