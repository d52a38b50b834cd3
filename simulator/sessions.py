"""Publishing as the devices themselves: a pool of MQTT sessions with per-device accounts.

Phones upload in short sessions (wake, connect, publish, sleep). A pool of `connections`
workers does the same for the simulated fleet: each upload connects with that device's
own credentials (so the broker's ACL applies as for real agents), publishes QoS 1, waits
for every PUBACK and disconnects. A PUBACK saying nobody listens (0x10) is retried after
a pause, as the agent does: the run waits for the server rather than losing data.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import zlib
from dataclasses import dataclass, field

from devicecare.contracts import Channel, topics
from devicecare.mqttclient import MqttEndpoint, Outcome, Publisher

log = logging.getLogger(__name__)

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Upload:
    device_id: str
    password: str
    messages: list[tuple[Channel, bytes, bool]]
    """(channel, payload, retain)"""
    samples: int


@dataclass
class Counters:
    uploads: int = 0
    messages: int = 0
    samples: int = 0
    bytes: int = 0
    unheard_retries: int = 0
    failures: list[str] = field(default_factory=list)


class SessionPool:
    """Uploads of one device always go to the same worker, one after the other: a second
    session with the same client id would take the first one over (MQTT session takeover)."""

    def __init__(self, host: str, port: int, connections: int) -> None:
        self.host = host
        self.port = port
        self.queues: list[queue.Queue[Upload | None]] = [
            queue.Queue(maxsize=8) for _ in range(connections)
        ]
        self.counters = Counters()
        self.lock = threading.Lock()
        self.workers = [
            threading.Thread(target=self._work, args=(q,), name=f"session-{i}", daemon=True)
            for i, q in enumerate(self.queues)
        ]
        for worker in self.workers:
            worker.start()

    def submit(self, upload: Upload) -> None:
        self.queues[zlib.crc32(upload.device_id.encode()) % len(self.queues)].put(upload)

    def close(self) -> Counters:
        for jobs in self.queues:
            jobs.put(None)
        for worker in self.workers:
            worker.join()
        return self.counters

    def _work(self, jobs: queue.Queue[Upload | None]) -> None:
        while (job := jobs.get()) is not None:
            try:
                self._upload(job)
            except (OSError, TimeoutError, ConnectionError) as exc:
                with self.lock:
                    self.counters.failures.append(f"{job.device_id}: {exc}")
                log.error("upload of %s failed: %s", job.device_id, exc)

    def _upload(self, job: Upload) -> None:
        endpoint = MqttEndpoint(self.host, self.port, job.device_id, job.password)
        publisher = Publisher(endpoint, job.device_id, max_inflight=200)
        publisher.connect(keepalive=60)
        publisher.wait_connected(TIMEOUT_S)
        pending = list(job.messages)
        sent_bytes = 0
        while pending:
            sent = {}
            for channel, payload, retain in pending:
                mid = publisher.publish(
                    topics.topic(job.device_id, channel), payload, retain=retain
                )
                if mid is None:
                    raise ConnectionError(f"could not queue a {channel} message")
                sent[mid] = (channel, payload, retain)
            outcomes = publisher.wait(sent, TIMEOUT_S)
            pending = []
            for mid, (channel, payload, retain) in sent.items():
                if outcomes[mid] is Outcome.REFUSED:
                    raise ConnectionError(f"broker refused a {channel} message")
                if outcomes[mid] is Outcome.UNHEARD and not retain:
                    pending.append((channel, payload, retain))
                else:
                    sent_bytes += len(payload)
            if pending:
                with self.lock:
                    self.counters.unheard_retries += len(pending)
                time.sleep(1.0)
        publisher.close()
        with self.lock:
            c = self.counters
            c.uploads += 1
            c.messages += len(job.messages)
            c.samples += job.samples
            c.bytes += sent_bytes
