"""MQTT publishing with paho-mqtt 2.x: availability, state, events, stats and Home Assistant discovery.

Topics, under <prefix>/<kiosk id>/:
  availability  retained "online"/"offline"; also the last will
  state         retained JSON: gate, last decision, faults, counters
  events        one JSON per decision, QoS 1
  stats         JSON every stats_interval, QoS 0
  ha_image      with discovery and snapshots: the deciding face's crop (JPEG), not retained
  ha_event      with discovery: one Home Assistant event per decision (kiosk/messages/homeassistant.py), QoS 1,
                not retained, only while connected (an automation must not fire on an old refusal)
  command       signed commands in (kiosk/messages/commands.py); command_result: every answer
  ha_command    with commands.home_assistant: Home Assistant's button and select, trusted because the
                broker's ACL lets only Home Assistant write it

paho reconnects by itself (connect_async + loop_start) and keeps QoS 1 messages published while the
broker is away, so the kiosk never waits on the network: the frame loop only hands messages over.

Incoming messages (signed commands, Home Assistant's status) come from anyone with write access to
those topics. No callback lets an exception reach paho (it would end paho's network thread and with
it every PUBACK, command and reconnect), and the frame loop calls `health()` about once a second:
a client whose thread died or that stopped getting PUBACKs is replaced.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import paho.mqtt.client as mqtt

from ..closing import Closing
from ..config import Config
from ..errors import KioskError, RuntimeFault
from ..events import utc_now_iso
from ..outputs import CommandHandler
from .acl_probe import CommandTopicGuard
from .discovery import command_topic, discovery_messages, event_topic, image_topic, legacy_topics, migration_keys
from .ha_migration import MigrationRecord
from .homeassistant import event_payload
from .mqtt_client import callback as _callback
from .mqtt_client import clip, new_client, read_secret  # noqa: F401 - read_secret: imported from here by others
from .outbox import Outbox, Row

log = logging.getLogger("kiosk.mqtt")


# A client that is connected but gets no PUBACK for this long while messages wait is stuck (its network
# thread blocked). paho's keepalive notices a silent broker within 2 x keepalive, so this waits longer.
def default_ack_timeout(keepalive: float) -> float:
    """How long a connected client may go without a PUBACK while messages wait (see above)."""
    return 2 * keepalive + 15


# A replacement client that fails too within this many seconds ends the kiosk (exit 1, systemd restarts it).
REPLACE_WINDOW_S = 600.0
# Home Assistant says "online" once when it starts; more often than this is a flood, not a restart.
DISCOVERY_RESEND_MIN_S = 10.0


@dataclass
class Unacked:
    """A message handed to paho whose acknowledgement (QoS 1 PUBACK, QoS 0: sent) has not come yet."""

    row_id: int | None  # its outbox row; None for messages that are not kept in the outbox
    qos: int
    sent: float  # time.monotonic() of publish()
    on_ack: Callable[[], None] | None = None  # called on paho's network thread when it is acknowledged


class MqttPublisher(Closing):
    """The MQTT output (kiosk/outputs.py): the topics above, with paho-mqtt's own network thread.

    `outbox` (owned from here on: `close()` closes it too) keeps every event until the broker has
    acknowledged it; `migrations` remembers the one-time discovery steps done (kiosk/messages/ha_migration.py;
    None: in memory only). Building it checks the TLS and password files; nothing connects before
    `start()`.
    """

    name = "mqtt"

    def __init__(self, cfg: Config, model: dict[str, str], outbox: Outbox | None = None, *,
                 ack_timeout_s: float | None = None, migrations: MigrationRecord | None = None) -> None:
        m = cfg.mqtt
        self.cfg = cfg
        self.outbox = outbox
        self.migrations = migrations if migrations is not None else MigrationRecord(None)
        self.model = model
        self.base = f"{m.prefix}/{cfg.kiosk.id}"
        self.ack_timeout_s = default_ack_timeout(m.keepalive) if ack_timeout_s is None else ack_timeout_s
        # Acknowledgement bookkeeping of the current client: paho message id -> Unacked. An ack can arrive
        # (network thread) before publish() has returned the mid to us; such early acks wait in
        # _early_acks. Both start afresh with a new client: its ids mean nothing to the next one.
        self._unacked: dict[int, Unacked] = {}
        self._early_acks: set[int] = set()
        self._ack_lock = threading.Lock()
        # Held while a message is handed to the client and while the client is replaced, so that an
        # event is either in the backlog the new client sends or sent by it afterwards, in order.
        self._client_lock = threading.RLock()
        self.acked = 0
        # Set by subscribe() when remote commands are enabled; called from paho's network thread with
        # (payload, retained).
        self.on_command: CommandHandler | None = None
        # Home Assistant's unsigned topic is listened to only once the broker is known to guard it.
        self.ha_guard = CommandTopicGuard(cfg)
        self._last_state: str | None = None
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self._connected_at = 0.0
        self._last_ack = 0.0
        self._discovery_resent_at = -math.inf
        self._running = False
        self._closed = False
        self._thread: threading.Thread | None = None
        # Why the client was last replaced: `fault` until the new client connects, `last_fault` for ever.
        self.fault: str | None = None
        self.last_fault: str | None = None
        self.last_fault_ts: str | None = None
        self.replaced = 0
        self._replaced_at: float | None = None
        self.client = self._new_client()

    def _new_client(self) -> mqtt.Client:
        cfg = self.cfg
        client = new_client(cfg, cfg.mqtt.client_id or f"maskgate-{cfg.kiosk.id}")
        # Second line of defence behind @_callback: paho logs a callback's exception instead of raising it.
        client.suppress_exceptions = True
        client.max_queued_messages_set(10000)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.will_set(f"{self.base}/availability", "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background and send again what the outbox kept from before."""
        m = self.cfg.mqtt
        self.ha_guard.check_at_start()  # before we connect: an unguarded topic ends the start here
        with self._client_lock:
            self._connect()
            self._running = True
            if self.outbox is not None:
                backlog = self.outbox.pending()
                if backlog:
                    log.info("mqtt: %d events from before the restart are waiting for the broker", len(backlog))
                for row in backlog:  # oldest first; paho keeps them in order until the broker acks
                    self._send(row)
        log.info("mqtt: connecting to %s:%d as %s (topics under %s/)", m.host, m.port,
                 m.username or "anonymous", self.base)

    def _connect(self) -> None:
        m = self.cfg.mqtt
        try:
            self.client.connect_async(m.host, m.port, keepalive=m.keepalive)
        except (ValueError, OSError) as exc:
            raise KioskError(f"config key 'mqtt.host': {m.host}:{m.port}: {exc}") from None
        self.client.loop_start()
        # paho keeps its network thread in a private attribute and forgets it when the thread ends; our
        # own reference is how a thread that died (it does so silently but for a traceback) is noticed.
        self._thread = getattr(self.client, "_thread", None)

    def subscribe(self, on_command: CommandHandler) -> None:
        """Hand the signed commands arriving on <base>/command to `on_command(payload, retained)` and,
        with commands.home_assistant, Home Assistant's on <base>/ha_command to
        `on_command(payload, retained, channel="home_assistant")` (paho's thread)."""
        self.on_command = on_command
        if self.connected.is_set():  # otherwise _on_connect subscribes
            self._subscribe_commands(self.client)

    def _command_topics(self) -> list[str]:
        c = self.cfg.commands
        topics = []
        if c.enabled or not c.home_assistant:  # the signed topic, unless only Home Assistant's are on
            topics.append(f"{self.base}/command")
        if c.home_assistant and self.ha_guard.guarded:  # an unguarded topic is never listened to
            topics.append(command_topic(self.cfg))
        return topics

    def _subscribe_commands(self, client: mqtt.Client) -> None:
        for topic in self._command_topics():
            client.subscribe(topic, qos=1)

    def _on_ha_guarded(self) -> None:
        with self._client_lock:
            if self.connected.is_set() and not self._closed:
                self.client.subscribe(command_topic(self.cfg), qos=1)

    def close(self) -> None:
        """Say "offline" (when connected), end the client and close the outbox; again is a no-op."""
        with self._client_lock:  # a publish in progress finishes first; none starts afterwards
            if self._closed:
                return
            self._closed = True
        self._running = False
        client, thread = self.client, self._thread
        if self.connected.is_set() and thread is not None and thread.is_alive():
            self._wait_for_acks(2.0)
            info = client.publish(f"{self.base}/availability", "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)  # connected: this one does complete
            except (RuntimeError, ValueError):
                pass
        self.connected.clear()
        self._end(client, thread, join_s=5.0)
        if self.outbox is not None:
            self.outbox.close()

    stop = close  # the older name (tests, tools)

    @staticmethod
    def _end(client: mqtt.Client, thread: threading.Thread | None, join_s: float) -> None:
        """Disconnect a client and end its network thread: now, or once a stuck callback returns. Unlike
        loop_stop() it never waits for ever on a thread that may be stuck."""
        try:
            client.disconnect()
        except Exception as exc:  # noqa: BLE001 - a broken client is being dropped anyway
            log.debug("mqtt: disconnect of the old client: %s", exc)
        client._thread_terminate = True  # noqa: SLF001 - what loop_stop() sets, without its endless join
        if thread is not None and join_s > 0 and thread is not threading.current_thread():
            thread.join(join_s)

    # -- health (the frame loop's thread) ------------------------------------------------------
    def health(self, now: float | None = None) -> str | None:
        """Checked by the frame loop about once a second. None when MQTT works or is merely waiting for
        the broker. A client whose network thread died, or that gets no PUBACK for ack_timeout_s while
        connected, is replaced (the outbox sends again what it had not delivered); the reason is returned
        until the new client connects. Raises RuntimeFault when the replacement cannot be made or fails
        too within REPLACE_WINDOW_S: then systemd restarts the kiosk."""
        if not self._running:
            return self.fault
        now = time.monotonic() if now is None else now
        problem = self._problem(now)
        if problem is not None:
            self._replace(problem, now)
            return problem  # even if the new client connected already: the caller must see it once
        return self.fault

    def _problem(self, now: float) -> str | None:
        if self._thread is None or not self._thread.is_alive():
            return "network thread ended"
        if not self.connected.is_set():
            return None  # paho is reconnecting: the broker is away, not the client broken
        with self._ack_lock:
            waiting = [u.sent for u in self._unacked.values() if u.qos]
        if not waiting:
            return None
        since = max(min(waiting), self._connected_at, self._last_ack)
        if now - since <= self.ack_timeout_s:
            return None
        return f"no PUBACK for {now - since:.0f} s with {len(waiting)} messages waiting (network thread stuck)"

    def _replace(self, why: str, now: float) -> None:
        if self._replaced_at is not None and now - self._replaced_at < REPLACE_WINDOW_S:
            raise RuntimeFault(f"mqtt: {why}, again {now - self._replaced_at:.0f} s after the client was replaced")
        log.error("mqtt: %s; replacing the client (undelivered events wait in the outbox)", why)
        self.fault = self.last_fault = why
        self.last_fault_ts = utc_now_iso()
        self.replaced += 1
        self._replaced_at = now
        with self._client_lock:
            old, old_thread = self.client, self._thread
            try:
                new = self._new_client()
            except KioskError as exc:
                raise RuntimeFault(f"mqtt: cannot replace the client: {exc}") from None
            with self._ack_lock:
                self.client = new
                self._unacked.clear()
                self._early_acks.clear()
                self._last_ack = 0.0
                self.connected.clear()
            self._end(old, old_thread, join_s=0)
            try:
                self._connect()
            except KioskError as exc:
                raise RuntimeFault(f"mqtt: cannot replace the client: {exc}") from None
            for row in self.outbox.pending() if self.outbox is not None else []:
                self._send(row)

    def status(self) -> dict[str, Any]:
        """For the stats topic."""
        with self._ack_lock:
            unacked = sum(1 for u in self._unacked.values() if u.qos)
        return {"connected": self.connected.is_set(), "unacked": unacked, "outbox": self.pending_count(),
                "replaced": self.replaced, "fault": self.fault, "last_fault": self.last_fault,
                "last_fault_ts": self.last_fault_ts}

    # -- callbacks (paho's network thread) -------------------------------------------------
    @_callback
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.warning("mqtt: connection refused: %s", reason_code)
            return
        self._connected_at = time.monotonic()
        self.connected.set()
        if self.fault is not None:
            log.info("mqtt: connected with the new client; fault cleared")
            self.fault = None
        else:
            log.info("mqtt: connected")
        self._publish(f"{self.base}/availability", "online", 1, True)
        if self.on_command is not None:
            self._subscribe_commands(client)
            self.ha_guard.recheck(self._on_ha_guarded)
        if self.cfg.mqtt.discovery:
            client.subscribe(f"{self.cfg.mqtt.discovery_prefix}/status", qos=1)
            self._publish_discovery(legacy=True)
        self._publish_last_state()

    @_callback
    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if self.connected.is_set():
            log.warning("mqtt: disconnected (%s); reconnecting in the background", reason_code)
        self.connected.clear()

    @_callback
    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        topic = msg.topic
        commands = self._command_topics() if self.on_command is not None else []
        # Every subscribed topic is handled inside this try, so each gets the same guard; a command is
        # answered even when its handler fails.
        try:
            if topic in commands and topic == f"{self.base}/command":
                self.on_command(msg.payload, bool(msg.retain))
            elif topic in commands:  # Home Assistant's (only listed with commands.home_assistant)
                self.on_command(msg.payload, bool(msg.retain), channel="home_assistant")
            elif topic == f"{self.cfg.mqtt.discovery_prefix}/status":
                self._on_ha_status(msg.payload)
        except Exception as exc:  # noqa: BLE001 - a handler's bug must not silence the kiosk
            log.error("mqtt: message on %s (%d bytes): unexpected %s: %s", clip(topic), len(msg.payload),
                      type(exc).__name__, clip(str(exc)))
            if topic in commands:
                self.publish_command_result({"id": str(uuid.uuid4()), "ts": utc_now_iso(),
                                             "kiosk_id": self.cfg.kiosk.id, "command": None, "accepted": False,
                                             "reason": f"internal error: {type(exc).__name__}"})

    def _on_ha_status(self, payload: bytes) -> None:
        if payload != b"online":
            return
        now = time.monotonic()
        if now - self._discovery_resent_at < DISCOVERY_RESEND_MIN_S:
            log.debug("mqtt: Home Assistant 'online' again within %g s; discovery not re-sent",
                      DISCOVERY_RESEND_MIN_S)
            return
        self._discovery_resent_at = now
        log.info("mqtt: Home Assistant is back; re-sending discovery")
        self._publish_discovery(legacy=False)
        self._publish_last_state()

    def _publish_last_state(self) -> None:
        with self._lock:
            state = self._last_state
        if state is not None:
            self._publish(f"{self.base}/state", state, 1, True)

    # -- publishing ----------------------------------------------------------------------------
    def publish_event(self, event: dict[str, Any]) -> None:
        """Store the event in the outbox, then hand it to paho (QoS 1); sent again after a restart until
        the broker acknowledges it. Nothing happens after `close()`."""
        topic = f"{self.base}/events"
        payload = json.dumps(event, separators=(",", ":")).encode()
        self._publish_ha_event(event)
        if self.outbox is None:
            self._publish(topic, payload, 1)
            return
        with self._client_lock:  # stored and handed over as one, so a replacement cannot reorder it
            if self._closed:
                log.warning("mqtt: event %s after close, not published", event.get("id"))
                return
            row_id, dropped = self.outbox.put(topic, payload, 1)
            self._send(Row(row_id, topic, payload, 1, 0.0))
        if dropped:
            log.warning("mqtt: outbox full, dropped the %d oldest unsent events", dropped)
            notice = {"ts": utc_now_iso(), "kiosk_id": self.cfg.kiosk.id, "dropped": dropped,
                      "dropped_total": self.outbox.dropped_total()}
            self._publish(f"{self.base}/dropped", json.dumps(notice), 1)

    def _publish_ha_event(self, event: dict[str, Any]) -> None:
        """The decision as Home Assistant's event entity sees it; a moment's news, so never kept for
        later: not retained, not in the outbox, not queued while the broker is away."""
        if not self.cfg.mqtt.discovery or not self.connected.is_set() or "decision" not in event:
            return
        try:
            payload = json.dumps(event_payload(event), separators=(",", ":"))
        except (KeyError, TypeError) as exc:  # an event of another shape (tools, tests): the record still goes
            log.debug("mqtt: no Home Assistant event for %s: %s", event.get("id"), exc)
            return
        self._publish(event_topic(self.cfg), payload, 1)

    def publish_face(self, event_id: str, jpeg: bytes) -> None:
        """The last decision's face crop (JPEG) for Home Assistant's image entity: only with snapshots
        and discovery on, only while connected, never retained (the broker keeps no face)."""
        m = self.cfg.mqtt
        if self.cfg.snapshots.enabled and m.discovery and self.connected.is_set():
            self._publish(image_topic(self.cfg), jpeg, 1)

    def _send(self, row: Row) -> None:
        self._publish(row.topic, row.payload, row.qos, False, row.id)

    def _publish(self, topic: str, payload: str | bytes, qos: int, retain: bool = False,
                 row_id: int | None = None, on_ack: Callable[[], None] | None = None) -> None:
        """Every publish goes through here, so that every message id is known when its ack comes
        (`on_ack` is then called, on paho's thread). After `close()` nothing is sent (a late state from
        the gate's timer, say)."""
        with self._client_lock:
            if self._closed:
                return
            info = self.client.publish(topic, payload, qos=qos, retain=retain)
            if qos == 0 and info.rc != mqtt.MQTT_ERR_SUCCESS:
                return  # not sent, and no on_publish will come for it
            with self._ack_lock:
                if info.mid in self._early_acks:  # acked before we got here
                    self._early_acks.discard(info.mid)
                    if row_id is not None:
                        self._ack_row(row_id)
                    if on_ack is not None:
                        on_ack()
                else:
                    self._unacked[info.mid] = Unacked(row_id, qos, time.monotonic(), on_ack)

    @_callback
    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # noqa: ANN001
        # Called by paho's network thread with its message lock held: never publish from here.
        # QoS 0 messages are acknowledged here too (when sent): tracking them keeps a stale id of theirs
        # from passing, after the 16-bit ids wrap, for the PUBACK of a later event.
        with self._ack_lock:
            if client is not self.client:  # replaced since the check in _callback
                return
            entry = self._unacked.pop(mid, None)
            if entry is None:
                self._early_acks.add(mid)
                return
            if entry.qos:
                self._last_ack = time.monotonic()
            if entry.row_id is not None:
                self._ack_row(entry.row_id)
            if entry.on_ack is not None:
                entry.on_ack()

    def _ack_row(self, row_id: int) -> None:
        if self.outbox is not None:
            self.outbox.ack(row_id)
        self.acked += 1

    def _wait_for_acks(self, timeout: float) -> None:
        """On a clean stop, give the broker a moment to acknowledge what is in flight (the rest stays
        in the outbox for the next start)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.connected.is_set():
            with self._ack_lock:
                waiting = any(u.row_id is not None for u in self._unacked.values())
            if not waiting:
                return
            time.sleep(0.02)

    def pending_count(self) -> int:
        """Events in the outbox that the broker has not acknowledged."""
        return len(self.outbox) if self.outbox is not None else 0

    def publish_state(self, state: dict[str, Any]) -> None:
        """The retained state (QoS 1); kept, and sent again after each reconnect."""
        payload = json.dumps(state, separators=(",", ":"), sort_keys=True)
        with self._lock:
            self._last_state = payload
        self._publish(f"{self.base}/state", payload, 1, True)

    def publish_stats(self, stats: dict[str, Any]) -> None:
        """Stats at QoS 0, only while connected."""
        if self.connected.is_set():  # stats are a snapshot: stale ones are not worth queueing
            self._publish(f"{self.base}/stats", json.dumps(stats, separators=(",", ":")), 0)

    def publish_command_result(self, result: dict[str, Any]) -> None:
        """The answer to a command, QoS 1, not retained."""
        self._publish(f"{self.base}/command_result", json.dumps(result, separators=(",", ":")), 1)

    def _publish_discovery(self, legacy: bool) -> None:
        """The device message, retained, after and before the one-time steps still pending
        (kiosk/messages/discovery.py; the migration of the old topics only with `legacy`: on a new connection,
        not when Home Assistant merely came back). QoS 1 from one client: the broker keeps the order, so
        the acknowledgement of the last message means the steps are done, and they are not sent again."""
        keys = migration_keys(self.cfg)
        if not legacy:
            old = set(legacy_topics(self.cfg))
            keys = [k for k in keys if k not in old]
        pending = self.migrations.pending(keys)
        messages = discovery_messages(self.cfg, self.model, pending)
        for i, (topic, payload) in enumerate(messages):
            done = functools.partial(self.migrations.mark, pending) if pending and i == len(messages) - 1 else None
            self._publish(topic, payload, 1, True, on_ack=done)
