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

from .errors import KioskError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _f(default: Any, doc: str, *, lo: float | None = None, hi: float | None = None,
       choices: tuple | None = None, pattern: str | None = None) -> Any:
    return field(default=default, metadata={"doc": doc, "lo": lo, "hi": hi, "choices": choices,
                                            "pattern": pattern})


@dataclass
class KioskSection:
    id: str = _f("kiosk1", "kiosk identifier, used in MQTT topics and entity ids",
                 pattern=r"^[A-Za-z0-9_-]{1,64}$")
    log_level: str = _f("info", "log level", choices=("debug", "info", "warning", "error"))
    state_dir: str = _f("", "state directory (outbox, snapshots); empty = $STATE_DIRECTORY or ./state")


@dataclass
class CameraSection:
    source: str = _f("auto", "auto | picamera2 | USB index ('0') | video file | rtsp:// URL | image folder | demo (the bundled clip)")
    width: int = _f(640, "frame width, pixels", lo=64, hi=4096)
    height: int = _f(480, "frame height, pixels", lo=64, hi=4096)
    fps: float = _f(15.0, "frames per second asked of the camera; files and folders are paced to it, "
                    "and decided as if frame n came at n / fps seconds", lo=0.5, hi=120)
    realtime: bool = _f(True, "pace files and folders at `fps` (false: as fast as possible)")
    on_end: str = _f("reopen", "when a file or folder ends: play it again at once (a loop, not a fault) or exit",
                     choices=("reopen", "exit"))
    reopen_min_s: float = _f(0.5, "first back-off before reopening a failed camera, seconds", lo=0.01, hi=60)
    reopen_max_s: float = _f(30.0, "longest back-off, seconds", lo=0.01, hi=3600)


@dataclass
class DetectorSection:
    model: str = _f("models/face_detection_yunet_2023mar.onnx",
                    "face detector model: YuNet (.onnx, run by OpenCV) or BlazeFace (.tflite, LiteRT); YuNet finds "
                    "far more masked faces (docs/detector-kiosk-eval.md)")
    score_threshold: float = _f(0.3, "minimum detector confidence", lo=0.05, hi=0.99)
    input_width: int = _f(400, "YuNet (.onnx) only: a wider frame is shrunk to this width before detection "
                                "(a Pi 4 runs it in ~21-25 ms at 320x240, ~33-39 ms at 400x300, ~84-100 ms at 640x480)",
                          lo=64, hi=4096)
    refine_low: float = _f(0.1, "YuNet (.onnx) only: a box scoring from this up to score_threshold gets a second look, "
                                "YuNet again on an enlarged crop of the full-size frame, and is kept only if that "
                                "confirms it (kiosk/vision/refine.py; finds the small masked faces the shrink loses); 0 (or >= score_threshold) = off",
                           lo=0.0, hi=0.95)
    refine_confirm: float = _f(0.3, "YuNet only: the second look's score that confirms a box", lo=0.05, hi=0.99)
    refine_crop: int = _f(128, "YuNet only: the second look's crop, a square of this many pixels (a multiple of 32; "
                               "each costs a Pi 4 ~4.5-5.3 ms at 128)", lo=32, hi=640)
    refine_max: int = _f(1, "YuNet only: most second looks per frame (the least unsure boxes first; 1 keeps a Pi 4 "
                            "at its frame rate, 3 found 0.4 points more masked faces)", lo=1, hi=16)
    propose_model: str = _f("", "YuNet only: a BlazeFace .tflite whose faces YuNet did not find get the second look too "
                                "(confirmed by YuNet on the crop at refine_confirm; masked faces >= 40 px found per frame "
                                "91.0 -> 92.2 %, masked people found within 0.5 s 96.6 -> 98.3 %) at a Pi 4 cost that "
                                "halves its frame rate with 3 faces (estimate 15.4 -> 7.9 fps): for faster boards "
                                "(docs/detector-kiosk-eval.md); empty = off")
    propose_score: float = _f(0.2, "YuNet only: the proposing model's score from which its face gets a second look",
                              lo=0.05, hi=0.99)
    propose_max: int = _f(2, "YuNet only: most second looks at proposed faces per frame (the surest first)", lo=1, hi=16)
    min_face_px: int = _f(32, "faces narrower than this (pixels) are ignored; wider ones are classified and, "
                             "if bad, can hold the gate (zone.outside) even before they are wide enough to be at "
                             "the gate (zone.min_face_px)", lo=8, hi=2000)
    confirm_score: float = _f(0.6, "a detection scoring below this counts only when it is a sure mask (p >= "
                                   "decision.mask_threshold, nose covered); otherwise it is taken for a detector "
                                   "mistake and dropped like a `not_face` (an ear, an arm, a head from behind): "
                                   "it can neither open nor hold the gate. 0 = off (0.6: chosen on validation-real with "
                                   "YuNet's scores; check it before using it with BlazeFace, models/MODEL_CARD.md)",
                              lo=0.0, hi=0.99)
    margin: float = _f(0.2, "crop margin around a face box, fraction of its size on each side", lo=0.0, hi=1.0)
    max_faces: int = _f(8, "most faces classified per frame (largest first)", lo=1, hi=64)
    threads: int = _f(0, "interpreter threads; 0 = one per CPU core, at most 4", lo=0, hi=8)
    full_every: int = _f(3, "YuNet only, with classifier.attention: the people seen in the last frame are looked "
                            "for in small windows around them (refine_crop px squares), and the whole frame is "
                            "searched only every this many frames (and whenever nobody is followed): a newcomer "
                            "is found within this many frames; 1 = the whole frame every frame "
                            "(kiosk/vision/attention.py)", lo=1, hi=30)
    overlap: bool = _f(True, "detect the next frame while this one is classified: the same decisions, one frame "
                             "later, more frames per second (docs/bench.md)")


