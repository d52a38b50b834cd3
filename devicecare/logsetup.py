"""Logging is configured once, here, by the entry point."""

import logging

from rich.logging import RichHandler


def configure(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(name)s: %(message)s",
        handlers=[
            RichHandler(
                show_path=False, rich_tracebacks=False, log_time_format="%Y-%m-%dT%H:%M:%S%z"
            )
        ],
        force=True,
    )
