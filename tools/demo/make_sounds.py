"""Make the kiosk's default sound prompts (kiosk/sounds/*.wav): short chimes and tones, synthesised.

Synthesised rather than recorded so that they are the project's own (MIT, like the code), small, and
remade byte for byte from this file: 16 kHz mono 16-bit PCM, a second or less each, every tone with a
soft attack and an exponential decay so that no prompt clicks or sounds harsh through a small speaker.
The open prompt rises (a welcome); the three denies fall or repeat, each with its own rhythm so that a
visitor who cannot see the screen still tells them apart; the fault prompt is long and low.

    python -m tools.demo.make_sounds [--out kiosk/sounds]
"""

from __future__ import annotations

import argparse
import wave
from pathlib import Path

import numpy as np

RATE = 16000  # Hz: plenty for tones under 2 kHz, and a third of the size of 48 kHz
PEAK = 0.6  # of full scale: headroom for the player's and the amplifier's own gain
ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "kiosk" / "sounds"

# Each prompt: notes as (start s, frequency Hz, length s, level 0..1); the outcome names are the
# screen's views (kiosk/web/screen.py), which are also the [sound] config keys.
PROMPTS: dict[str, list[tuple[float, float, float, float]]] = {
    # a rising major triad, bell-like (C6 E6 G6)
    "open": [(0.00, 1046.5, 0.45, 0.8), (0.12, 1318.5, 0.45, 0.8), (0.24, 1568.0, 0.55, 1.0)],
    # two falling tones (A5 then E5): "no"
    "no_mask": [(0.00, 880.0, 0.30, 1.0), (0.28, 659.3, 0.45, 1.0)],
    # three quick equal beeps: a correction, "adjust it"
    "incorrect": [(0.00, 987.8, 0.12, 0.9), (0.18, 987.8, 0.12, 0.9), (0.36, 987.8, 0.18, 0.9)],
    # a low double pulse (G4 twice): "not that"
    "covered": [(0.00, 392.0, 0.22, 1.0), (0.30, 392.0, 0.30, 1.0)],
    # a slow low two-tone alternation: out of service, ask staff
    "fault": [(0.00, 440.0, 0.25, 1.0), (0.30, 349.2, 0.25, 1.0), (0.60, 440.0, 0.25, 1.0), (0.90, 349.2, 0.35, 1.0)],
}


def note(freq: float, length: float, level: float) -> np.ndarray:
    """One tone: the fundamental and two quieter overtones, 5 ms attack, exponential decay, 10 ms release."""
    t = np.arange(int(length * RATE)) / RATE
    wave_ = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t) + 0.1 * np.sin(6 * np.pi * freq * t)
    env = np.exp(-t * 4.0 / length)
    env *= np.minimum(1.0, t / 0.005)  # no click at the start
    env *= np.minimum(1.0, (length - t) / 0.010)  # nor at the end
    return level * wave_ * env


def render(notes: list[tuple[float, float, float, float]]) -> np.ndarray:
    """The notes mixed into one int16 signal, peak-normalised to PEAK, with 50 ms of silence after."""
    end = max(start + length for start, _, length, _ in notes)
    out = np.zeros(int((end + 0.05) * RATE))
    for start, freq, length, level in notes:
        tone = note(freq, length, level)
        i = int(start * RATE)
        out[i:i + len(tone)] += tone
    out *= PEAK / np.abs(out).max()
    return np.round(out * 32767).astype("<i2")


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help="folder to write <outcome>.wav into (default kiosk/sounds)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, notes in PROMPTS.items():
        path = args.out / f"{name}.wav"
        write_wav(path, render(notes))
        print(f"{path}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