@dataclass
class ClassifierSection:
    model: str = _f("models/mask_classifier.tflite", "int8 mask classifier; its .json sidecar must sit beside it")
    threads: int = _f(0, "interpreter threads; 0 = one per CPU core, at most 4", lo=0, hi=8)
    nose_model: str = _f("models/nose_check.tflite", "second look at faces called `mask`: is the nose bare? "
                                                    "(kiosk/vision/nose.py); empty = off")
    nose_threshold: float = _f(0.3, "P(nose bare) from which a `mask` face becomes `incorrect` (0.3: chosen with "
                                    "the YuNet detector on validation-real, models/MODEL_CARD.md)", lo=0.05, hi=0.99)
    attention: bool = _f(True, "classify only faces whose verdict can matter: a person decided and in their "
                               "cooldown keeps their last verdict, a bystander under zone.outside = ignore gets "
                               "none (kiosk/vision/attention.py; the same decisions for less work)")


@dataclass
class DecisionSection:
    mask_threshold: float = _f(0.7, "minimum probability of `mask` for a face to count as masked", lo=0.5, hi=1.0)
    k: int = _f(3, "frames out of the last n that must agree before a decision", lo=1, hi=100)
    n: int = _f(5, "length of the frame window", lo=1, hi=100)
    open_seconds: float = _f(5.0, "how long the relay stays open after an `open`, seconds", lo=0.1, hi=600)
    max_open_seconds: float = _f(15.0, "hard limit on any relay opening (also manual), seconds", lo=0.1, hi=600)
    cooldown_seconds: float = _f(3.0, "no new decision for the same presence before this, seconds", lo=0, hi=3600)
    absent_frames: int = _f(5, "frames without a face that end a presence", lo=1, hi=1000)
    deny_seconds: float = _f(3.0, "how long the deny/incorrect LED pattern shows, seconds", lo=0.1, hi=600)


@dataclass
class ZoneSection:
    x0: float = _f(0.0, "gate zone, left edge as a fraction of the frame's width: only a face whose box centre is "
                        "inside the zone (and at least min_face_px wide) can open the gate (kiosk/vision/tracking.py)",
                   lo=0.0, hi=1.0)
    y0: float = _f(0.0, "gate zone, top edge, fraction of the frame's height", lo=0.0, hi=1.0)
    x1: float = _f(1.0, "gate zone, right edge, fraction of the frame's width", lo=0.0, hi=1.0)
    y1: float = _f(1.0, "gate zone, bottom edge, fraction of the frame's height", lo=0.0, hi=1.0)
    min_face_px: int = _f(40, "a face narrower than this (pixels) is not at the gate, however central: it cannot "
                              "open it (40: below it the classifier is less sure, model card); 0 = "
                              "detector.min_face_px", lo=0, hi=4000)
    near: float = _f(0.6, "who is with the person in front (the widest face at the gate): a face in the zone at "
                          "least this fraction of that width, however small, holds the gate if bad (someone "
                          "close enough to walk through with them); narrower faces are bystanders (see outside); "
                          "0 = off: only faces at the gate hold it (0.6: chosen on real scenes, models/MODEL_CARD.md)",
                     lo=0.0, hi=1.0)
    outside: str = _f("ignore", "a bad face that is a bystander (outside the zone, or narrower than near x the person "
                                "in front): ignore (neither opens nor shuts the gate) or hold (keeps the gate closed "
                                "while it is in view)", choices=("hold", "ignore"))


