"""A paho client made from the config: credentials, TLS, and what paho's log lines are worth.

Shared by the kiosk's own client (kiosk/messages/mqtt.py) and the start-up check of Home Assistant's command
topic (kiosk/messages/acl_probe.py), which must reach the broker exactly as the kiosk does, and once more as a
stranger would (no user name, no client certificate).
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt

from ..config import Config
from ..errors import KioskError

log = logging.getLogger("kiosk.mqtt")

# paho logs these at ERROR although each only says that the connection is down: its loop runs once more
# after a clean disconnect ("Client is not connected"), and again at every reconnect attempt while the
# broker is away. The kiosk says so itself, once, as a warning (kiosk/messages/mqtt.py, _on_disconnect); these
# keep their text at a level that does not claim an error.
_DEMOTED = (("Client is not connected", logging.DEBUG),
            ("failed to receive on socket", logging.INFO),
            ("timeout on socket", logging.INFO))


class PahoLog(logging.LoggerAdapter):
    """paho's logger (Client.enable_logger takes anything with a `log` method), with the lines above
    demoted; everything else, a callback's exception included, keeps paho's level."""

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if level > logging.INFO and isinstance(msg, str):
            level = next((lower for prefix, lower in _DEMOTED if msg.startswith(prefix)), level)
        super().log(level, msg, *args, **kwargs)


def read_secret(spec: str, resolve: Callable[[str], Path], key: str = "mqtt.password_file") -> str:
    """A secret from a file, or from a systemd credential ('credential:NAME'). Never logged."""
    if spec.startswith("credential:"):
        base = os.environ.get("CREDENTIALS_DIRECTORY")
        if not base:
            raise KioskError(f"config key '{key}': {spec} needs $CREDENTIALS_DIRECTORY "
                             "(LoadCredential= in the unit)")
        path = Path(base) / spec.split(":", 1)[1]
    else:
        path = resolve(spec)
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise KioskError(f"config key '{key}': cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise KioskError(f"config key '{key}': {path} is not UTF-8 text") from None


def new_client(cfg: Config, client_id: str, *, anonymous: bool = False) -> mqtt.Client:
    """A paho client (MQTT 3.1.1, clean session) set up to reach the configured broker: the kiosk's user
    name, password and client certificate, or with `anonymous` none of them (only the CA, so that the
    stranger is refused for who it is, not for a TLS mismatch). Bad TLS or password files raise
    KioskError naming the key."""
    m = cfg.mqtt
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                         clean_session=True)
    client.enable_logger(PahoLog(logging.getLogger("kiosk.paho"), {}))  # type: ignore[arg-type]
    if m.username and not anonymous:
        password = read_secret(m.password_file, cfg.resolve) if m.password_file else None
        client.username_pw_set(m.username, password)
    if m.tls:
        for key in ("ca_file", "cert_file", "key_file"):
            val = getattr(m, key)
            if val and not cfg.resolve(val).is_file():
                raise KioskError(f"config key 'mqtt.{key}': file not found: {cfg.resolve(val)}")
        try:
            client.tls_set(
                ca_certs=str(cfg.resolve(m.ca_file)) if m.ca_file else None,
                certfile=str(cfg.resolve(m.cert_file)) if m.cert_file and not anonymous else None,
                keyfile=str(cfg.resolve(m.key_file)) if m.key_file and not anonymous else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        except (ssl.SSLError, OSError) as exc:
            raise KioskError(f"config key 'mqtt.ca_file': cannot load TLS files: {exc}") from None
    return client


def callback(method):  # noqa: ANN001, ANN202
    """Wraps every paho callback of an object whose current client is `self.client`. An exception that reaches paho ends its network thread (nothing reads
    from the broker any more: no PUBACK, no command, no reconnect), so none may; and a replaced client's
    late calls are ignored."""

    @functools.wraps(method)
    def guarded(self, client, *args):  # noqa: ANN001, ANN202
        if client is not self.client:
            return None
        try:
            return method(self, client, *args)
        except Exception as exc:  # noqa: BLE001 - logged, and the network thread carries on
            log.error("mqtt: %s: unexpected %s: %s", method.__name__, type(exc).__name__, clip(str(exc)))
            return None

    return guarded


def clip(text: str, limit: int = 200) -> str:
    """One bounded line for the log from text that may come from the network."""
    text = text.encode("unicode_escape", "replace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."
