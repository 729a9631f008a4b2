"""Configuration: plain dataclasses, loaded from TOML and validated key by key.

Every key has a default (the embedded default config), a type and, where it matters, a range or a set
of choices. Unknown keys, wrong types and out-of-range values are refused with the key's full name,
so a typo in /etc/maskgate/config.toml stops the service with one clear line instead of running with
a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .assets import SOURCE_ROOT, bundled

# The sections are importable from here too (kiosk.config.CameraSection): they are the config's vocabulary.
from .config_sections import (
    CameraSection,
    ClassifierSection,
    CommandsSection,
    DecisionSection,
    DetectorSection,
    GpioSection,
    KioskSection,
    MqttSection,
    SnapshotsSection,
    SoundSection,
    WebSection,
    ZoneSection,
)
from .errors import KioskError


@dataclass
class Config:
    kiosk: KioskSection = field(default_factory=KioskSection)
    camera: CameraSection = field(default_factory=CameraSection)
    detector: DetectorSection = field(default_factory=DetectorSection)
    classifier: ClassifierSection = field(default_factory=ClassifierSection)
    decision: DecisionSection = field(default_factory=DecisionSection)
    zone: ZoneSection = field(default_factory=ZoneSection)
    gpio: GpioSection = field(default_factory=GpioSection)
    mqtt: MqttSection = field(default_factory=MqttSection)
    commands: CommandsSection = field(default_factory=CommandsSection)
    snapshots: SnapshotsSection = field(default_factory=SnapshotsSection)
    web: WebSection = field(default_factory=WebSection)
    sound: SoundSection = field(default_factory=SoundSection)
    # Where relative paths are resolved from: the config file's folder (or the project root).
    base_dir: Path = field(default=SOURCE_ROOT, metadata={"internal": True})

    def resolve(self, path: str) -> Path:
        """Relative paths: from the config file's folder, else from the installation (models/...)."""
        p = Path(path).expanduser()
        if p.is_absolute():
            return p
        local = self.base_dir / p
        if local.exists() or not bundled(p).exists():
            return local
        return bundled(p)

    def state_path(self) -> Path:
        import os

        if self.kiosk.state_dir:
            return self.resolve(self.kiosk.state_dir)
        env = os.environ.get("STATE_DIRECTORY")
        if env:
            return Path(env.split(":")[0])
        return Path.cwd() / "state"




def _section_classes() -> dict[str, type]:
    return {f.name: type(getattr(Config(), f.name)) for f in dataclasses.fields(Config)
            if not f.metadata.get("internal")}


def auto_threads(n: int) -> int:
    """0 means: as many interpreter threads as cores, up to 4 (a Pi 4/5 has 4)."""
    import os

    return n if n > 0 else max(1, min(4, os.cpu_count() or 1))