@dataclass
class GpioSection:
    backend: str = _f("auto", "auto (gpiozero's choice) | mock (MockFactory, logs pin changes)",
                      choices=("auto", "mock"))
    relay_pin: int = _f(17, "BCM pin of the gate relay", lo=2, hi=27)
    relay_active_high: bool = _f(True, "relay energised by a high level (false for active-low boards)")
    led: str = _f("pair", "status light: rgb (common-cathode RGB LED), pair (green + red LEDs) or none",
                  choices=("rgb", "pair", "none"))
    led_red_pin: int = _f(22, "BCM pin of the red LED (or RGB red)", lo=2, hi=27)
    led_green_pin: int = _f(27, "BCM pin of the green LED (or RGB green)", lo=2, hi=27)
    led_blue_pin: int = _f(24, "BCM pin of the RGB blue channel (rgb only)", lo=2, hi=27)
    buzzer_pin: int = _f(0, "BCM pin of an optional buzzer; 0 = none", lo=0, hi=27)
    button_pin: int = _f(0, "BCM pin of an optional staff button (to ground); 0 = none", lo=0, hi=27)


@dataclass
class MqttSection:
    enabled: bool = _f(True, "publish over MQTT")
    host: str = _f("127.0.0.1", "broker host name or address")
    port: int = _f(1883, "broker port", lo=1, hi=65535)
    prefix: str = _f("maskgate", "topic prefix: <prefix>/<kiosk id>/...", pattern=r"^[^#+\s]{1,64}$")
    client_id: str = _f("", "MQTT client id; empty = maskgate-<kiosk id>")
    keepalive: int = _f(30, "keepalive, seconds", lo=5, hi=3600)
    username: str = _f("", "user name; empty = anonymous")
    password_file: str = _f("", "file holding the password (never logged); "
                                "'credential:NAME' reads $CREDENTIALS_DIRECTORY/NAME")
    tls: bool = _f(False, "use TLS")
    ca_file: str = _f("", "CA certificate to verify the broker (TLS); empty = system CAs")
    cert_file: str = _f("", "client certificate (TLS, optional)")
    key_file: str = _f("", "client key (TLS, optional)")
    stats_interval: float = _f(30.0, "seconds between stats messages", lo=1, hi=86400)
    outbox_max_rows: int = _f(10000, "most unacknowledged events kept on disk; the oldest are dropped beyond",
                              lo=10, hi=10_000_000)
    outbox_max_age_hours: float = _f(168.0, "unacknowledged events older than this are dropped, hours",
                                     lo=0.01, hi=87600)
    discovery: bool = _f(True, "publish Home Assistant discovery")
    discovery_prefix: str = _f("homeassistant", "Home Assistant discovery prefix", pattern=r"^[^#+\s]{1,64}$")
    support_url: str = _f("", "support URL shown in Home Assistant's device page (discovery origin `url`); empty = none",
                          pattern=r"^(https?://\S{1,200})?$")


@dataclass
class CommandsSection:
    enabled: bool = _f(False, "accept remote commands (open the gate, set the mode) on <prefix>/<id>/command")
    secret_file: str = _f("", "file with the shared HMAC-SHA256 secret (at least 16 bytes); "
                              "'credential:NAME' reads $CREDENTIALS_DIRECTORY/NAME")
    window_seconds: float = _f(30.0, "commands whose timestamp is further than this from now are refused, seconds",
                               lo=1, hi=3600)
    home_assistant: bool = _f(False, "accept Home Assistant's Open button and Mode select on "
                              "<prefix>/<id>/ha_command WITHOUT a signature: only safe when the broker's ACL lets "
                              "no one but Home Assistant write that topic (README: Home Assistant)")
    home_assistant_accept_open_broker: bool = _f(False, "start with commands.home_assistant even when the start-up "
                                                 "check finds that an anonymous client can publish on "
                                                 "<prefix>/<id>/ha_command (then anyone who reaches the broker "
                                                 "can open the gate)")


@dataclass
class SnapshotsSection:
    enabled: bool = _f(False, "store face crops of decisions on disk (personal data: off by default)")
    dir: str = _f("snapshots", "folder for snapshots, relative to the state directory")
    keep: int = _f(100, "most snapshots kept; older ones are deleted", lo=1, hi=100000)


