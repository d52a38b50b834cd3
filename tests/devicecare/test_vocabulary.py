"""The shared vocabulary is spelled once, and every NOTIFY wakes someone.

Fault kinds, severities and NOTIFY channel names live in `devicecare/contracts`; every
other module (tests included) names them through the enums, so renaming or adding one
is a change in one place that the type checker and these tests follow. The SQL
migrations (CHECK constraints, the notifier's trigger) and the docs spell the values by
necessity and are read here only to check the channels.

Who wakes whom is checked statically: every channel that code or a migration NOTIFYs
must be one that some service LISTENs to, else a wake-up is lost (as the detectors'
`NOTIFY devicecare_findings` once was).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devicecare.contracts.vocabulary import FaultKind, NotifyChannel, Severity

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "devicecare" / "contracts"
MIGRATIONS = ROOT / "devicecare" / "db" / "migrations"
VOCABULARY = {
    v.value: f"{type(v).__name__}.{v.name}" for e in (FaultKind, Severity, NotifyChannel) for v in e
}
NOT_VOCABULARY_KEYWORDS = frozenset({"log_level"})
"""Keyword arguments whose strings only look like a severity (uvicorn's `log_level="info"`)."""
COMMAND = re.compile(r"^\s*(NOTIFY|LISTEN)\s+(\w+)?")
PG_NOTIFY = re.compile(r"pg_notify\(\s*'(\w+)'", re.IGNORECASE)


def python_files() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0].startswith(".") or path.is_relative_to(CONTRACTS):
            continue
        yield path


def parsed() -> Iterator[tuple[Path, ast.Module]]:
    for path in python_files():
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _exempt(tree: ast.Module) -> set[int]:
    """Ids of string nodes that are passed under a keyword known not to be vocabulary."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg in NOT_VOCABULARY_KEYWORDS
    }


def test_no_fault_kind_severity_or_channel_is_spelled_outside_the_contract() -> None:
    found = []
    for path, tree in parsed():
        exempt = _exempt(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in VOCABULARY
                and id(node) not in exempt
            ):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.append(f"{where}: {node.value!r} (use {VOCABULARY[node.value]})")
    assert not found, "vocabulary spelled as literals:\n" + "\n".join(found)


# ---------------------------------------------------------------- NOTIFY and LISTEN


@dataclass(frozen=True)
class Use:
    verb: str
    """NOTIFY or LISTEN."""
    channel: str | None
    """None: the channel name could not be resolved to a constant."""
    where: str


class _Constants:
    """Module-level string constants, followed through `from x import NAME` aliases."""

    def __init__(self, trees: dict[str, ast.Module]) -> None:
        self.trees = trees
        self.values: dict[str, dict[str, str]] = {}
        self.imports: dict[str, dict[str, tuple[str, str]]] = {}
        for module, tree in trees.items():
            values, imports = {}, {}
            for node in tree.body:
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                    for target in node.targets:
                        if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                            values[target.id] = node.value.value
                elif isinstance(node, ast.ImportFrom) and node.module:
                    for alias in node.names:
                        imports[alias.asname or alias.name] = (node.module, alias.name)
            self.values[module], self.imports[module] = values, imports

    def resolve(self, module: str, node: ast.expr) -> str | None:
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == NotifyChannel.__name__
        ):
            return NotifyChannel[node.attr].value
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.values.get(module, {}):
                return self.values[module][node.id]
            source = self.imports.get(module, {}).get(node.id)
            if source is not None:
                return self.values.get(source[0], {}).get(source[1])
        return None


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def python_uses() -> Iterator[Use]:
    trees = {_module(path): tree for path, tree in parsed()}
    constants = _Constants(trees)
    for module, tree in trees.items():
        if module == __name__:
            continue  # this checker's own messages
        for node in ast.walk(tree):
            where = f"{module}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.JoinedStr) and node.values:
                head = node.values[0]
                if not (isinstance(head, ast.Constant) and isinstance(head.value, str)):
                    continue
                match = COMMAND.match(head.value)
                if match is None:
                    continue
                channel = match.group(2)
                if channel is None and len(node.values) > 1:
                    part = node.values[1]
                    if isinstance(part, ast.FormattedValue):
                        channel = constants.resolve(module, part.value)
                yield Use(match.group(1).upper(), channel, where)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = COMMAND.match(node.value)
                if match is not None and match.group(2):
                    yield Use(match.group(1).upper(), match.group(2), where)
                for name in PG_NOTIFY.findall(node.value):
                    yield Use("NOTIFY", name, where)


def sql_uses() -> Iterator[Use]:
    for path in sorted(MIGRATIONS.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        for name in PG_NOTIFY.findall(text):
            yield Use("NOTIFY", name, path.name)
        for line in text.splitlines():
            match = COMMAND.match(line)
            if match is not None and match.group(2):
                yield Use(match.group(1).upper(), match.group(2), path.name)


def test_every_notify_wakes_a_listener() -> None:
    uses = [*python_uses(), *sql_uses()]
    unresolved = [u.where for u in uses if u.channel is None]
    assert not unresolved, f"NOTIFY/LISTEN with a channel that is no constant: {unresolved}"
    listened = {u.channel for u in uses if u.verb == "LISTEN"}
    notified = {u.channel for u in uses if u.verb == "NOTIFY"}
    lost = sorted(
        f"{u.channel} ({u.where})" for u in uses if u.verb == "NOTIFY" and u.channel not in listened
    )
    assert not lost, f"NOTIFY on channels nobody LISTENs to: {lost}"
    channels = {c.value for c in NotifyChannel}
    assert notified | listened <= channels, (
        f"channels missing from NotifyChannel: {(notified | listened) - channels}"
    )
    assert channels <= notified & listened, (
        f"NotifyChannel members unused: {channels - (notified & listened)}"
    )


def test_the_channel_check_sees_the_services() -> None:
    """The static check above is only as good as what it finds: the known wake-ups."""
    found = {(u.verb, u.channel, u.where.split(":")[0]) for u in [*python_uses(), *sql_uses()]}
    assert ("NOTIFY", NotifyChannel.INGEST.value, "ingest.writer") in found
    assert ("LISTEN", NotifyChannel.INGEST.value, "detectors.live.service") in found
    assert ("NOTIFY", NotifyChannel.NOTIFIER.value, "0005_notifier.sql") in found
    assert ("LISTEN", NotifyChannel.NOTIFIER.value, "notifier.store") in found
