"""Make a signed remote command for a kiosk (see kiosk/messages/commands.py).

    python -m tools.ops.sign_command --secret-file secret --kiosk-id entrance-1 open
    python -m tools.ops.sign_command --secret-file secret --kiosk-id entrance-1 mode locked \\
        | mosquitto_pub -h broker -t maskgate/entrance-1/command -s
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

from kiosk.door.decision import MODES
from kiosk.messages.commands import sign


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--secret-file", required=True, type=Path)
    p.add_argument("--kiosk-id", required=True)
    p.add_argument("command", choices=("open", "mode"))
    p.add_argument("mode", nargs="?", choices=MODES)
    a = p.parse_args()
    if a.command == "mode" and not a.mode:
        p.error("mode needs one of: " + ", ".join(MODES))
    try:
        secret = a.secret_file.read_text(encoding="utf-8").rstrip("\r\n").encode()
    except OSError as exc:
        print(f"error: {a.secret_file}: {exc.strerror}", file=sys.stderr)
        return 2
    body = {"command": a.command, "ts": time.time(), "nonce": secrets.token_hex(12), "kiosk_id": a.kiosk_id}
    if a.mode:
        body["mode"] = a.mode
    sys.stdout.write(sign(secret, body).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
