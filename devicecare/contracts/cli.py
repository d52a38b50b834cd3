"""`devicecare contracts`: the wire contract for third-party agent authors."""

from __future__ import annotations

from typing import Annotated

import msgspec
import typer

from devicecare.contracts.topics import Channel
from devicecare.contracts.wire import MESSAGE_TYPES

app = typer.Typer(help="The MQTT wire contract.", no_args_is_help=True)


@app.command()
def schema(
    channel: Annotated[Channel, typer.Argument(help="The channel whose payload to describe.")],
) -> None:
    """Print the JSON Schema of one channel's payload."""
    document = msgspec.json.schema(MESSAGE_TYPES[channel])
    print(msgspec.json.format(msgspec.json.encode(document)).decode())
