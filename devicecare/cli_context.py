"""What command groups take from the root command: the settings loaded at start-up."""

import typer

from devicecare.config import Settings


def settings_of(ctx: typer.Context) -> Settings:
    settings = ctx.find_root().obj
    if not isinstance(settings, Settings):
        raise TypeError("the root command did not load the settings")
    return settings
