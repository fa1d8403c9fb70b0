"""A thin, quiet wrapper around `hwcomponents` (Accelergy's component library).

Every hardware number the cost models use comes through here:

    action_pj(name, attrs, action, args)  energy of one action, in pJ
    area_um2(name, attrs)                 area, in square micrometres
    leak_w(name, attrs)                   leakage power, in W

`name`, `attrs`, `action` and `args` are exactly those of `hwcomponents.get_action_cost`
(`hwc --list` in the venv lists the components and their attributes; `tech_node` is in
metres).  Failures raise `HwlibError` carrying hwcomponents' own explanation; otherwise
hwcomponents' INFO logging is kept off the console.

SRAMs are priced by CACTI, which `hwcomponents-cacti` ships as a prebuilt binary together
with its source.  That binary needs GLIBC 2.38, so on older systems (Debian 12 has 2.36)
every SRAM query fails with "CACTI failed with exit code 1".  `ensure_cacti()` checks that
the binary runs and, if it does not, rebuilds it once from the shipped source (about 15 s);
`python -m models.hwlib` does the same at set-up time.  SRAM queries call it first.

Pure-model layer: nothing here imports Amaranth, cocotb or any other peforge package.
"""

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from .cache import digest, locked

PACKAGES = ("hwcomponents", "hwcomponents-library", "hwcomponents-neurosim",
            "hwcomponents-cacti")
"""The distributions whose versions decide the numbers (part of every energy-cache key)."""

SRAM_COMPONENTS = ("sram", "cache", "smart_buffer_sram", "smartbuffer_sram",
                   "smartbuffersram")
"""Components priced through CACTI: querying one first makes sure CACTI runs."""


class HwlibError(RuntimeError):
    """hwcomponents could not answer a query, or CACTI cannot be made to run."""


def versions():
    """{distribution: version} of the hwcomponents packages (missing ones as None)."""
    found = {}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


# --- importing hwcomponents quietly -------------------------------------------------------

_HWC = None


def result_key(inputs, model_file):
    """Cache key of a result computed by `model_file` from `inputs` with hwcomponents: it
    changes with the inputs, the package versions and the code of `model_file` and hwlib."""
    sources = hashlib.sha256(Path(model_file).read_bytes()
                             + Path(__file__).read_bytes()).hexdigest()[:16]
    return digest({"inputs": inputs, "versions": versions(), "model": sources})


def hwcomponents():
    """The hwcomponents module, imported once, undoing its import-time `logging.basicConfig`.

    hwcomponents configures the root logger (a stderr handler, level INFO) when imported;
    the importer's logging set-up is restored so that only our callers decide what prints.
    """
    global _HWC
    if _HWC is None:
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        try:
            import hwcomponents
        except ImportError as error:
            raise HwlibError(f"hwcomponents is not installed ({error}); "
                             f"run the project set-up (make setup)") from None
        finally:
            root.setLevel(level)
            root.handlers[:] = handlers
        _HWC = hwcomponents
    return _HWC


@contextlib.contextmanager
def _quiet():
    """Keep hwcomponents' logging to itself for the length of a query.

    hwcomponents logs every model it tries (INFO, and ERROR for each model that does not
    match the name) to per-model loggers that queue the messages and put them into the
    exception raised when no model can answer; so nothing useful is lost on failure by
    keeping them off every other handler.  During the query: the root and 'HWComponents'
    loggers are held at WARNING, handlers others attached to hwcomponents' own loggers
    (pytest attaches its capture to every non-propagating logger) are detached, and the
    root logger's handlers are restored afterwards (module-level `logging.info` calls in
    hwcomponents would otherwise install a stderr handler through `basicConfig`).
    """
    from logging.handlers import QueueHandler

    root, chatty = logging.getLogger(), logging.getLogger("HWComponents")
    saved = (root.level, list(root.handlers), chatty.level)
    for logger in (root, chatty):
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    own = getattr(sys.modules.get("hwcomponents._logging"), "NAME2LOGGER", {})
    detached = []
    for logger in list(own.values()):
        for handler in list(logger.handlers):
            if not isinstance(handler, QueueHandler):
                logger.removeHandler(handler)
                detached.append((logger, handler))
    try:
        yield
    finally:
        for logger, handler in detached:
            logger.addHandler(handler)
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        chatty.setLevel(saved[2])


def _query(what, name, call):
    hwc = hwcomponents()
    sram = name.lower() in SRAM_COMPONENTS
    if sram:
        ensure_cacti()
    try:
        # hwcomponents-cacti names its scratch files after the query, so two processes
        # asking the same question at once delete each other's files: take turns.
        with _quiet(), (locked(cacti_dir() / ".peforge-query.lock") if sram
                        else contextlib.nullcontext()):
            return call(hwc)
    except Exception as error:  # hwcomponents raises RuntimeError, EstimatorError, ...
        raise HwlibError(f"hwcomponents has no {what} for {name}: {error}") from None


