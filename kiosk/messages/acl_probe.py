"""Is Home Assistant's unsigned command topic really guarded by the broker? Asked of the broker itself.

`commands.home_assistant` accepts a plain `open` on <prefix>/<id>/ha_command because the broker's ACL
is supposed to let no one but Home Assistant write that topic; a user name in our config proves nothing
about that. So before the kiosk listens there, a client with no user name and no client certificate
(what anyone on the network can be) publishes a random token on the topic while a client of the
kiosk's own user listens to it:

- the broker refuses the stranger's connection, or its token does not arrive: CLOSED;
- the token arrives: anyone who can reach the broker can open the gate: OPEN;
- the kiosk's own user cannot connect or subscribe now (the broker is away): UNKNOWN, asked again later.

With MQTT 3.1.1 mosquitto acknowledges a publish that its ACL drops, so "does not arrive" would need a
long wait. Instead, once the stranger's publish is acknowledged, the kiosk's user publishes a second
token on the topic: the broker has handled the stranger's message by then, so if it was let through it
reaches the listener first. Without that second token (the kiosk's user may not write there) the
probe waits `timeout` seconds. This proves nothing about other users of the broker: that stays the
ACL's job (docs/home-assistant.md).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any, Callable

import paho.mqtt.client as mqtt

from ..config import Config
from ..errors import KioskError
from .discovery import command_topic
from .mqtt_client import new_client

log = logging.getLogger("kiosk.mqtt")

CLOSED, OPEN, UNKNOWN = "closed", "open", "unknown"


def open_broker_message(cfg: Config) -> str:
    """The one-line refusal when the stranger's token arrived (exit 2, as a config error)."""
    return (f"config key 'commands.home_assistant': the broker lets an anonymous client publish on "
            f"{command_topic(cfg)}, so anyone who can reach it can open the gate; fix the broker's ACL "
            "(allow_anonymous false, or an acl_file that lets only Home Assistant's user write that topic: "
            "docs/home-assistant.md) or set commands.home_assistant_accept_open_broker = true")


class _Listener:
    """The kiosk's own user, subscribed to the command topic, noting the two tokens."""

    def __init__(self, cfg: Config, topic: str, tokens: tuple[bytes, bytes]) -> None:
        self.topic, self.tokens = topic, tokens
        self.ready = threading.Event()  # subscribed, or refused (then `failure` says why)
        self.got: list[bytes] = []
        self.arrived = threading.Event()
        self.failure: str | None = None
        self.client = new_client(cfg, f"maskgate-{cfg.kiosk.id}-aclcheck-{secrets.token_hex(3)}")
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_connect_fail = self._on_connect_fail

    # paho's thread: every exception caught, nothing from the network trusted beyond a comparison
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        try:
            if rc.is_failure:
                self.failure = f"the kiosk's user was refused: {rc}"
                self.ready.set()
            else:
                client.subscribe(self.topic, qos=1)
        except Exception as exc:  # noqa: BLE001 - reported as no answer
            self.failure = f"{type(exc).__name__}"
            self.ready.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self.failure = "the broker cannot be reached"
        self.ready.set()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        try:
            if any(getattr(c, "is_failure", False) for c in codes or ()):
                self.failure = "the kiosk's user may not subscribe to it"
        finally:
            self.ready.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            if msg.payload in self.tokens and len(self.got) < 2:
                self.got.append(bytes(msg.payload))
                self.arrived.set()
        except Exception:  # noqa: BLE001, S110 - a bad message is simply not a token
            pass


def _end(client: mqtt.Client) -> None:
    try:
        client.disconnect()
    finally:
        client.loop_stop()


