"""A banked global-buffer partition: SRAM banks from `amaranth.lib.memory`."""

import operator
from functools import reduce

from amaranth import Module, Mux, Signal
from amaranth.hdl import Assert
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import Out


class GlobalBuffer(wiring.Component):
    """`depth` words of `width` bits in `banks` single-port-read, single-port-write SRAM banks.

    Word address a lives in bank `a % banks`, row `a // banks`, so sequential accesses walk
    across banks.  One read and one write may happen in every cycle.

    Ports:
        read: Out(ReadPort.Signature): `addr`, `en`; `data` one cycle after `en`.
        write: Out(WritePort.Signature): `addr`, `data`, `en` (written at the clock edge).
        reads, writes: Out(1), strobes for the activity counters (one per word accessed).

    Latency: READ_LATENCY (one) cycle for reads.  A read of the address written in the same
    cycle returns the old word.
    Assertions (checked in simulation): every enabled read or write addresses a word below
    `depth` (an address past the end would alias into another bank row or be lost); with a
    power-of-two depth no address can pass the end, and there is nothing to check.
    """

    READ_LATENCY = 1
    """Cycles from `read.en` to `read.data`."""

    def __init__(self, width, depth, banks):
        if depth % banks:
            raise ValueError(f"GlobalBuffer depth must be a multiple of banks ({banks}), "
                             f"not {depth!r}")
        self.width = width
        self.depth = depth
        self.banks = banks
        addr_bits = (depth - 1).bit_length()
        super().__init__({
            "read": Out(memory.ReadPort.Signature(addr_width=addr_bits, shape=width)),
            "write": Out(memory.WritePort.Signature(addr_width=addr_bits, shape=width)),
            "reads": Out(1),
            "writes": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bank_bits = (self.banks - 1).bit_length()
        rows = self.depth // self.banks
        # The bank that answers a read, one flip-flop per bank (one-hot): each selects its
        # bank's word without a decoder between the register and the wide data multiplexer.
        read_banks = [Signal(name=f"read_bank_{b}") for b in range(self.banks if bank_bits else 0)]
        reads = []
        for b in range(self.banks):
            bank = memory.Memory(shape=self.width, depth=rows, init=[])
            m.submodules[f"bank{b}"] = bank
            rd = bank.read_port()
            reads.append(rd)
            wr = bank.write_port()
            selected_r = (self.read.addr[:bank_bits] == b) if bank_bits else 1
            selected_w = (self.write.addr[:bank_bits] == b) if bank_bits else 1
            m.d.comb += [
                rd.addr.eq(self.read.addr[bank_bits:]),
                rd.en.eq(self.read.en & selected_r),
                wr.addr.eq(self.write.addr[bank_bits:]),
                wr.data.eq(self.write.data),
                wr.en.eq(self.write.en & selected_w),
            ]
            if bank_bits:
                with m.If(self.read.en):
                    m.d.sync += read_banks[b].eq(selected_r)
        words = [Mux(read_banks[b], read.data, 0) if bank_bits else read.data
                 for b, read in enumerate(reads)]
        m.d.comb += self.read.data.eq(reduce(operator.or_, words))
        m.d.comb += [self.reads.eq(self.read.en), self.writes.eq(self.write.en)]
        if self.depth < 1 << len(self.read.addr):
            m.d.sync += [
                Assert(~self.read.en | (self.read.addr < self.depth),
                       f"global buffer: read past its {self.depth} words"),
                Assert(~self.write.en | (self.write.addr < self.depth),
                       f"global buffer: write past its {self.depth} words"),
            ]
        return m
