"""Where the kiosk's bundled files are: models, the demo clip, the sound prompts.

From a source checkout the models are the repository's `models/`; from an installed wheel (`pip install .`)
they are package data in `kiosk/models/` (pyproject.toml maps one onto the other), so the kiosk runs from
any folder either way.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# A checkout's root (README, models/, tools/); in an installed wheel this is site-packages, which has none.
SOURCE_ROOT = PACKAGE_DIR.parent
MODELS_DIR = PACKAGE_DIR / "models" if (PACKAGE_DIR / "models").is_dir() else SOURCE_ROOT / "models"
DEMO_CLIP = PACKAGE_DIR / "demo" / "demo.mp4"
SOUNDS_DIR = PACKAGE_DIR / "sounds"


def bundled(path: str | Path) -> Path:
    """A path relative to the installation as the config spells it ("models/x.tflite"): where it is."""
    p = Path(path)
    if p.parts and p.parts[0] == "models":
        return MODELS_DIR.joinpath(*p.parts[1:])
    return SOURCE_ROOT / p
