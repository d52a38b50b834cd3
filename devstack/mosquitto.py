"""A project-owned Mosquitto: generated config and its dynamic-security accounts and roles.

Accounts and access rules live in Mosquitto's dynamic-security plugin rather than in a
password file and an ACL file, because Mosquitto 2.0's ACL file cannot refuse a
subscription (it only filters deliveries): a device could join ingest's shared group
and make the broker drop acknowledged batches. The plugin checks every subscription,
and it binds each device account to one client id (its device id), so no device can
take over another device's or a service's session.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import queue
import secrets
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from devicecare.contracts.accounts import ServiceAccount
from devicecare.contracts.topics import (
    DOWNLINK_CHANNELS,
    UPLINK_CHANNELS,
    Channel,
    check_device_id,
    subscription,
    topic,
)
from devicecare.errors import StackError
from devicecare.mqttclient import MqttEndpoint, new_client
from devstack import processes

MAX_PACKET_BYTES = 32 * 1024 * 1024
"""Above the contract's payload limit, so oversized payloads reach ingest's dead letters."""

MAX_QUEUED_MESSAGES = 500_000
"""Per persistent session: what ingest may miss while it is down before the broker drops."""

PBKDF2_ITERATIONS = 101
"""Mosquitto's own default for its PBKDF2-SHA512 password hashes."""

AUTOSAVE_CHANGES = 100
"""Save the in-memory database after this many changes (each message queued for a session
is at least one). Mosquitto acknowledges before it writes, so a kill -9 loses at most
what it acknowledged since the last save: the bound that design.md states and
test_broker_durability checks. Saving after every change would narrow it, but each save
is a full snapshot: bench/broker_autosave.py measured 0.016x the baseline's rate while
queueing for a stopped ingest, against 0.29x at 100 changes."""

PLUGIN_PATHS = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"


def _acl(kind: str, topic_filter: str) -> dict[str, object]:
    return {"acltype": kind, "topic": topic_filter, "allow": True}


def _reads(topic_filter: str) -> list[dict[str, object]]:
    """Subscribe to a filter and receive what matches it."""
    return [_acl("subscribePattern", topic_filter), _acl("publishClientReceive", topic_filter)]


def service_acls(account: ServiceAccount) -> list[dict[str, object]]:
    """What each service account may do: by role, over every device's topics."""
    every = {c: subscription(c) for c in Channel}
    match account:
        case ServiceAccount.INGEST:
            acls = []
            for channel in UPLINK_CHANNELS:
                acls += _reads(every[channel])
                acls.append(_acl("subscribePattern", subscription(channel, shared_group="+")))
            return acls
        case ServiceAccount.NOTIFIER:
            return [_acl("publishClientSend", every[c]) for c in DOWNLINK_CHANNELS] + [
                *_reads(every[Channel.OFFER_RESPONSES]),
                *_reads(every[Channel.STATUS]),
            ]
        case ServiceAccount.MONITOR:
            return _reads(every[Channel.STATUS])
        case ServiceAccount.ADMIN:
            return [_acl("publishClientSend", CONTROL_TOPIC), *_reads(f"{CONTROL_TOPIC}/response")]


def device_acls(device_id: str) -> list[dict[str, object]]:
    """A device publishes on its own uplink topics and reads its own downlink topics only.

    Literal topics, one role per device: Mosquitto 2.0's plugin has no `%u` substitution.
    """
    uplink = [_acl("publishClientSend", topic(device_id, c)) for c in UPLINK_CHANNELS]
    downlink = [
        _acl(kind, topic(device_id, c))
        for c in DOWNLINK_CHANNELS
        for kind in ("subscribeLiteral", "publishClientReceive")
    ]
    return uplink + downlink


def _role(account: str) -> str:
    return f"service:{account}" if account.startswith("_") else f"device:{account}"


def _client(username: str, password: str) -> dict[str, object]:
    """A plugin client entry with the password hashed as the plugin stores it."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, 64)
    entry: dict[str, object] = {
        "username": username,
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": PBKDF2_ITERATIONS,
        "roles": [{"rolename": _role(username)}],
    }
    if not username.startswith("_"):
        entry["clientid"] = check_device_id(username)
    return entry


def security_config(services: dict[str, str], devices: dict[str, str]) -> dict[str, object]:
    """The plugin's whole configuration: every account, its role, and deny by default."""
    roles = [{"rolename": _role(a), "acls": service_acls(ServiceAccount(a))} for a in services]
    roles += [{"rolename": _role(d), "acls": device_acls(d)} for d in devices]
    return {
        "clients": [_client(name, pw) for name, pw in (services | devices).items()],
        "groups": [],
        "roles": roles,
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
    }


def find_binary(configured: Path | None) -> Path:
    if configured is not None and configured.is_file():
        return configured
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).is_file()),
        None,
    )
    if configured is not None or found is None:
        raise StackError(
            "mosquitto not found; run ./scripts/setup or set DEVICECARE_STACK__MOSQUITTO_BIN"
        )
    return Path(found)


