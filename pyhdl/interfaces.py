"""Signatures and layouts shared between blocks: the DRAM port, the host register bus and the
tag that says where an output vector accumulates."""

from amaranth import unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from models.hardware import ADDR_BITS, BURST_BITS


def tag_layout(addr_bits):
    """Where an output vector goes: output-buffer word `addr`; `first` overwrites it; `hold`:
    the first of a pair, held in the accumulator and added to the next vector (same word)."""
    return data.StructLayout({"valid": 1, "addr": addr_bits, "first": 1, "hold": 1})


class DramCommand(data.Struct):
    """One burst request: `length` beats starting at beat address `addr`."""

    addr: unsigned(ADDR_BITS)
    length: unsigned(BURST_BITS)


class DramPort(wiring.Signature):
    """The accelerator's DRAM port, seen from the accelerator.

    Four valid/ready streams: read bursts are requested on `read_cmd` and their beats come
    back in order on `read_data`; write bursts are announced on `write_cmd` and their beats
    follow on `write_data`.  Any side may stall any stream at any time.

    Members: read_cmd (Out), read_data (In), write_cmd (Out), write_data (Out).
    """

    def __init__(self, bus_bytes):
        super().__init__({
            "read_cmd": Out(stream.Signature(DramCommand)),
            "read_data": In(stream.Signature(8 * bus_bytes)),
            "write_cmd": Out(stream.Signature(DramCommand)),
            "write_data": Out(stream.Signature(8 * bus_bytes)),
        })


class RegisterBus(wiring.Signature):
    """A minimal host register bus, seen from the host (the accelerator flips it).

    Members: `addr` word address, `w_data`/`w_stb` a write in this cycle, `r_data` the value
    of the register at the previous cycle's `addr` (one cycle of read latency).
    """

    def __init__(self, addr_bits):
        super().__init__({
            "addr": Out(addr_bits),
            "w_data": Out(32),
            "w_stb": Out(1),
            "r_data": In(32),
        })
