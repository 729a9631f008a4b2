"""maskgate kiosk: camera -> faces -> int8 mask classifier -> gate, LED and MQTT."""

__version__ = "0.1.0"

# `not_face` lets the classifier veto a detector mistake (a sign, a texture): such crops are dropped.
# `covered`: something over nose and mouth that is not a worn mask (paper, a book, a hand, a scarf): a deny.
LABELS = ("mask", "no_mask", "incorrect", "not_face", "covered")