def probe_command_topic(cfg: Config, timeout: float = 3.0) -> tuple[str, str]:
    """(CLOSED | OPEN | UNKNOWN, why) for <prefix>/<id>/ha_command on the configured broker; takes at most
    about 3 x `timeout`. Never raises for what the network does; bad TLS or password files raise
    KioskError as for the kiosk's own client."""
    m, topic = cfg.mqtt, command_topic(cfg)
    stranger_token = b"maskgate acl check (anonymous) " + secrets.token_hex(8).encode()
    own_token = b"maskgate acl check (kiosk) " + secrets.token_hex(8).encode()
    listener = _Listener(cfg, topic, (stranger_token, own_token))
    stranger = new_client(cfg, f"maskgate-aclcheck-{secrets.token_hex(4)}", anonymous=True)
    answered = threading.Event()
    refused: list[str] = []

    def on_stranger_connect(client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            refused.append(str(rc))
        answered.set()

    def on_stranger_gone(client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        answered.set()  # closed before (or instead of) its CONNACK: TLS without a certificate, say

    stranger.on_connect = on_stranger_connect
    stranger.on_disconnect = on_stranger_gone
    stranger.on_connect_fail = lambda client, userdata: answered.set()
    started: list[mqtt.Client] = []
    try:
        try:
            listener.client.connect_async(m.host, m.port, keepalive=max(m.keepalive, 10))
            listener.client.loop_start()
            started.append(listener.client)
        except (ValueError, OSError) as exc:
            return UNKNOWN, f"cannot reach the broker: {exc}"
        if not listener.ready.wait(timeout) or listener.failure:
            return UNKNOWN, listener.failure or f"the kiosk's user did not connect within {timeout:g} s"
        try:
            stranger.connect_async(m.host, m.port, keepalive=10)
            stranger.loop_start()
            started.append(stranger)
        except (ValueError, OSError) as exc:
            return CLOSED, f"an anonymous client cannot connect: {exc}"
        if not answered.wait(timeout) or refused or not stranger.is_connected():
            return CLOSED, f"the broker refuses anonymous clients ({refused[0] if refused else 'no session'})"
        info = stranger.publish(topic, stranger_token, qos=1)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError):
            pass  # not sent: the broker dropped the stranger, so its token will not come either
        listener.client.publish(topic, own_token, qos=1)
        deadline = time.monotonic() + timeout
        while not listener.got and time.monotonic() < deadline:
            listener.arrived.wait(0.05)
        if listener.got and listener.got[0] == stranger_token:
            return OPEN, "an anonymous client's message on the topic was delivered"
        return CLOSED, "an anonymous client's message on the topic was dropped by the broker"
    finally:
        for client in started:
            try:
                _end(client)
            except Exception as exc:  # noqa: BLE001 - the answer is known; a failing goodbye changes nothing
                log.debug("mqtt: acl check: ending a client: %s", exc)


class CommandTopicGuard:
    """Whether the kiosk may listen to Home Assistant's command topic (`guarded`), for MqttPublisher.

    `check_at_start()` asks the broker (above): OPEN ends the start with KioskError (exit 2), CLOSED
    opens the topic, UNKNOWN (broker away) leaves it shut and `recheck()` asks again in the background
    at the next connection. With commands.home_assistant_accept_open_broker it is open unasked."""

    def __init__(self, cfg: Config, timeout: float = 3.0) -> None:
        self.cfg, self.timeout = cfg, timeout
        self.enabled = cfg.commands.home_assistant
        self.guarded = self.enabled and cfg.commands.home_assistant_accept_open_broker
        self._thread: threading.Thread | None = None

    def check_at_start(self) -> None:
        """Raises KioskError when an anonymous client can write the topic (and the risk is not accepted)."""
        if not self.enabled:
            return
        if self.guarded:
            log.warning("mqtt: commands.home_assistant_accept_open_broker = true: Home Assistant's commands on "
                        "%s are taken without checking that the broker lets only Home Assistant write there",
                        command_topic(self.cfg))
            return
        verdict, why = probe_command_topic(self.cfg, self.timeout)
        if verdict == OPEN:
            raise KioskError(open_broker_message(self.cfg))
        self._conclude(verdict, why, None)

    def recheck(self, on_guarded: Callable[[], None]) -> None:
        """Ask again in a thread of its own (one at a time) while the topic is shut; `on_guarded()` when
        it opens. Called from paho's network thread on each connection."""
        if not self.enabled or self.guarded or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._recheck, args=(on_guarded,), daemon=True,
                                        name="maskgate-acl-check")
        self._thread.start()

    def _recheck(self, on_guarded: Callable[[], None]) -> None:
        try:
            verdict, why = probe_command_topic(self.cfg, self.timeout)
            self._conclude(verdict, why, on_guarded)
        except Exception as exc:  # noqa: BLE001 - the topic stays shut; the next connection asks again
            log.warning("mqtt: checking %s failed: %s: %s", command_topic(self.cfg), type(exc).__name__, exc)

    def _conclude(self, verdict: str, why: str, on_guarded: Callable[[], None] | None) -> None:
        topic = command_topic(self.cfg)
        if verdict == CLOSED:
            log.info("mqtt: %s is guarded by the broker (%s); Home Assistant's commands are on", topic, why)
            self.guarded = True
            if on_guarded is not None:
                on_guarded()
        elif verdict == OPEN:  # found while running: the broker's ACL changed since the start
            log.error("mqtt: %s; Home Assistant's commands stay off", open_broker_message(self.cfg))
        else:
            log.warning("mqtt: cannot check now whether the broker guards %s (%s); Home Assistant's commands "
                        "are off until it can", topic, why)