@dataclass
class WebSection:
    enabled: bool = _f(False, "serve the visitor screen (/), /status, /healthz, /metrics and /events over HTTP "
                              "(kiosk/web/); off: no listener at all")
    host: str = _f("127.0.0.1", "address to listen on; anything but a loopback address needs token_file")
    port: int = _f(8080, "TCP port; 0 = any free port (tests)", lo=0, hi=65535)
    token_file: str = _f("", "file with the access token (at least 16 bytes), required as 'Authorization: Bearer' "
                             "or ?token=; 'credential:NAME' reads $CREDENTIALS_DIRECTORY/NAME; empty = no token "
                             "(loopback only)")
    language: str = _f("en", "visitor screen language (built-in texts)", choices=("en", "de"))
    text_idle: str = _f("", "visitor screen text while nobody is decided; empty = the built-in one")
    text_closer: str = _f("", "text while faces are seen but none at the gate (too small or outside the zone); "
                              "empty = built-in (Please step closer)")
    text_checking: str = _f("", "text while someone is at the gate and not decided yet; empty = built-in (Checking...)")
    text_open: str = _f("", "text on an opening; empty = built-in (Welcome)")
    text_no_mask: str = _f("", "text on a deny for no mask; empty = built-in")
    text_incorrect: str = _f("", "text on a deny for a mask below the nose; empty = built-in")
    text_covered: str = _f("", "text on a deny for a covering that is not a mask; empty = built-in")
    text_fault: str = _f("", "text while the kiosk is out of service (camera or model fault, locked); "
                             "empty = built-in")
    text_offline: str = _f("", "text the screen shows by itself when it hears nothing from the kiosk for 2 s (stopped, "
                               "crashed, frozen); empty = built-in (Out of order - please ask staff)")
    events_keep: int = _f(1000, "decisions kept in the event log (state directory, web-events.jsonl)",
                          lo=10, hi=1_000_000)
    max_clients: int = _f(8, "most screens listening to /events/stream at once", lo=1, hi=256)
    max_connections: int = _f(32, "most requests served at once (each after its whole head arrived, within 2 s); "
                                  "beyond: 503, and /healthz its bare status", lo=2, hi=1024)
    max_connections_per_client: int = _f(16, "most of those from one client address (a proxy on this machine is "
                                             "one address for all it forwards)", lo=1, hi=1024)
    live_fps: float = _f(5.0, "most frames per second /live (the installer's view) sends; each is a JPEG encoded on "
                              "the server's thread, never the frame loop's", lo=0.2, hi=30)
    live_max_clients: int = _f(2, "most /live viewers at once (503 beyond); 0 = no /live at all (404)", lo=0, hi=16)
    live_quality: int = _f(80, "JPEG quality of the /live frames", lo=20, hi=95)
    live_remote: bool = _f(False, "serve /live (camera images: faces, personal data) to other machines too, with the "
                                  "token (needs token_file); false: loopback clients only, any other gets 403")


@dataclass
class SoundSection:
    enabled: bool = _f(False, "play a prompt per outcome through a WAV player (kiosk/door/sound.py); off: no process "
                              "is ever started")
    player: str = _f("aplay -q", "command that plays one WAV file, given as its last argument; started in the "
                                 "background, one prompt at a time (a new one stops the last); e.g. 'aplay -q -D "
                                 "plughw:1' for another ALSA device")
    dir: str = _f("", "folder of the prompt files below; empty = the bundled kiosk/sounds (the project's own, made "
                      "by tools/demo/make_sounds.py)")
    open: str = _f("open.wav", "prompt on an opening: a WAV file in dir (or an absolute path); empty = silent")
    no_mask: str = _f("no_mask.wav", "prompt on a deny for no mask; empty = silent")
    incorrect: str = _f("incorrect.wav", "prompt on a deny for a mask below the nose; empty = silent")
    covered: str = _f("covered.wav", "prompt on a deny for a covering that is not a mask; empty = silent")
    fault: str = _f("fault.wav", "prompt when the kiosk goes out of service (camera or model fault, locked mode, a "
                                 "deny while locked); empty = silent")


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
    base_dir: Path = field(default=PROJECT_ROOT, metadata={"internal": True})

    def resolve(self, path: str) -> Path:
        """Relative paths: from the config file's folder, else from the installation (models/...)."""
        p = Path(path).expanduser()
        if p.is_absolute():
            return p
        local = self.base_dir / p
        if local.exists() or not (PROJECT_ROOT / p).exists():
            return local
        return PROJECT_ROOT / p

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


def from_dict(data: dict[str, Any], base_dir: Path = PROJECT_ROOT) -> Config:
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
