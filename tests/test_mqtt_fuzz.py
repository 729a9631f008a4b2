"""Fuzzing every network input (issue 17): arbitrary bytes, arbitrary JSON, command-shaped JSON and the
known nasty shapes, first against the parser and the verifier, then against a running kiosk through a
real mosquitto, on the command topic and on Home Assistant's status topic.

The running kiosk is in mode `locked`, so the clip's decisions are all denials and only a valid signed
command can open the gate. After the fuzzing it must still be the same kiosk with the same MQTT client,
the gate must never have opened, its events must still be acknowledged, and a valid command must work.
"""

from __future__ import annotations

import json
import math
import threading
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.messages.commands import BadJson, load_json, sign
from kiosk.messages.discovery import discovery_messages, migration_keys
from kiosk.messages.outbox import Outbox
from kiosk.messages.remote import REFUSALS_BURST, REFUSALS_PER_S
from kiosk.pipeline import Kiosk
from tests.test_commands import SECRET, body, signed_text, verifier
from tests.test_pipeline import demo_cfg
from tests.waiting import publish_until, wait_until

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=8), kids, max_size=5),
    max_leaves=25)
COMMAND_SHAPED = st.fixed_dictionaries({
    "body": st.text(max_size=200) | JSON_VALUES.map(json.dumps),
    "sig": st.text(max_size=70) | st.from_regex(r"[0-9a-f]{64}", fullmatch=True) | JSON_VALUES,
})
NASTY = [
    b"[" * 50_000,  # issue 17's payload
    b"[" * 3000, b"{\"a\":" * 1500, b"\"" + b"a" * 1_000_000 + b"\"",
    b'{"body": NaN, "sig": Infinity}', b"[-Infinity]", b"1e999999", b'{"sig": 1e999999, "body": "x"}',
    b'{"body": "x", "body": "y", "sig": "' + b"0" * 64 + b'"}', b"\xff\xfe\xfd", b'{"body": "\xc3\x28"}',
    b'{"body": "\\ud800", "sig": "' + b"0" * 64 + b'"}', b'{"body": "x", "sig": "\\u00e9\\u00e9"}',
    b"", b"online", b"online\x00", b"ONLINE", b"\x00" * 10_000, "ümlaut".encode("utf-16"),
    signed_text('{"command":"open","ts":NaN,"nonce":"nonce-0001","kiosk_id":"it"}'),
    signed_text('{"command":"open","command":"open","ts":1e999,"nonce":"nonce-0002","kiosk_id":"it"}'),
    signed_text("[" * 2000),
]
PAYLOADS = st.one_of(st.binary(max_size=6000), JSON_VALUES.map(lambda v: json.dumps(v).encode()),
                     COMMAND_SHAPED.map(lambda v: json.dumps(v).encode()), st.sampled_from(NASTY))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PAYLOADS)
def test_verifier_refuses_anything_unsigned_with_one_short_line(payload):
    verdict = verifier().verify(payload)
    assert not verdict.accepted
    assert verdict.reason and "\n" not in verdict.reason and len(verdict.reason) <= 80


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=5000) | st.text(max_size=5000))
def test_load_json_refuses_only_with_bad_json(data):
    try:
        load_json(data)
    except BadJson as exc:
        assert str(exc).startswith("malformed: ") and "\n" not in str(exc)


PLAIN_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=15)


@settings(max_examples=200, deadline=None)
@given(PLAIN_JSON)
def test_load_json_reads_ordinary_json_as_json_does(value):
    """The bounds refuse the odd shapes only: ordinary JSON is read exactly as json.loads reads it."""
    text = json.dumps(value)
    assert load_json(text.encode(), max_bytes=1 << 20) == json.loads(text)


