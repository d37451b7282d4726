"""The benches' output: each figure printed as a JSON line and appended, with
the time and the commit, to a file under var/ (kept across runs)."""

import json
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class Recorder:
    def __init__(self, out: Path):
        self.out = out
        out.parent.mkdir(parents=True, exist_ok=True)
        self.commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                     capture_output=True, text=True).stdout.strip()

    def __call__(self, row: dict) -> None:
        print(json.dumps(row, default=str), flush=True)
        with self.out.open("a") as fh:
            fh.write(json.dumps({"at": time.strftime("%FT%T"), "commit": self.commit, **row},
                                default=str) + "\n")
