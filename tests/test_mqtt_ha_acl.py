"""Issue 34 item 11: Home Assistant's unsigned command topic is used only when the broker really guards
it. Real mosquitto with a password file and an ACL: the anonymous stranger is refused, or may connect but
not write the topic (closed), or may write it (open: the start ends with exit 2 and one line naming the
ACL, unless the installer accepts the risk); a broker away at the start is asked again on connection."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time

import pytest

from kiosk import cli
from kiosk.config import from_dict
from kiosk.errors import KioskError
from kiosk.messages.acl_probe import CLOSED, OPEN, UNKNOWN, probe_command_topic
from kiosk.messages.broker import free_port
from kiosk.messages.discovery import command_topic
from kiosk.messages.mqtt import MqttPublisher
from tests.conftest import DEMO_CLIP, Subscriber, new_broker
from tests.test_mqtt import MODEL, make_cfg
from tests.test_mqtt_homeassistant import AuthClient
from tests.waiting import publish_until, wait_until

USERS = """
user kiosk
topic readwrite maskgate/it/#
topic read homeassistant/status
topic write homeassistant/#

user homeassistant
topic read maskgate/#
topic write maskgate/+/ha_command
topic readwrite homeassistant/#
"""
# What an anonymous client may do: the lines before the first `user` in a mosquitto ACL file.
ANONYMOUS = {"read-only": "topic read maskgate/#\n", "open": "topic readwrite maskgate/#\n"}


def acl_broker(tmp_path, anonymous: str | None, port: int | None = None):
    """mosquitto with users kiosk and homeassistant; `anonymous` None: no anonymous clients at all."""
    if not shutil.which("mosquitto_passwd"):
        pytest.skip("mosquitto_passwd not installed")
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "kiosk", "kiosk-pass"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "homeassistant", "ha-pass"], check=True)
    (tmp_path / "acl").write_text(ANONYMOUS.get(anonymous, "") + USERS)
    return new_broker(tmp_path / "m", port=port, allow_anonymous=anonymous is not None,
                      extra_conf=f"password_file {pw}\nacl_file {tmp_path / 'acl'}\n")


def kiosk_cfg(tmp_path, port: int):
    cfg = make_cfg(port, "it")
    cfg.mqtt.username = "kiosk"
    (tmp_path / "pw").write_text("kiosk-pass\n")
    cfg.mqtt.password_file = str(tmp_path / "pw")
    cfg.commands.home_assistant = True
    return cfg


@pytest.mark.parametrize("anonymous, verdict", [(None, CLOSED), ("read-only", CLOSED), ("open", OPEN)])
def test_the_probe_asks_the_broker(tmp_path, anonymous, verdict):
    broker = acl_broker(tmp_path, anonymous).start()
    try:
        t0 = time.monotonic()
        got, why = probe_command_topic(kiosk_cfg(tmp_path, broker.port))
        took = time.monotonic() - t0
    finally:
        broker.stop()
    assert got == verdict, why
    assert took < 2.5  # the kiosk's own token ends the wait: no timeout spent on a dropped message
    assert "\n" not in why


def test_the_probe_without_a_broker_knows_nothing(tmp_path):
    got, why = probe_command_topic(kiosk_cfg(tmp_path, free_port()), timeout=1.0)
    assert got == UNKNOWN and why


def test_guarded_by_the_acl_commands_from_home_assistant_only(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    broker = acl_broker(tmp_path, "read-only").start()
    cfg = kiosk_cfg(tmp_path, broker.port)
    got: list[tuple[bytes, str]] = []
    pub = MqttPublisher(cfg, MODEL)
    pub.subscribe(lambda payload, retained, channel="signed": got.append((bytes(payload), channel)))
    ha = AuthClient(broker.port, "homeassistant", "ha-pass", [])
    try:
        pub.start()
        assert pub.ha_guard.guarded and "is guarded by the broker" in caplog.text
        assert pub.connected.wait(10)
        stranger = Subscriber(broker.port, ["maskgate/#"], client_id="stranger")  # anonymous: may read, not write
        stranger.client.publish(command_topic(cfg), b"open", qos=1).wait_for_publish(5)
        publish_until(lambda: ha.send(command_topic(cfg), b"auto"), lambda: bool(got))
        time.sleep(0.3)
        stranger.stop()
    finally:
        ha.stop()
        pub.stop()
        broker.stop()
    assert set(got) == {(b"auto", "home_assistant")}


def write_run_config(tmp_path, port: int, accept: bool):
    (tmp_path / "pw").write_text("kiosk-pass\n")
    path = tmp_path / "kiosk.toml"
    path.write_text(f"""
