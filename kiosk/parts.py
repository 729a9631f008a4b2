"""Building the kiosk's parts: the models, the door with its GPIO devices, the camera, the outputs and the
command verifier, all or nothing (a failed start leaves no pin claimed and no file open)."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field

from .capture.camera import CameraSupervisor, make_camera
from .config import Config
from .door.door import Door
from .door.gate import Gate, StaffButton, make_pin_factory
from .door.lights import Indicator
from .door.sound import SoundOutput
from .errors import KioskError
from .messages.commands import CommandVerifier
from .messages.ha_migration import FILE_NAME as MIGRATION_FILE
from .messages.ha_migration import MigrationRecord
from .messages.mqtt import MqttPublisher, read_secret
from .messages.outbox import Outbox
from .messages.snapshots import SnapshotOutput
from .outputs import Publisher
from .vision.analysis import FaceAnalyzer, build_analyzer


@dataclass
class Parts:
    """What the kiosk drives, built by `build_parts`: models, the door (relay, light and buzzer), button,
    camera, outputs and the command verifier. `close()` releases them in the reverse order of building
    (the outputs first, the relay pin last); again is a no-op."""

    analyzer: FaceAnalyzer
    model_info: dict[str, str]  # the classifier's name and sha256, as every event carries them
    door: Door  # its relay and light pins are released by `close()`, not by the door
    button: StaffButton | None
    supervisor: CameraSupervisor
    outputs: list[Publisher]
    verifier: CommandVerifier | None  # None: remote commands are off
    stack: ExitStack = field(default_factory=ExitStack, repr=False)

    def __enter__(self) -> "Parts":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release every part, the relay pin last; again is a no-op."""
        self.stack.close()


def build_parts(cfg: Config, *, pin_factory=None, analyzer: FaceAnalyzer | None = None,
                supervisor: CameraSupervisor | None = None, outputs: list[Publisher] | None = None) -> Parts:
    """Build every part the config asks for; the ones given are used instead (tests) and owned from here on.

    All or nothing: a part that cannot be built (a pin in use, a missing TLS or secret file, an outbox that
    cannot be opened) raises KioskError after the parts built before it are released again, so a failed
    start leaves no pin claimed and no file open."""
    analyzer = analyzer or build_analyzer(cfg)
    clf = analyzer.classifier
    model_info = {"name": clf.meta.name, "sha256": clf.sha256}
    factory = pin_factory if pin_factory is not None else make_pin_factory(cfg.gpio.backend)
    g = cfg.gpio
    with ExitStack() as stack:
        gate = stack.enter_context(Gate(g.relay_pin, g.relay_active_high, cfg.decision.max_open_seconds,
                                        pin_factory=factory))
        indicator = Indicator(g.led, g.led_red_pin, g.led_green_pin, g.led_blue_pin, g.buzzer_pin,
                              pin_factory=factory)
        stack.callback(indicator.close)
        button = None
        if g.button_pin:
            button = StaffButton(g.button_pin, pin_factory=factory)
            stack.callback(button.close)
        supervisor = supervisor or CameraSupervisor(make_camera(cfg.camera, cfg.resolve), cfg.camera)
        stack.callback(supervisor.close)
        # a recording's door runs on its media time (kiosk/door/door.py)
        door = Door(gate, indicator, cfg.decision.open_seconds, cfg.decision.deny_seconds,
                    recorded=supervisor.recorded)
        if outputs is None:
            outputs = build_outputs(cfg, model_info, stack)
        else:
            outputs = list(outputs)
            for out in outputs:
                stack.callback(out.close)
        verifier = None
        if cfg.commands.enabled:
            secret = read_secret(cfg.commands.secret_file, cfg.resolve, "commands.secret_file").encode()
            try:
                verifier = CommandVerifier(secret, cfg.kiosk.id, cfg.commands.window_seconds)
            except ValueError as exc:
                raise KioskError(f"config key 'commands.secret_file': {exc}") from None
        return Parts(analyzer, model_info, door, button, supervisor, outputs, verifier, stack.pop_all())


def build_outputs(cfg: Config, model_info: dict[str, str], stack: ExitStack) -> list[Publisher]:
    """The outputs the config asks for, in the order they are handed every payload; `stack` closes them."""
    outputs: list[Publisher] = []
    if cfg.mqtt.enabled:
        m = cfg.mqtt
        outbox = stack.enter_context(Outbox(cfg.state_path() / "outbox.sqlite", m.outbox_max_rows,
                                            m.outbox_max_age_hours * 3600))
        migrations = MigrationRecord(cfg.state_path() / MIGRATION_FILE)
        outputs.append(stack.enter_context(MqttPublisher(cfg, model_info, outbox, migrations=migrations)))
    if cfg.web.enabled:
        token = None
        if cfg.web.token_file:
            token = read_secret(cfg.web.token_file, cfg.resolve, "web.token_file")
            if len(token.encode()) < 16:
                raise KioskError("config key 'web.token_file': the token must be at least 16 bytes")
        from .web.server import WebOutput  # loaded only when the web output is on

        outputs.append(stack.enter_context(WebOutput(cfg, model_info, token)))
    if cfg.sound.enabled:
        outputs.append(stack.enter_context(SoundOutput(cfg)))
    if cfg.snapshots.enabled:  # personal data: no output gets a face without this one
        viewers = [out.publish_face for out in outputs if hasattr(out, "publish_face")]
        outputs.append(stack.enter_context(SnapshotOutput(cfg, viewers)))
    return outputs
