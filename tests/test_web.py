"""The web output (kiosk/web/, issue 13) with a real HTTP client against the real server on 127.0.0.1:
the daemon on the demo clip for content, the server alone for hostile input."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
from contextlib import ExitStack

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.config import Config, from_dict
from kiosk.errors import KioskError
from kiosk.events import check_event
from kiosk.parts import build_outputs
from kiosk.pipeline import Kiosk
from kiosk.web import WebOutput
from kiosk.web.eventlog import EventLog
from tests.conftest import DEMO_CLIP, recorded_config
from tests.webclient import Stream, get, get_json, raw, status_of, wait_until

MODEL = {"name": "mask_classifier", "sha256": "ab" * 32}
TOKEN = "s3cret-token-0123456789"


def web_cfg(tmp_path, **web) -> Config:
    cfg = recorded_config(tmp_path, DEMO_CLIP, 10.0)
    cfg.web.enabled = True
    cfg.web.port = 0
    for k, v in web.items():
        setattr(cfg.web, k, v)
    return cfg


@pytest.fixture
def server(tmp_path):
    """The web output alone, started, fed by hand as the frame loop would."""
    out = WebOutput(web_cfg(tmp_path), MODEL)
    out.start()
    out.publish_state({"gate": "closed", "mode": "auto", "faults": [], "model": MODEL, "counters": {"opened": 0}})
    out.health()
    yield out
    out.close()


def event(decision="deny", reason="no_mask", n=0) -> dict:
    return {"id": f"00000000-0000-4000-8000-{n:012d}", "ts": "2026-01-01T00:00:00.000Z", "kiosk_id": "k",
            "decision": decision, "reason": reason, "faces": [{"label": reason, "score": 0.97, "box": [1, 2, 3, 4]}],
            "model": MODEL, "latency_ms": 12.5, "track": 1}


# Prometheus text format 0.0.4, strictly: every sample belongs to a family declared by # TYPE before it.
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? '
                     r'(-?[0-9.e+-]+|NaN|[+-]Inf)$')


def parse_metrics(text: str) -> dict[tuple[str, tuple], float]:
    assert text.endswith("\n")
    types: dict[str, str] = {}
    samples = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge") and name not in types, line
            types[name] = kind
        elif line.startswith("# HELP "):
            continue
        else:
            m = _SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            name = m.group(1)
            assert name in types, f"{name} has no TYPE before it"
            assert not (types[name] == "counter") or name.endswith("_total"), name
            labels = tuple(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            assert (name, labels) not in samples, f"duplicate sample {line!r}"
            samples[(name, labels)] = float(m.group(3))
    return samples


def assert_prometheus_parses(text: str, ours: dict) -> None:
    """The same samples through prometheus_client's parser (a dev requirement; skipped where missing
    outside CI)."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus_client is not installed (requirements-dev.txt)")
        return
    theirs = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            theirs[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
            # a *_total typed gauge is read by Prometheus as a gauge: rate() and resets go wrong
            assert not sample.name.endswith("_total") or family.type == "counter", (sample.name, family.type)
    assert theirs == {(name, tuple(sorted(labels))): v for (name, labels), v in ours.items()}


# -- the daemon on the demo clip -------------------------------------------------------------------
def test_the_daemon_serves_its_decisions_state_health_metrics_and_log(tmp_path):
    cfg = web_cfg(tmp_path)
    cfg.mqtt.stats_interval = 1.0
    cfg.decision.deny_seconds = 1.5
    kiosk = Kiosk(cfg, pin_factory=MockFactory(pin_class=MockPWMPin))
    web = next(o for o in kiosk.outputs if o.name == "web")
    port = web.port
    done = threading.Event()
    run = threading.Thread(target=lambda: (kiosk.run(max_seconds=120), done.set()))
    run.start()
    try:
        stream = wait_until(lambda: _try(lambda: Stream(port)))  # listening from before the first decision
        first = stream.next(lambda m: m["kind"] == "decision", timeout=60)
        assert first["view"] in ("open", "no_mask", "incorrect", "covered") and first["hold_s"] > 0
        status = get_json(port, "/status")
        assert set(status) == set(kiosk.state_payload()) and status["model"] == kiosk.model_info
        ok, _, body = get(port, "/healthz")
        assert ok == 200 and body == b"ok\n"
        logged = wait_until(lambda: get_json(port, "/events"))
        assert logged[0]["id"] == first["id"] and "box" not in logged[0]["faces"][0]
        wait_until(lambda: web._stats is not None)
        status_code, headers, body = get(port, "/metrics")
        assert status_code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        m = parse_metrics(body.decode())
        assert m[("maskgate_model_info", (("name", "mask_classifier"), ("sha256", kiosk.model_info["sha256"])))] == 1
        assert m[("maskgate_frames_total", ())] >= 1 and m[("maskgate_fps", ())] > 0
        assert ("maskgate_stage_latency_seconds", (("stage", "classify"), ("quantile", "0.95"))) in m
        assert m[("maskgate_denied_total", ())] + m[("maskgate_opened_total", ())] >= 1
        assert_prometheus_parses(body.decode(), m)
        second = stream.next(lambda m: m["kind"] == "decision" and m["id"] != first["id"], timeout=60)
        assert second["id"] in {e["id"] for e in kiosk.summary.decisions}
        stream.close()
        assert done.wait(120)
    finally:
        kiosk.stop_event.set()
        run.join(30)
    # the log outlives the run: every decision, in order, on disk; the CSV says the same
    assert kiosk.summary.decided >= 2
    again = EventLog(cfg.state_path() / "web-events.jsonl", 1000)
    assert [e["id"] for e in again.recent()] == [e["id"] for e in kiosk.summary.decisions]
    rows = list(csv.DictReader(io.StringIO(again.csv())))
    assert [(r["decision"], r["reason"]) for r in rows] == [(e["decision"], e["reason"]) for e in kiosk.summary.decisions]
    again.close()
    with pytest.raises(OSError):
        get(port, "/status", timeout=2)  # closed with the kiosk


def _try(make):
    try:
        return make()
    except OSError:
        return None


def test_healthz_is_503_while_the_camera_is_down(tmp_path):
    cfg = web_cfg(tmp_path)
    cfg.camera.source = str(tmp_path / "no-camera.mp4")
    cfg.camera.on_end = "reopen"
    kiosk = Kiosk(cfg, pin_factory=MockFactory(pin_class=MockPWMPin))
    web = next(o for o in kiosk.outputs if o.name == "web")
    run = threading.Thread(target=kiosk.run, kwargs={"max_seconds": 30})
    run.start()
    try:
        code, body = wait_until(lambda: _try(lambda: get(web.port, "/healthz"))
                                and (lambda r: r[0] == 503 and b"camera" in r[2] and (r[0], r[2]))(get(web.port, "/healthz")))
        assert code == 503
        assert get_json(web.port, "/status")["camera_fault"]
        m = parse_metrics(get(web.port, "/metrics")[2].decode())
        assert m[("maskgate_fault", (("name", "camera"),))] == 1
    finally:
        kiosk.stop_event.set()
        run.join(30)


def test_healthz_is_503_when_the_frame_loop_stops_calling(server, monkeypatch):
    assert get(server.port, "/healthz")[0] == 200
    import kiosk.web.server as srv

    monkeypatch.setattr(srv, "LOOP_STALE_S", 0.0)  # as if the last health() call were long ago
    code, _, body = get(server.port, "/healthz")
    assert code == 503 and b"frame loop" in body


# -- the screen's stream ---------------------------------------------------------------------------
def test_stream_pushes_each_decision_and_state_in_order(server):
    s = Stream(server.port)
    assert s.next()["kind"] == "state"
    for n, (d, r) in enumerate([("deny", "no_mask"), ("deny", "incorrect"), ("deny", "covered"), ("open", "mask")]):
        server.publish_event(event(d, r, n))
    views = [s.next(lambda m: m["kind"] == "decision")["view"] for _ in range(4)]
    assert views == ["no_mask", "incorrect", "covered", "open"]
    server.publish_state({"faults": ["camera"], "mode": "auto"})
    assert s.next(lambda m: m["kind"] == "state")["view"] == "fault"
    s.close()


def test_a_screen_that_connects_during_a_decision_shows_it(server):
    server.publish_event(event("deny", "incorrect"))
    s = Stream(server.port)
    msg = s.next(lambda m: m["kind"] == "decision", timeout=5)
    assert msg["view"] == "incorrect" and 0 < msg["hold_s"] <= server.cfg.decision.deny_seconds
    s.close()


def test_stream_clients_are_bounded(tmp_path):
    with WebOutput(web_cfg(tmp_path, max_clients=2), MODEL) as out:
        out.start()
        streams = [Stream(out.port) for _ in range(2)]
        for s in streams:
            s.next()
        assert get(out.port, "/events/stream")[0] == 503
        streams[0].close()
        wait_until(lambda: out.status()["clients"] == 1)
        third = Stream(out.port)
        assert third.response.status == 200 and third.next()["kind"] == "state"
        for s in (streams[1], third):
            s.close()


def test_the_page_and_texts(tmp_path):
    with WebOutput(web_cfg(tmp_path, language="de", text_open="Herzlich willkommen </script>"), MODEL) as out:
        out.start()
        code, headers, body = get(out.port, "/")
        page = body.decode()
        assert code == 200 and headers["Content-Type"].startswith("text/html")
        assert 'lang="de"' in page and "Bitte in die Kamera schauen" in page and "Bitte bedecken Sie Ihre Nase" in page
        assert "</script>\"" not in page and "Herzlich willkommen \\u003c/script>" in page
        assert "http://" not in page.replace("http://www.w3.org", "")  # nothing fetched from elsewhere


# -- the event log ---------------------------------------------------------------------------------
def test_event_log_is_bounded_and_persistent(tmp_path):
    path = tmp_path / "log.jsonl"
    log = EventLog(path, keep=10)
    for n in range(45):
        log.add(event(n=n))
    log.flush()
    log.close()
    assert len(path.read_text().splitlines()) < 20
    with path.open("a") as f:
        f.write('{"torn": ')  # a write cut by a power loss
    again = EventLog(path, keep=10)
    assert [e["id"][-2:] for e in again.recent()] == [f"{n:02d}" for n in range(35, 45)]
    again.close()


# -- security --------------------------------------------------------------------------------------
def test_a_token_is_required_when_configured(tmp_path):
    with WebOutput(web_cfg(tmp_path, host="127.0.0.1"), MODEL, token=TOKEN) as out:
        out.start()
        assert get(out.port, "/status")[0] == 401
        assert get(out.port, "/status", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert get(out.port, "/status?token=" + TOKEN[:-1])[0] == 401
        assert get(out.port, "/status", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert get(out.port, "/healthz?token=" + TOKEN)[0] in (200, 503)
        assert out.status()["unauthorized"] == 3


def test_lan_bind_without_token_is_refused_at_start(tmp_path):
    with pytest.raises(KioskError, match=r"^config key 'web.token_file': required when web.host \(0.0.0.0\)"):
        from_dict({"web": {"enabled": True, "host": "0.0.0.0"}})
    cfg = web_cfg(tmp_path)
    cfg.web.host = "0.0.0.0"
    with pytest.raises(KioskError, match="web.token_file"):
        WebOutput(cfg, MODEL)
    (tmp_path / "short").write_text("too-short")
    cfg.web.token_file = str(tmp_path / "short")
    with ExitStack() as stack, pytest.raises(KioskError, match="at least 16 bytes"):
        build_outputs(cfg, MODEL, stack)
    (tmp_path / "tok").write_text(TOKEN + "\n")
    cfg.web.token_file = str(tmp_path / "tok")
    with ExitStack() as stack:
        [out] = build_outputs(cfg, MODEL, stack)
        out.start()
        assert get(out.port, "/status", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert get(out.port, "/status")[0] == 401


def test_without_token_a_foreign_host_header_is_refused(server):
    """A page elsewhere that rebinds its name to 127.0.0.1 must not read the kiosk."""
    assert get(server.port, "/status", headers={"Host": "evil.example:80"})[0] == 403
    assert get(server.port, "/status", headers={"Host": f"localhost:{server.port}"})[0] == 200


# -- hostile input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("data, want", [
    (b"GET /status HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
    (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", 431),
    (b"".join(b"X-%d: 1\r\n" % i for i in range(2000)), 431),
    (b"\x00\x01\x02\xff garbage\r\n\r\n", 400),
    (b"GET\r\n\r\n", 400),
    (b"GET /status HTTP/9.9\r\n\r\n", 505),
    (b"POST /status HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 405),
    (b"BREW /pot HTTP/1.1\r\n\r\n", 405),
    (b"GET /nothing-here HTTP/1.1\r\n\r\n", 404),
    (b"GET /events?" + b"&".join(b"a%d=1" % i for i in range(50)) + b" HTTP/1.1\r\n\r\n", 400),
    (b"GET /events?limit=-99999999999999999999 HTTP/1.1\r\n\r\n", 200),
])
def test_bad_requests_get_4xx_and_the_server_keeps_serving(server, data, want):
    if want == 431 and data.startswith(b"X-"):
        data = b"GET /status HTTP/1.1\r\n" + data + b"\r\n"
    assert status_of(raw(server.port, data)) == want
    assert get(server.port, "/status")[0] == 200


def test_a_crashing_handler_is_answered_500_and_nothing_else_stops(server, monkeypatch):
    def boom():
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(server, "_metrics", boom)
    assert get(server.port, "/metrics")[0] == 500
    monkeypatch.undo()
    assert get(server.port, "/metrics")[0] == 200 and get(server.port, "/status")[0] == 200
    assert server.status()["errors"] == 1 and server.health() is None


def test_malformed_payloads_do_not_break_metrics(server):
    server.publish_stats({"fps": "fast", "latency_ms": {"detect": {"p50": None, "p95": True}, "x": 3},
                          "counters": {"frames": float("nan"), "faces": 3}, "mqtt": []})
    server.publish_state({"faults": "camera", "model": None, "counters": {"opened": "many"}})
    m = parse_metrics(get(server.port, "/metrics")[2].decode())
    assert m[("maskgate_faces_total", ())] == 3 and ("maskgate_frames_total", ()) not in m


def test_metrics_types_faults_rounding_uptime_and_decision_latency(server):
    server.count("requests")  # the server's own counters are counters too
    server.publish_stats({"fps": 12.345678912345, "counters": {"frames": 7},
                          "latency_ms": {"classify": {"p50": 1.23456789, "p95": 0.1 + 0.2}}, "mqtt": {"outbox": 3}})
    server.publish_event({**event("deny", "no_mask", 1), "latency_ms": 40.0})
    server.publish_event({**event("open", "mask", 2), "latency_ms": 60.0})
    text = get(server.port, "/metrics")[2].decode()
    m = parse_metrics(text)
    assert_prometheus_parses(text, m)
    kinds = dict(line.split(" ")[2:4] for line in text.splitlines() if line.startswith("# TYPE "))
    assert [n for n in kinds if n.endswith("_total")] and all(
        kinds[n] == "counter" for n in kinds if n.endswith("_total")), kinds
    assert kinds["maskgate_web_requests_total"] == "counter" and kinds["maskgate_web_stream_clients"] == "gauge"
    # every known fault is a series from the start, 0 while it is not there
    for name in ("camera", "model", "mqtt"):
        assert m[("maskgate_fault", (("name", name),))] == 0
    server.publish_state({"faults": ["camera"], "model": MODEL})
    again = parse_metrics(get(server.port, "/metrics")[2].decode())
    assert again[("maskgate_fault", (("name", "camera"),))] == 1 and again[("maskgate_fault", (("name", "mqtt"),))] == 0
    # no binary noise: 0.1 + 0.2 ms is written 0.0003 s, not 0.00030000000000000003
    assert "maskgate_fps 12.345679\n" in text
    assert 'maskgate_stage_latency_seconds{stage="classify",quantile="0.95"} 0.0003\n' in text
    assert 'maskgate_stage_latency_seconds{stage="classify",quantile="0.5"} 0.001235\n' in text
    assert m[("maskgate_uptime_seconds", ())] >= 0
    assert m[("maskgate_decision_latency_seconds", (("quantile", "0.5"),))] == 0.04
    assert m[("maskgate_decision_latency_seconds", (("quantile", "0.95"),))] == 0.06
    assert m[("maskgate_outbox_backlog", ())] == 3


def test_requests_are_bounded_and_a_probe_is_answered_beyond_the_bound(tmp_path):
    with WebOutput(web_cfg(tmp_path, max_connections=2), MODEL) as out:
        out.start()
        out.health()
        streams = [Stream(out.port) for _ in range(2)]  # two long requests hold both handler threads
        for s in streams:
            s.next()
        assert out._server.taken() == 2  # noqa: SLF001
        code, headers, body = get(out.port, "/status")
        assert code == 503 and headers["Retry-After"] == "1" and b"busy" in body
        assert get(out.port, "/healthz")[:3:2] == (200, b"ok\n")  # answered by the guard itself
        streams[0].close()
        wait_until(lambda: out._server.taken() < 2)  # noqa: SLF001
        assert get(out.port, "/status")[0] == 200
        assert out.status()["refused_connections"] >= 2
        streams[1].close()


_header_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@settings(max_examples=int(os.environ.get("WEB_FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from([b"GET", b"HEAD", b"POST", b"get", b"", b"G\x00T"]),
       path=st.binary(max_size=400),
       headers=st.lists(st.tuples(_header_text, _header_text), max_size=8),
       tail=st.binary(max_size=200))
def test_fuzzed_requests_never_get_5xx_and_the_server_keeps_serving(server, method, path, headers, tail):
    head = method + b" /" + path + b" HTTP/1.1\r\n" + b"".join(
        k.encode("utf-8", "replace") + b": " + v.encode("utf-8", "replace") + b"\r\n" for k, v in headers)
    answer = raw(server.port, head + b"\r\n" + tail)
    code = status_of(answer)
    assert code == 0 or 200 <= code < 500 or code == 505, answer[:200]
    if code == 200 and b"/events/stream" not in path:
        body = answer.split(b"\r\n\r\n", 1)[1]
        if b"application/json" in answer.split(b"\r\n\r\n", 1)[0]:
            json.loads(body)
    assert get(server.port, "/status")[0] == 200


def test_events_are_valid_event_payloads_in(server):
    e = event("open", "mask", 7)
    assert check_event(e) == []
    server.publish_event(e)
    wait_until(lambda: get_json(server.port, "/events?limit=5"))
    [got] = get_json(server.port, "/events?limit=5")
    assert got["id"] == e["id"] and got["faces"] == [{"label": "mask", "score": 0.97}]
