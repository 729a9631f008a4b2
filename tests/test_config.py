"""Config loading and validation: defaults, the shipped config.toml, refusals naming the key, fuzzing."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk import config as C
from kiosk.errors import KioskError

ROOT = Path(__file__).resolve().parents[1]


def load_text(tmp_path: Path, text: str) -> C.Config:
    p = tmp_path / "c.toml"
    p.write_text(text)
    return C.load(p)


def test_defaults_are_valid():
    C.from_dict({})


def test_shipped_config_documents_every_key_with_its_default():
    text = (ROOT / "config.toml").read_text()
    data = tomllib.loads(text)
    cfg = C.load(ROOT / "config.toml")
    for name in C._section_classes():
        for f in dataclasses.fields(getattr(cfg, name)):
            assert f.name in data[name], f"config.toml lacks {name}.{f.name}"
            assert data[name][f.name] == f.default, f"config.toml {name}.{f.name} is not the default"
            line = next(i for i, l in enumerate(text.splitlines()) if l.startswith(f"{f.name} ="))
            comment = text.splitlines()[line - 1]
            assert comment.startswith("#") and "Default:" in comment, f"{name}.{f.name} undocumented"


@pytest.mark.parametrize("text, message", [
    ("[camera]\nfps = 'fast'\n", "config key 'camera.fps': expected float, got str 'fast'"),
    ("[camera]\nwidth = 10\n", "config key 'camera.width': 10 is below the minimum 64"),
    ("[camera]\nwidth = 1e9\n", "config key 'camera.width': expected int, got float"),
    ("[mqtt]\nport = 70000\n", "config key 'mqtt.port': 70000 is above the maximum 65535"),
    ("[mqtt]\nenabled = 1\n", "config key 'mqtt.enabled': expected bool, got int 1"),
    ("[camera]\nfsp = 10\n", "config: unknown key 'camera.fsp'"),
    ("[cameras]\nfps = 10\n", "config: unknown section [cameras]"),
    ("camera = 3\n", "config: 'camera' must be a table [camera], got int"),
    ("[gpio]\nled = 'blue'\n", "config key 'gpio.led': 'blue' is not one of rgb, pair, none"),
    ("[gpio]\nrelay_pin = 27\nled_green_pin = 27\n", "config key 'gpio.led_green_pin': pin 27 is already used by gpio.relay_pin"),
    ("[decision]\nk = 6\nn = 5\n", "config key 'decision.k': 6 is larger than decision.n (5)"),
    ("[decision]\nopen_seconds = 20.0\n", "config key 'decision.open_seconds': 20 exceeds decision.max_open_seconds (15)"),
    ("[decision]\nmask_threshold = nan\n", "config key 'decision.mask_threshold': nan is not a finite number"),
    ("[kiosk]\nid = 'a b/c'\n", "config key 'kiosk.id': 'a b/c' is not allowed"),
    ("[mqtt]\nprefix = 'a/#'\n", "config key 'mqtt.prefix': 'a/#' is not allowed"),
    ("[mqtt]\ncert_file = 'c.pem'\n", "config key 'mqtt.cert_file': a client certificate needs both"),
    ("[detector]\nrefine_crop = 100\n", "config key 'detector.refine_crop': 100 is not a multiple of 32"),
    ("[detector]\nrefine_low = 0.99\n", "config key 'detector.refine_low': 0.99 is above the maximum 0.95"),
    ("[camera\nfps = 10\n", "TOML syntax error"),
    ("[camera]\nfps = \n", "TOML syntax error"),
])
def test_bad_configs_name_the_problem(tmp_path, text, message):
    with pytest.raises(KioskError) as exc:
        load_text(tmp_path, text)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)
    assert str(tmp_path / "c.toml") in str(exc.value)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(KioskError, match="config file not found: .*nope.toml"):
        C.load(tmp_path / "nope.toml")
    with pytest.raises(KioskError, match="config file is a directory"):
        C.load(tmp_path)
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(KioskError, match="not UTF-8"):
        C.load(bad)


def test_ints_accepted_for_floats_and_paths_resolved(tmp_path):
    cfg = load_text(tmp_path, "[camera]\nfps = 10\n[classifier]\nmodel = 'm/x.tflite'\n")
    assert cfg.camera.fps == 10.0 and isinstance(cfg.camera.fps, float)
    assert cfg.resolve(cfg.classifier.model) == tmp_path / "m" / "x.tflite"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def test_check_config_cli(tmp_path):
    ok = run_cli("check-config", str(ROOT / "config.toml"))
    assert ok.returncode == 0, ok.stderr
    assert "[decision]" in ok.stdout and "mask_threshold = 0.7" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[decision]\nk = 'three'\n")
    r = run_cli("check-config", str(bad))
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {bad}: config key 'decision.k': expected int, got str 'three'"
    assert "Traceback" not in r.stderr
    r = run_cli("check-config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "config file not found" in r.stderr
    r = run_cli("run", "--config", str(bad))
    assert r.returncode == 2 and "decision.k" in r.stderr and "Traceback" not in r.stderr


def test_usage_error_exit_code():
    r = run_cli("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr


toml_scalars = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                         st.booleans(), st.text(max_size=20))
section_names = st.sampled_from(list(C._section_classes()) + ["bogus"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(section_names, st.one_of(
    toml_scalars,
    st.dictionaries(st.one_of(st.sampled_from(["fps", "k", "n", "port", "id", "led", "source", "mask_threshold",
                                               "relay_pin", "enabled", "open_seconds"]), st.text(max_size=8)),
                    toml_scalars, max_size=5)), max_size=4))
def test_fuzz_from_dict_only_raises_kiosk_errors(data):
    try:
        cfg = C.from_dict(data)
    except KioskError as exc:
        assert "\n" not in str(exc)
    else:
        assert 1 <= cfg.decision.k <= cfg.decision.n


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_toml_text_only_raises_kiosk_errors(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("fz") / "c.toml"
    p.write_bytes(text.encode("utf-8", errors="replace"))
    try:
        C.load(p)
    except KioskError:
        pass


def test_shipped_config_is_the_generated_one():
    assert (ROOT / "config.toml").read_text() == C.documented_toml()