def action_pj(name, attrs, action, args=None):
    """Energy of one `action` of component `name` with attributes `attrs`, in pJ."""
    cost = _query(f"{action!r} energy", name,
                  lambda hwc: hwc.get_action_cost(name, dict(attrs), action, dict(args or {})))
    return cost.energy * 1e12


def area_um2(name, attrs):
    """Area of component `name` with attributes `attrs`, in square micrometres."""
    return _query("area", name, lambda hwc: hwc.get_area(name, dict(attrs))) * 1e12


def leak_w(name, attrs):
    """Leakage power of component `name` with attributes `attrs`, in W."""
    return _query("leakage power", name, lambda hwc: hwc.get_leak_power(name, dict(attrs)))


def describe(name, attrs, action=None, args=None):
    """`name(attr=value, ...).action(arg=value)`: how a number was obtained, for sources."""
    def fmt(values):
        return ", ".join(f"{key}={_fmt_value(key, value)}" for key, value in values.items())
    text = f"{name}({fmt(attrs)})"
    if action is not None:
        text += f".{action}({fmt(args or {})})"
    return text


def _fmt_value(key, value):
    if key == "tech_node" and isinstance(value, float):
        return f"{round(value * 1e9, 3):g}e-9"
    if isinstance(value, float) and 0 < abs(value) < 1e-3:
        return f"{value:.4g}"
    return repr(value) if isinstance(value, str) else str(value)


# --- CACTI -------------------------------------------------------------------------------

_CACTI_OK = False


def cacti_dir():
    """Directory of the CACTI source and binary inside the installed hwcomponents-cacti."""
    spec = importlib.util.find_spec("hwcomponents_cacti")
    if spec is None or not spec.submodule_search_locations:
        raise HwlibError("hwcomponents-cacti is not installed; run the project set-up "
                         "(make setup)")
    return Path(list(spec.submodule_search_locations)[0]) / "cacti"


def cacti_runs(directory=None):
    """True if the CACTI binary starts: run without arguments it prints its usage."""
    directory = Path(directory) if directory else cacti_dir()
    binary = directory / "cacti"
    if not binary.is_file():
        return False
    try:
        result = subprocess.run([str(binary)], cwd=directory, capture_output=True,
                                text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return "how to use CACTI" in result.stdout + result.stderr


def ensure_cacti(log=None):
    """Make sure the CACTI binary runs here; rebuild it from the shipped source if not.

    Safe to call from parallel processes (a file lock serializes the rebuild, and a process
    that waited finds the rebuilt binary).  `log(text)` reports progress; by default one
    line on stderr, printed only when a rebuild is needed.  Raises HwlibError with the
    compiler's last lines if the build fails.
    """
    global _CACTI_OK
    if _CACTI_OK:
        return
    directory = cacti_dir()
    if cacti_runs(directory):
        _CACTI_OK = True
        return
    if log is None:
        def log(text):
            print(f"peforge: {text}", file=sys.stderr, flush=True)
    with locked(directory / ".peforge-rebuild.lock"):
        if not cacti_runs(directory):
            _rebuild_cacti(directory, log)
    _CACTI_OK = True


def _rebuild_cacti(directory, log):
    log(f"the CACTI binary shipped with hwcomponents-cacti does not run on this system "
        f"(its C library is too old for it); rebuilding it from source in {directory} "
        f"(one time, about 15 s)")
    started = time.monotonic()
    (directory / "cacti").unlink(missing_ok=True)
    objects = directory / "obj_dbg"
    if objects.is_dir():
        for stale in list(objects.glob("*.o")) + [objects / "cacti"]:
            stale.unlink(missing_ok=True)
    jobs = str(max(1, os.cpu_count() or 1))
    build_log = directory / "peforge-build.log"
    with open(build_log, "w") as out:
        try:
            result = subprocess.run(["make", "-j", jobs], cwd=directory, stdout=out,
                                    stderr=subprocess.STDOUT)
        except OSError as error:
            raise HwlibError(f"cannot rebuild CACTI: {error} (a C++ compiler and make "
                             f"are needed)") from None
    if result.returncode != 0 or not cacti_runs(directory):
        tail = "\n".join(build_log.read_text(errors="replace").splitlines()[-15:])
        raise HwlibError(f"rebuilding CACTI in {directory} failed (make exit status "
                         f"{result.returncode}); full log {build_log}:\n{tail}")
    log(f"CACTI rebuilt in {time.monotonic() - started:.0f} s")


def main(argv=None):
    """`python -m models.hwlib`: make sure CACTI runs (set-up step); exit 1 if it cannot."""
    try:
        ensure_cacti()
        area_um2("sram", {"tech_node": 45e-9, "width": 64, "depth": 64, "size": 64 * 64})
    except HwlibError as error:
        print(f"peforge: {error}", file=sys.stderr)
        return 1
    print("peforge: hwcomponents and CACTI are ready "
          f"({', '.join(f'{k} {v}' for k, v in versions().items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