@dataclass(frozen=True)
class LocalMosquitto:
    root: Path
    binary: Path
    host: str

    @property
    def config(self) -> Path:
        return self.root / "mosquitto.conf"

    @property
    def security(self) -> Path:
        """The dynamic-security plugin's state: accounts, roles; the plugin rewrites it."""
        return self.root / "dynamic-security.json"

    @property
    def log(self) -> Path:
        return self.root / "mosquitto.log"

    @property
    def persistence(self) -> Path:
        return self.root / "data"

    def write_config(self, port: int, services: dict[str, str], devices: dict[str, str]) -> None:
        """Generate the config and the accounts (service accounts plus known devices)."""
        user = processes.service_user("mosquitto")
        self.root.mkdir(parents=True, exist_ok=True)
        self.persistence.mkdir(exist_ok=True)
        self.config.write_text(
            "# generated by devicecare; regenerated at every `stack up`\n"
            + broker_conf(f"{port} {self.host}", find_plugin(), self.security, self.persistence)
        )
        write_security(self.security, services, devices, owner=user)
        processes.give_to(user, self.root, self.persistence)

    def start(self, port: int, timeout_s: float) -> int:
        proc = processes.spawn([str(self.binary), "-c", str(self.config)], self.log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StackError(
                    f"mosquitto exited at start ({proc.returncode}):\n{processes.tail(self.log)}"
                )
            if processes.port_open(self.host, port):
                return proc.pid
            time.sleep(0.05)
        processes.stop(proc.pid, "mosquitto", signal.SIGTERM, timeout_s=5)
        raise StackError(f"mosquitto did not listen on {port}:\n{processes.tail(self.log)}")

    def stop(self, pid: int) -> None:
        processes.stop(pid, "mosquitto", signal.SIGTERM, timeout_s=10)


def add_devices(admin: MqttEndpoint, devices: dict[str, str], timeout_s: float) -> None:
    """Create device accounts on the running broker, each with its role and bound client id.

    Sent as one dynamic-security command batch on `$CONTROL`; the plugin saves them in
    its file, so they survive a restart. Any refusal raises StackError with the reason.
    """
    commands: list[dict[str, object]] = []
    for device_id, password in devices.items():
        role = _role(check_device_id(device_id))
        commands.append({"command": "createRole", "rolename": role, "acls": device_acls(device_id)})
        commands.append(
            {
                "command": "createClient",
                "username": device_id,
                "password": password,
                "clientid": device_id,
                "roles": [{"rolename": role}],
            }
        )
    errors = [r["error"] for r in _control(admin, commands, timeout_s) if r.get("error")]
    if errors:
        raise StackError(f"the broker refused the device accounts: {sorted(set(errors))}")


def _control(
    admin: MqttEndpoint, commands: list[dict[str, object]], timeout_s: float
) -> list[dict[str, str]]:
    """Send commands to the dynamic-security plugin; return its responses."""
    answers: queue.Queue[object] = queue.Queue()
    client = new_client(admin, ServiceAccount.ADMIN.client_id(f"{os.getpid()}"))
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.put(reason)
    client.on_subscribe = lambda _c, _u, _m, codes, _p: answers.put(codes[0])
    client.on_message = lambda _c, _u, message: answers.put(message)
    try:
        client.connect(admin.host, admin.port, keepalive=30)
    except OSError as exc:
        raise StackError(f"the local broker is unreachable: {exc}") from exc
    client.loop_start()
    try:
        for step in ("connect", "subscribe"):
            answer = answers.get(timeout=timeout_s)
            if getattr(answer, "is_failure", True):
                raise StackError(f"the broker refused the account manager's {step}: {answer}")
            if step == "connect":
                client.subscribe(f"{CONTROL_TOPIC}/response", qos=1)
        client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
        message = answers.get(timeout=timeout_s)
        assert isinstance(message, mqtt.MQTTMessage)
        return list(json.loads(message.payload)["responses"])
    except queue.Empty:
        raise StackError("the broker did not answer the account manager") from None
    finally:
        client.disconnect()
        client.loop_stop()


def broker_conf(listener: str, plugin: Path, security: Path, persistence: Path) -> str:
    """The broker's settings, the same for the local stack and a deployment (docker compose):
    accounts and rules in the dynamic-security plugin, persistence saved on every change."""
    return (
        "per_listener_settings false\n"
        f"listener {listener}\n"
        "allow_anonymous false\n"
        f"plugin {plugin}\n"
        f"plugin_opt_config_file {security}\n"
        "persistence true\n"
        f"persistence_location {persistence}/\n"
        "autosave_on_changes true\n"
        f"autosave_interval {AUTOSAVE_CHANGES}\n"
        f"max_packet_size {MAX_PACKET_BYTES}\n"
        f"max_queued_messages {MAX_QUEUED_MESSAGES}\n"
        "max_queued_bytes 0\n"
        "set_tcp_nodelay true\n"
        "log_dest stdout\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
        "connection_messages false\n"
    )


def write_security(
    path: Path,
    services: dict[str, str],
    devices: dict[str, str],
    owner: pwd.struct_passwd | None = None,
) -> None:
    """The plugin's accounts file, readable by its owner only (the broker's account when
    given), replaced atomically."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(security_config(services, devices), out, indent=1)
    processes.give_to(owner, tmp)
    tmp.replace(path)


def password_variable(account: ServiceAccount) -> str:
    """The environment variable `devicecare stack broker-files` reads an account's password from."""
    return f"MQTT_{account.name}_PASSWORD"


def find_plugin() -> Path:
    """Mosquitto's dynamic-security plugin, shipped with the Debian package."""
    found = next((Path(p) for p in PLUGIN_PATHS if Path(p).is_file()), None)
    if found is None:
        raise StackError(
            "mosquitto_dynamic_security.so not found (looked in "
            f"{', '.join(PLUGIN_PATHS)}); run ./scripts/setup"
        )
    return found
