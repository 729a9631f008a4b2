"""`python -m kiosk.bench worker ...` (a benchmark worker) or `python -m kiosk.bench [args]` (as
`python -m kiosk bench`)."""

import sys
import time

# Taken before the heavy imports (all inside main) so that a worker can report its own import time.
T_MAIN = time.monotonic()


def main(argv: list[str]) -> int:
    if argv[:1] == ["worker"]:
        from .ours import worker_main

        return worker_main(argv[1:], T_MAIN)
    from ..cli import main as cli_main

    return cli_main(["bench", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
