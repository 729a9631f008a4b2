"""maskgate kiosk: camera -> faces -> int8 mask classifier -> gate, LED and MQTT."""

__version__ = "0.1.0"

LABELS = ("mask", "no_mask", "incorrect")
