"""The long-running agent process, lean on purpose.

`devicecare agent run` replaces itself (exec) with `python -m agent`, so the process
that runs for months carries none of the command line's libraries (typer imports
pydantic to parse options: about 11 MB resident that the agent has no use for).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from agent.runner import Agent
from agent.settings import load_agent_settings
from agent.store import Store


def run(config: Path | None) -> None:
    settings, path = load_agent_settings(config)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    store = Store(settings.state_path(path) / "agent.db", settings.queue_budget_bytes)
    try:
        Agent(settings, store).run(stop)
    finally:
        store.close()
