"""The config file's sections: one plain dataclass per [table], every key with its default, its doc
(written into config.toml by kiosk.config.documented_toml) and, where it matters, its range or choices.
kiosk/config.py loads, checks and writes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    # The choices are kiosk/vision/detectors.py's BACKENDS (tests/test_yunet.py keeps the two in step).
    backend: str = _f("yunet", "face detector backend: yunet (OpenCV, finds far more masked faces, "
                               "docs/detector-kiosk-eval.md) or blazeface (LiteRT) (kiosk/vision/detectors.py)",
                      choices=("yunet", "blazeface"))
    model: str = _f("", "the backend's model file (yunet: .onnx, blazeface: .tflite); empty = its bundled model "
                        "(models/face_detection_yunet_2023mar.onnx, models/face_detection_full_range_sparse.tflite)")
    engine: str = _f("litert", "yunet only: what runs the network: litert (the model converted to .tflite beside "
                               "the .onnx, by tools/convert_yunet.py; XNNPACK, ~2x faster) or opencv (cv2.FaceDetectorYN "
                               "on the .onnx) (kiosk/vision/yunet_litert.py)", choices=("litert", "opencv"))
    score_threshold: float = _f(0.3, "minimum detector confidence", lo=0.05, hi=0.99)
    input_width: int = _f(400, "yunet only: a wider frame is shrunk to this width before detection "
                                "(a Pi 4 runs it in ~21-25 ms at 320x240, ~33-39 ms at 400x300, ~84-100 ms at 640x480)",
                          lo=64, hi=4096)
    refine_low: float = _f(0.1, "yunet only: a box scoring from this up to score_threshold gets a second look, "
                                "YuNet again on an enlarged crop of the full-size frame, and is kept only if that "
                                "confirms it (kiosk/vision/refine.py; finds the small masked faces the shrink loses); 0 (or >= score_threshold) = off",
                           lo=0.0, hi=0.95)
    refine_confirm: float = _f(0.3, "yunet only: the second look's score that confirms a box", lo=0.05, hi=0.99)
    refine_crop: int = _f(128, "yunet only: the second look's crop, a square of this many pixels (a multiple of 32; "
                               "each costs a Pi 4 ~4.5-5.3 ms at 128)", lo=32, hi=640)
    refine_max: int = _f(1, "yunet only: most second looks per frame (the least unsure boxes first; 1 keeps a Pi 4 "
                            "at its frame rate, 3 found 0.4 points more masked faces)", lo=1, hi=16)
    propose_model: str = _f("", "yunet only: a BlazeFace .tflite whose faces YuNet did not find get the second look too "
                                "(confirmed by YuNet on the crop at refine_confirm; masked faces >= 40 px found per frame "
                                "91.0 -> 92.2 %, masked people found within 0.5 s 96.6 -> 98.3 %) at a Pi 4 cost that "
                                "halves its frame rate with 3 faces (estimate 15.4 -> 7.9 fps): for faster boards "
                                "(docs/detector-kiosk-eval.md); empty = off")
    propose_score: float = _f(0.2, "yunet only: the proposing model's score from which its face gets a second look",
                              lo=0.05, hi=0.99)
    propose_max: int = _f(2, "yunet only: most second looks at proposed faces per frame (the surest first)", lo=1, hi=16)
    min_face_px: int = _f(32, "faces narrower than this (pixels) are ignored (nor do their boxes get YuNet's second "
                             "look); wider ones are classified and, if bad, can hold the gate (zone.outside) even "
                             "before they are wide enough to be at the gate (zone.min_face_px)", lo=8, hi=2000)
    max_cut: float = _f(0.3, "a face whose box reaches more than this share of its width or height past the frame's "
                             "edge is only half in view: it is reported but taken for a bystander, so it neither "
                             "opens nor shuts the gate under zone.outside = \"ignore\" (a visitor stepping into "
                             "the picture is judged once in view); 1 = off (0.3: on real scenes a mask cut through "
                             "55 % was refused as `covered`, a bare face cut through 19 % must still count; "
                             "models/MODEL_CARD.md)", lo=0.0, hi=1.0)
    confirm_score: float = _f(0.6, "a detection scoring below this counts only when it is a sure mask (p >= "
                                   "decision.mask_threshold, nose covered); otherwise it is taken for a detector "
                                   "mistake and dropped like a `not_face` (an ear, an arm, a head from behind): "
                                   "it can neither open nor hold the gate. 0 = off (0.6: chosen on validation-real with "
                                   "YuNet's scores; check it before using it with BlazeFace, models/MODEL_CARD.md)",
                              lo=0.0, hi=0.99)
    margin: float = _f(0.2, "crop margin around a face box, fraction of its size on each side", lo=0.0, hi=1.0)
    max_faces: int = _f(8, "most faces classified per frame (largest first)", lo=1, hi=64)
    threads: int = _f(0, "interpreter threads; 0 = one per CPU core, at most 4", lo=0, hi=8)
    full_every: int = _f(3, "yunet only, with classifier.attention: the people seen in the last frame are looked "
                            "for in small windows around them (refine_crop px squares), and the whole frame is "
                            "searched only every this many frames (and whenever nobody is followed): a newcomer "
                            "is found within this many frames; 1 = the whole frame every frame "
                            "(kiosk/vision/attention.py)", lo=1, hi=30)
    motion_threshold: int = _f(12, "yunet only, with full_every > 1: the periodic whole-frame pass is skipped while "
                                   "nothing has moved away from the followed faces since the last one (grey levels "
                                   "on an ~80 px wide thumbnail; a newcomer moves) (kiosk/vision/motion.py); "
                                   "0 = off: every full_every-th frame", lo=0, hi=255)
    still_every: int = _f(15, "yunet only: with nothing moving, the whole frame is still searched every this many "
                              "frames (at least full_every)", lo=1, hi=300)
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
