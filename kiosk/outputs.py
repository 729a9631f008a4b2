"""The outputs: where the kiosk's decisions, state and stats go (MQTT, the web page, sound, snapshots).

The frame loop hands every event, state and stats payload to each output of a list, in order; a
kiosk with an empty list only logs. A new kind of output is a new module with a class of this shape,
added to the list by `parts.build_outputs`, never a new branch in the loop.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

# A remote command as it arrived: (payload bytes, retained flag), and `channel="home_assistant"` for one
# from the broker-guarded Home Assistant topic (kiosk/messages/homeassistant.py). Called from the output's own
# thread; kiosk/messages/remote.py verifies the payload (kiosk/messages/commands.py) before it acts on it.
CommandHandler = Callable[..., None]


class Publisher(Protocol):
    """One output. Its methods never block the frame loop for long and are called from it (and, for
    state and command results, from the gate's timer or a command's thread)."""

    name: str  # short and unique in the list: the fault it reports ("mqtt") and its key in stats

    def start(self) -> None:
        """Begin delivering (connect, listen); called once, before the first payload."""

    def subscribe(self, on_command: CommandHandler) -> None:
        """Pass the remote commands this output receives to `on_command`; an output that receives
        none ignores this. Called only when commands are enabled."""

    def publish_event(self, event: dict[str, Any]) -> None:
        """One decision (kiosk/events.py); must not be lost."""

    def publish_state(self, state: dict[str, Any]) -> None:
        """The kiosk's current state; only the latest matters."""

    def publish_stats(self, stats: dict[str, Any]) -> None:
        """A stats snapshot, every mqtt.stats_interval seconds; stale ones may be dropped."""

    def publish_command_result(self, result: dict[str, Any]) -> None:
        """The answer to a remote command (accepted or refused, with the reason)."""

    def health(self, now: float | None = None) -> str | None:
        """About once a second from the frame loop: None when working, else why not (the kiosk shows it
        as a fault named after the output). May raise RuntimeFault when the output cannot recover."""

    def status(self) -> dict[str, Any]:
        """Figures for the stats payload, under the output's name."""

    # Optional: `on_crops(event_id: str, crops: Sequence[np.ndarray], deciding: np.ndarray | None)`, the
    # face crops of each decision's frame (BGR, the frame's faces in order) and the deciding person's one
    # (None when no face decided), from the frame loop. Crops are personal data: only the snapshots output
    # (kiosk/messages/snapshots.py, on the list only when snapshots are enabled) has this method, and no
    # other output may add it.
    # Optional: `publish_face(event_id: str, jpeg: bytes)`, the deciding face's crop, handed on by the
    # snapshots output (so only when snapshots are enabled); an output without the method gets no faces.
    # Optional: `on_frame(frame: np.ndarray, faces: list[FaceVerdict])`, every analysed frame (BGR, the
    # camera's own array: never to be modified) with its verdicts, from the frame loop. It must return
    # at once: keep a reference at most (the web's live view does, only while someone watches) and do
    # any work with it on the output's own thread.

    def close(self) -> None:
        """Stop delivering and release what the output holds; again is a no-op."""