[kiosk]
id = "it"
state_dir = "{tmp_path / 'state'}"
[camera]
source = "{DEMO_CLIP}"
on_end = "exit"
fps = 30.0
[gpio]
backend = "mock"
[mqtt]
port = {port}
username = "kiosk"
password_file = "{tmp_path / 'pw'}"
[commands]
home_assistant = true
home_assistant_accept_open_broker = {str(accept).lower()}
""")
    return path


def test_an_open_broker_ends_the_start_with_one_line_and_exit_2(tmp_path, capsys):
    broker = acl_broker(tmp_path, "open").start()
    try:
        code = cli.main(["run", "--config", str(write_run_config(tmp_path, broker.port, False)),
                         "--max-seconds", "20"])
    finally:
        broker.stop()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert [line for line in err if line.startswith("error:")] == err[-1:]
    assert "config key 'commands.home_assistant'" in err[-1] and "maskgate/it/ha_command" in err[-1]
    assert "ACL" in err[-1] and "commands.home_assistant_accept_open_broker = true" in err[-1]


def test_an_open_broker_accepted_by_the_installer(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    broker = acl_broker(tmp_path, "open").start()
    try:
        code = cli.main(["run", "--config", str(write_run_config(tmp_path, broker.port, True)),
                         "--max-seconds", "20"])
    finally:
        broker.stop()
    assert code == 0
    assert "home_assistant_accept_open_broker = true: Home Assistant's commands" in caplog.text


def test_broker_away_at_start_asked_again_on_connection(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    port = free_port()
    broker = acl_broker(tmp_path, "read-only", port=port)
    cfg = kiosk_cfg(tmp_path, port)
    got: list[bytes] = []
    pub = MqttPublisher(cfg, MODEL)
    pub.ha_guard.timeout = 1.0
    pub.subscribe(lambda payload, retained, channel="signed": got.append(bytes(payload)))
    pub.start()  # nothing listens: no answer, the topic stays shut, the start goes on
    assert not pub.ha_guard.guarded and "cannot check now" in caplog.text
    assert command_topic(cfg) not in pub._command_topics()
    broker.start()
    ha = None
    try:
        wait_until(lambda: pub.ha_guard.guarded, 40, "the check at the connection")
        ha = AuthClient(port, "homeassistant", "ha-pass", [])
        publish_until(lambda: ha.send(command_topic(cfg), b"open"), lambda: bool(got), timeout=10)
    finally:
        if ha is not None:
            ha.stop()
        pub.stop()
        broker.stop()
    assert got and set(got) == {b"open"}


def test_accepting_an_open_broker_needs_the_home_assistant_channel():
    with pytest.raises(KioskError, match="^config key 'commands.home_assistant_accept_open_broker': only with "
                                         "commands.home_assistant = true$"):
        from_dict({"commands": {"home_assistant_accept_open_broker": True}})
    with pytest.raises(KioskError, match="commands.home_assistant_accept_open_broker': expected bool"):
        from_dict({"commands": {"home_assistant": True, "home_assistant_accept_open_broker": "yes"},
                   "mqtt": {"username": "kiosk"}})
    cfg = from_dict({"commands": {"home_assistant": True, "home_assistant_accept_open_broker": True},
                     "mqtt": {"username": "kiosk"}})
    assert cfg.commands.home_assistant_accept_open_broker