def _check_value(key: str, fld: dataclasses.Field, value: Any) -> Any:
    want = type(fld.default)
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if want is bool:
        ok = isinstance(value, bool)
    elif want is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, want)
    if not ok:
        raise KioskError(f"config key '{key}': expected {want.__name__}, got {type(value).__name__} {value!r}")
    md = fld.metadata
    if want in (int, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise KioskError(f"config key '{key}': {value!r} is not a finite number")
        if md.get("lo") is not None and value < md["lo"]:
            raise KioskError(f"config key '{key}': {value!r} is below the minimum {md['lo']:g}")
        if md.get("hi") is not None and value > md["hi"]:
            raise KioskError(f"config key '{key}': {value!r} is above the maximum {md['hi']:g}")
    if md.get("choices") and value not in md["choices"]:
        raise KioskError(f"config key '{key}': {value!r} is not one of {', '.join(md['choices'])}")
    if md.get("pattern") and not re.match(md["pattern"], value):
        raise KioskError(f"config key '{key}': {value!r} is not allowed (must match {md['pattern']})")
    return value


def _shown(name: str) -> str:
    """A name from the user's file, for a one-line error: control characters escaped."""
    return name.encode("unicode_escape").decode("ascii")


def from_dict(data: dict[str, Any], base_dir: Path = SOURCE_ROOT) -> Config:
    """Build a validated Config from a parsed TOML document."""
    cfg = Config(base_dir=base_dir)
    classes = _section_classes()
    for name, section in data.items():
        if name not in classes:
            raise KioskError(f"config: unknown section [{_shown(name)}] (known: {', '.join(classes)})")
        if not isinstance(section, dict):
            raise KioskError(f"config: '{name}' must be a table [{name}], got {type(section).__name__}")
        target = getattr(cfg, name)
        fields = {f.name: f for f in dataclasses.fields(target)}
        for key, value in section.items():
            full = f"{name}.{key}"
            if key not in fields:
                raise KioskError(f"config: unknown key '{_shown(full)}'")
            setattr(target, key, _check_value(full, fields[key], value))
    _cross_checks(cfg)
    return cfg


def _cross_checks(cfg: Config) -> None:
    det = cfg.detector
    if det.refine_crop % 32:
        raise KioskError(f"config key 'detector.refine_crop': {det.refine_crop} is not a multiple of 32")
    d = cfg.decision
    if d.k > d.n:
        raise KioskError(f"config key 'decision.k': {d.k} is larger than decision.n ({d.n})")
    if d.open_seconds > d.max_open_seconds:
        raise KioskError(
            f"config key 'decision.open_seconds': {d.open_seconds:g} exceeds decision.max_open_seconds "
            f"({d.max_open_seconds:g})")
    z = cfg.zone
    if z.x0 >= z.x1:
        raise KioskError(f"config key 'zone.x0': {z.x0:g} is not left of zone.x1 ({z.x1:g})")
    if z.y0 >= z.y1:
        raise KioskError(f"config key 'zone.y0': {z.y0:g} is not above zone.y1 ({z.y1:g})")
    if cfg.camera.reopen_min_s > cfg.camera.reopen_max_s:
        raise KioskError("config key 'camera.reopen_min_s': larger than camera.reopen_max_s")
    g = cfg.gpio
    pins = {"gpio.relay_pin": g.relay_pin}
    if g.led in ("rgb", "pair"):
        pins["gpio.led_red_pin"] = g.led_red_pin
        pins["gpio.led_green_pin"] = g.led_green_pin
    if g.led == "rgb":
        pins["gpio.led_blue_pin"] = g.led_blue_pin
    if g.buzzer_pin:
        pins["gpio.buzzer_pin"] = g.buzzer_pin
    if g.button_pin:
        pins["gpio.button_pin"] = g.button_pin
    seen: dict[int, str] = {}
    for key, pin in pins.items():
        if pin in seen:
            raise KioskError(f"config key '{key}': pin {pin} is already used by {seen[pin]}")
        seen[pin] = key
    if cfg.commands.enabled and not cfg.commands.secret_file:
        raise KioskError("config key 'commands.secret_file': required when commands.enabled is true")
    if cfg.commands.enabled and not cfg.mqtt.enabled:
        raise KioskError("config key 'commands.enabled': remote commands need mqtt.enabled = true")
    if cfg.commands.home_assistant_accept_open_broker and not cfg.commands.home_assistant:
        raise KioskError("config key 'commands.home_assistant_accept_open_broker': only with "
                         "commands.home_assistant = true")
    if cfg.commands.home_assistant and not (cfg.mqtt.enabled and cfg.mqtt.username):
        raise KioskError("config key 'commands.home_assistant': needs mqtt.enabled and an mqtt.username "
                         "(a broker with passwords and an ACL for the ha_command topic)")
    w = cfg.web
    if w.enabled and not w.token_file and not is_loopback(w.host):
        raise KioskError(f"config key 'web.token_file': required when web.host ({_shown(w.host)}) is not a "
                         "loopback address")
    if w.live_remote and not w.token_file:
        raise KioskError("config key 'web.live_remote': needs web.token_file (the live view shows faces; other "
                         "machines only ever see it with the token)")
    if cfg.sound.enabled:
        import shlex

        try:
            player = shlex.split(cfg.sound.player)
        except ValueError as exc:
            raise KioskError(f"config key 'sound.player': {exc}") from None
        if not player:
            raise KioskError("config key 'sound.player': empty (a command such as 'aplay -q')")
    m = cfg.mqtt
    if (m.cert_file or m.key_file) and not (m.cert_file and m.key_file):
        raise KioskError("config key 'mqtt.cert_file': a client certificate needs both cert_file and key_file")


def is_loopback(host: str) -> bool:
    """Whether a listen address reaches this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or "" (all addresses): not known to be local


def load(path: str | Path) -> Config:
    """Read and validate a TOML config file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise KioskError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise KioskError(f"config file is a directory: {path}") from None
    except PermissionError:
        raise KioskError(f"config file not readable (permission denied): {path}") from None
    except UnicodeDecodeError as exc:
        raise KioskError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KioskError(f"{path}: TOML syntax error: {exc}") from None
    try:
        return from_dict(data, base_dir=path.resolve().parent)
    except KioskError as exc:
        raise KioskError(f"{path}: {exc}") from None


def to_toml(cfg: Config) -> str:
    """The effective configuration, as TOML with each key's documentation."""
    lines: list[str] = []
    for name in _section_classes():
        section = getattr(cfg, name)
        lines.append(f"[{name}]")
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            lines.append(f"{f.name} = {_toml_value(value)}  # {f.metadata['doc']} (default {_toml_value(f.default)})")
        lines.append("")
    return "\n".join(lines)


_HEADINGS = {
    "kiosk": "Identity and logging", "camera": "Camera source", "detector": "Face detector",
    "classifier": "Mask classifier", "decision": "Decision policy (see kiosk/door/decision.py)",
    "zone": "Gate zone: where a person is at the gate (see kiosk/vision/tracking.py)",
    "gpio": "Gate relay, status light, buzzer, staff button (BCM pin numbers)",
    "mqtt": "MQTT: topics under <prefix>/<kiosk id>/ (README: MQTT reference)",
    "commands": "Remote commands (signed; see kiosk/messages/commands.py)",
    "snapshots": "Face snapshots (personal data; off unless you need them)",
    "web": "Web: the visitor screen, status, metrics, event log and live view (README: Kiosk screen)",
    "sound": "Sound: a prompt per outcome, played in the background (README: Sound prompts)",
}


def documented_toml() -> str:
    """The text of the shipped config.toml: every key with its documentation, range and default."""
    cfg = Config()
    out = ["# maskgate kiosk configuration.",
           "# Every key is shown with its default; delete a line to use the default.",
           "# Validate with: python -m kiosk check-config config.toml",
           "# Relative paths are resolved from this file's folder, then from the maskgate installation folder.",
           "# (Generated by: python -c 'import kiosk.config as c; print(c.documented_toml(), end=\"\")')", ""]
    for name in _section_classes():
        out.append(f"# --- {_HEADINGS[name]} ---")
        out.append(f"[{name}]")
        for f in dataclasses.fields(getattr(cfg, name)):
            md = f.metadata
            rng = f" (range {md['lo']:g}..{md['hi']:g})" if md.get("lo") is not None else ""
            out.append(f"# {md['doc']}{rng}. Default: {_toml_value(f.default)}")
            out.append(f"{f.name} = {_toml_value(f.default)}")
        out.append("")
    return "\n".join(out)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float):
        return repr(v)
    return str(v)
