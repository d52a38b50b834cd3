"""The agent over TLS, with a CA file and a client certificate, against a real Mosquitto."""

from __future__ import annotations

import shutil
import signal
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from agent.consent import Consent, record
from devicecare.config import Settings
from devicecare.contracts import Channel, TelemetryBatch, decode, topics
from devicecare.contracts.accounts import ServiceAccount
from devicecare.endpoints import mqtt_endpoint
from devicecare.mqttclient import MqttEndpoint
from devstack import local, processes
from devstack.mosquitto import find_plugin
from devstack.state import stack_dir
from tests.support.agent_process import AgentProcess, fake_device, write_config
from tests.support.mqtt_clients import connect
from tests.support.polling import wait_for
from tests.support.tls_certs import Certificates, make

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class TlsBroker:
    port: int
    certs: Certificates

    def endpoint(self, plain: MqttEndpoint) -> MqttEndpoint:
        return replace(
            plain,
            port=self.port,
            tls=True,
            ca_file=str(self.certs.ca),
            cert_file=str(self.certs.client_cert),
            key_file=str(self.certs.client_key),
        )


@pytest.fixture
def tls_broker(stack: Settings, device_id: str) -> Iterator[TlsBroker]:
    """A second Mosquitto with a TLS listener that requires client certificates, with a
    copy of the stack's accounts and roles (the device is provisioned before it starts)."""
    local.provision_devices(stack, [device_id])
    folder = Path(tempfile.mkdtemp(prefix="devicecare-test-tls-"))
    folder.chmod(0o755)
    certs = make(folder, device_id)
    port = processes.free_port("127.0.0.1")
    accounts = folder / "dynamic-security.json"
    shutil.copy(stack_dir(stack) / "mosquitto" / accounts.name, accounts)
    config = folder / "mosquitto.conf"
    config.write_text(
        f"per_listener_settings false\nlistener {port} 127.0.0.1\n"
        f"cafile {certs.ca}\ncertfile {certs.server_cert}\nkeyfile {certs.server_key}\n"
        "require_certificate true\nallow_anonymous false\n"
        f"plugin {find_plugin()}\nplugin_opt_config_file {accounts}\n"
        "log_dest stdout\n"
    )
    user = processes.service_user("mosquitto")
    processes.give_to(user, *folder.iterdir())
    proc = processes.spawn(["mosquitto", "-c", str(config)], folder / "log")
    wait_for(lambda: processes.port_open("127.0.0.1", port), 10, "the TLS listener")
    try:
        yield TlsBroker(port, certs)
    finally:
        processes.stop(proc.pid, "mosquitto", signal.SIGTERM, 10)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_agent_streams_over_tls_with_a_client_certificate(
    stack: Settings, tls_broker: TlsBroker, device_id: str, tmp_path: Path
) -> None:
    listener = connect(
        tls_broker.endpoint(mqtt_endpoint(stack, ServiceAccount.INGEST)), f"tls-{device_id}"
    )
    listener.subscribe(topics.topic(device_id, Channel.TELEMETRY))
    certs = tls_broker.certs
    config = write_config(
        tmp_path / "agent" / "agent.toml",
        device_id,
        mqtt_endpoint(stack, device_id),
        fake_device(tmp_path / "device"),
        mqtt_url=f"mqtts://127.0.0.1:{tls_broker.port}",
        ca_file=str(certs.ca),
        cert_file=str(certs.client_cert),
        key_file=str(certs.client_key),
    )
    agent = AgentProcess(config, tmp_path / "agent.log")
    record(agent.store(), device_id, Consent(telemetry=True))
    agent.start()
    got: list[TelemetryBatch] = []

    def arrived() -> bool:
        for message in listener.drain(0.1):
            batch = decode(topics.parse(message.topic), message.payload)
            assert isinstance(batch, TelemetryBatch)
            got.append(batch)
        return len(got) >= 2

    try:
        wait_for(arrived, 30, "telemetry over TLS")
    finally:
        assert agent.stop() == 0, agent.log.read_text()[-2000:]
        listener.close()


def test_a_server_the_ca_does_not_vouch_for_is_refused(
    stack: Settings, tls_broker: TlsBroker, device_id: str
) -> None:
    untrusting = replace(
        tls_broker.endpoint(mqtt_endpoint(stack, device_id)), ca_file=None
    )  # the system's CAs do not know the test CA
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(untrusting, device_id)
