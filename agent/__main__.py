"""`python -m agent [--config FILE]`: the agent daemon (what `devicecare agent run` execs)."""

import argparse
import sys
from pathlib import Path

from agent.daemon import run
from devicecare.errors import ConfigError

parser = argparse.ArgumentParser(prog="devicecare agent run", description=__doc__)
parser.add_argument("--config", type=Path, default=None, help="agent settings file")
try:
    run(parser.parse_args().config)
except ConfigError as exc:
    print(f"configuration error: {exc}", file=sys.stderr)
    sys.exit(2)
