"""MQTT security against a real mosquitto: TLS with CA verification (and client certificates), a
password file and an ACL. The test makes its own CA with openssl."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import paho.mqtt.client as mqtt
import pytest

from kiosk.config import Config
from kiosk.messages.broker import Mosquitto
from kiosk.messages.mqtt import MqttPublisher
from tests.conftest import new_broker

MODEL = {"name": "m", "sha256": "00" * 32}
PASSWORD = "kiosk-Pa55-word"


def openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("pki")
    for name in ("ca", "rogue"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name} test CA",
                "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, ext in (("server", ["-extfile", "san.ext"]), ("client", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-out", f"{name}.pem", *ext, cwd=d)
    return d


@pytest.fixture
def secure_broker(tmp_path, pki):
    if not shutil.which("mosquitto_passwd"):
        pytest.skip("mosquitto_passwd not installed")
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "kiosk", PASSWORD], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "dash", "dash-pass"], check=True)
    acl = tmp_path / "acl"
    acl.write_text("user kiosk\ntopic readwrite maskgate/k1/#\ntopic readwrite homeassistant/#\n\n"
                   "user dash\ntopic read maskgate/#\ntopic write maskgate/k1/command\n")
    b = new_broker(tmp_path / "m")
    # One TLS listener that requires a password and, optionally, a client certificate.
    conf_extra = (f"per_listener_settings false\nallow_anonymous false\npassword_file {pw}\nacl_file {acl}\n")
    yield b, conf_extra
    b.stop()


def start_tls(b: Mosquitto, pki, conf_extra: str, require_cert: bool) -> None:
    b.dir.mkdir(parents=True, exist_ok=True)
    conf = b.dir / "mosquitto.conf"
    conf.write_text(
        f"{conf_extra}"
        f"listener {b.port} 127.0.0.1\n"
        f"cafile {pki / 'ca.pem'}\ncertfile {pki / 'server.pem'}\nkeyfile {pki / 'server.key'}\n"
        f"require_certificate {'true' if require_cert else 'false'}\n"
        f"persistence false\nuser root\n")
    b.log = open(b.dir / "mosquitto.log", "ab")
    b.proc = subprocess.Popen([b.binary, "-c", str(conf)], stdout=b.log, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    assert b.proc.poll() is None, (b.dir / "mosquitto.log").read_text()


def kiosk_cfg(port: int, pki, tmp_path, ca: str = "ca.pem", client_cert: bool = False,
              password: str = PASSWORD) -> Config:
    cfg = Config()
    cfg.kiosk.id = "k1"
    cfg.mqtt.port = port
    cfg.mqtt.tls = True
    cfg.mqtt.ca_file = str(pki / ca)
    cfg.mqtt.username = "kiosk"
    (tmp_path / "pw").write_text(password + "\n")
    cfg.mqtt.password_file = str(tmp_path / "pw")
    if client_cert:
        cfg.mqtt.cert_file = str(pki / "client.pem")
        cfg.mqtt.key_file = str(pki / "client.key")
    return cfg


def dash_client(port: int, pki, topics: list[str]) -> tuple[mqtt.Client, list]:
    got: list = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dash")
    c.username_pw_set("dash", "dash-pass")
    c.tls_set(ca_certs=str(pki / "ca.pem"), certfile=str(pki / "client.pem"), keyfile=str(pki / "client.key"))
    ready = __import__("threading").Event()
    c.on_connect = lambda cl, u, f, rc, p: cl.subscribe([(t, 1) for t in topics])
    c.on_subscribe = lambda *a: ready.set()
    c.on_message = lambda cl, u, m: got.append(m)
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert ready.wait(5)
    return c, got


def test_tls_password_acl(secure_broker, pki, tmp_path, caplog):
    b, extra = secure_broker
    start_tls(b, pki, extra, require_cert=False)
    dash, got = dash_client(b.port, pki, ["maskgate/#"])
    caplog.set_level("DEBUG")
    pub = MqttPublisher(kiosk_cfg(b.port, pki, tmp_path), MODEL)
    pub.start()
    assert pub.connected.wait(10), (b.dir / "mosquitto.log").read_text()[-1000:]
    pub.publish_event({"id": "tls-1"})
    # the ACL: this kiosk may not write under another kiosk's topics (the broker drops it silently)
    pub.client.publish("maskgate/k2/events", "spoof", qos=1)
    time.sleep(1.0)
    topics = [m.topic for m in got]
    assert "maskgate/k1/events" in topics and "maskgate/k2/events" not in topics
    assert json.loads(next(m.payload for m in got if m.topic == "maskgate/k1/events")) == {"id": "tls-1"}
    pub.stop()
    dash.disconnect()
    dash.loop_stop()
    assert PASSWORD not in caplog.text


def test_wrong_ca_and_wrong_password_do_not_connect(secure_broker, pki, tmp_path):
    b, extra = secure_broker
    start_tls(b, pki, extra, require_cert=False)
    rogue = MqttPublisher(kiosk_cfg(b.port, pki, tmp_path, ca="rogue.pem"), MODEL)
    rogue.start()
    (tmp_path / "x").mkdir()
    badpw = MqttPublisher(kiosk_cfg(b.port, pki, tmp_path / "x", password="wrong"), MODEL)
    badpw.start()
    time.sleep(2.0)
    assert not rogue.connected.is_set()  # the broker's certificate is not from the CA we trust
    assert not badpw.connected.is_set()
    rogue.stop()
    badpw.stop()


def test_client_certificate_required(secure_broker, pki, tmp_path):
    b, extra = secure_broker
    start_tls(b, pki, extra, require_cert=True)
    without = MqttPublisher(kiosk_cfg(b.port, pki, tmp_path), MODEL)
    without.start()
    (tmp_path / "c").mkdir()
    with_cert = MqttPublisher(kiosk_cfg(b.port, pki, tmp_path / "c", client_cert=True), MODEL)
    with_cert.start()
    assert with_cert.connected.wait(10)
    time.sleep(1.0)
    assert not without.connected.is_set()
    with_cert.stop()
    without.stop()