def test_fuzz_the_running_kiosk(broker, subscriber_factory, factory, tmp_path):
    (tmp_path / "secret").write_text(SECRET.decode())
    cfg = demo_cfg(broker.port, tmp_path)
    cfg.commands.enabled = True
    cfg.commands.secret_file = str(tmp_path / "secret")
    cfg.camera.on_end = "reopen"  # the clip loops: decisions (denials, locked) keep coming
    cfg.camera.reopen_min_s = 0.05
    command, ha_status = "maskgate/it/command", "homeassistant/status"
    sub = subscriber_factory(broker.port, ["maskgate/it/#", "homeassistant/+/+/+/config", "homeassistant/device/+/config"])
    # A valid, fresh, signed `open`, retained: the broker hands it over when the kiosk subscribes.
    # It is refused as retained: a retained command is an old one.
    sub.client.publish(command, sign(SECRET, body(ts=time.time(), nonce="retained-open")), qos=1,
                       retain=True).wait_for_publish(5)
    kiosk = Kiosk(cfg, pin_factory=factory)
    kiosk.mode = "locked"
    sent = {command: 1, ha_status: 0}  # the retained one counts
    t = threading.Thread(target=kiosk.run, kwargs={"max_seconds": 90})
    t.start()
    try:
        refused = lambda: kiosk.stats.counters["commands_refused"]  # noqa: E731
        wait_until(lambda: refused() == 1, 10, "the retained command's refusal")
        client, thread = kiosk.publisher.client, kiosk.publisher._thread  # noqa: SLF001
        wait_until(lambda: kiosk.publisher.acked >= 1, 20, "a first event acknowledged")
        t0 = time.monotonic()

        def send(topic: str, payload: bytes) -> None:
            sub.client.publish(topic, payload, qos=1).wait_for_publish(5)
            sent[topic] += 1

        @settings(max_examples=300, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(payload=PAYLOADS, to_ha=st.booleans())
        def fuzz(payload: bytes, to_ha: bool) -> None:
            send(ha_status if to_ha else command, payload)

        fuzz()
        for payload in NASTY:
            send(command, payload)
            send(ha_status, payload)
        wait_until(lambda: refused() == sent[command], 30, f"{sent[command]} refusals")
        elapsed = time.monotonic() - t0
        acked = kiosk.publisher.acked
        # the daemon lives, with the same client and network thread, and nothing is at fault
        assert t.is_alive() and thread.is_alive() and kiosk.publisher.client is client
        assert kiosk.publisher.replaced == 0 and not kiosk.faults
        assert [int(bool(s.state)) for s in factory.pin(cfg.gpio.relay_pin).states] == [0]  # never opened
        # its events are still acknowledged (denials: the clip goes on while locked)
        wait_until(lambda: kiosk.publisher.acked > acked, 20, "events acknowledged after the fuzzing")
        # refusals are answered up to the rate limit, one short line each; none was accepted
        results = [json.loads(m.payload) for m in sub.topic("maskgate/it/command_result")]
        assert results[0]["reason"] == "retained"
        assert REFUSALS_BURST <= len(results) <= REFUSALS_BURST + REFUSALS_PER_S * (elapsed + 2) + 1
        assert not any(r["accepted"] for r in results)
        assert all("\n" not in r["reason"] and len(r["reason"]) <= 80 for r in results)
        # a flood of "online" re-sends discovery at most once per 10 s (no amplification), and the device
        # message alone: the migration sequence went once, at the first connection
        first = len(discovery_messages(cfg, kiosk.model_info, migration_keys(cfg)))
        configs = [m for m in sub.all if m.topic.endswith("/config")]
        assert first <= len(configs) <= first + 1 + math.ceil(elapsed / 10)
        # and commands still work
        publish_until(lambda: sub.client.publish(command, sign(SECRET, body(ts=time.time(), nonce="after-fuzz")),
                                                 qos=1),
                      lambda: any(r.get("accepted") for r in (json.loads(m.payload) for m in
                                                              sub.topic("maskgate/it/command_result"))))
        wait_until(lambda: 1 in [int(bool(s.state)) for s in factory.pin(cfg.gpio.relay_pin).states], 5,
                   "the gate to open on the valid command")
        print(f"\nfuzzed the running kiosk: {sent[command]} command payloads, {sent[ha_status]} status "
              f"payloads in {elapsed:.1f} s; {len(results)} refusals answered, {len(configs)} discovery messages")
    finally:
        kiosk.stop_event.set()
        t.join(30)
        sub.client.publish(command, b"", qos=1, retain=True)  # clears the retained command
    assert kiosk.summary.exit_reason == "stopped"
    assert [int(bool(s.state)) for s in factory.pin(cfg.gpio.relay_pin).states] == [0, 1, 0]
    assert len(Outbox(tmp_path / "state" / "outbox.sqlite")) == 0
