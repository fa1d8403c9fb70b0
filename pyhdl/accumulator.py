"""Accumulation of the array's partial sums into the output buffer."""

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.hdl import Assert
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from models.spec import DRAM_WORD_BITS

from .interfaces import tag_layout
from .pipeline import delayed_token


class Accumulator(wiring.Component):
    """Adds each output vector of the array into its output-buffer word.

    The tag of an input vector enters with the vector and waits `latency` cycles in a shift
    register beside the array, so it meets the vector's partial sums; with `latency` 0 the
    array delivers the tag with its output (the output-stationary array does).  The first c block of a
    word overwrites it; later blocks read it, add (wrapping at acc_bits) and write it back.
    Buffer words hold `cols` int32 values, sign-extended from acc_bits.  The array's sums
    arrive at `spec.psum_bits` (a weight-stationary column's width) and are sign-extended to
    acc_bits before the add.

    Ports:
        tag: In(tag_layout), with the input vector entering the array (or with `y`).
        y: In, the array's output (valid and one partial sum per column).
        read, write: Out, the output buffer's read and write ports.
        busy: Out(1), some vector is still in the array or this pipeline.
    Latency: `latency` + 2 cycles from a tag to its buffer write.  Only valid bits are reset.
    Assertions (checked in simulation): a partial sum never reads the word the previous one
    is writing in the same cycle (the buffer would return the stale word), and every tag
    meets a valid output vector of the array.
    """

    def __init__(self, spec, latency, addr_bits):
        self.cols = spec.cols
        self.acc_bits = spec.acc_bits
        self.psum_bits = spec.psum_bits
        self.latency = latency
        self.addr_bits = addr_bits
        word = DRAM_WORD_BITS * spec.cols
        super().__init__({
            "tag": In(tag_layout(addr_bits)),
            "y": In(data.StructLayout({
                "valid": 1,
                "values": data.ArrayLayout(signed(spec.psum_bits), spec.cols),
            })),
            "read": In(memory.ReadPort.Signature(addr_width=addr_bits, shape=word)),
            "write": In(memory.WritePort.Signature(addr_width=addr_bits, shape=word)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        layout = tag_layout(self.addr_bits)
        arriving = self.tag
        pipe = []
        for i in range(self.latency):
            arriving = delayed_token(m, arriving, f"tag_{i}")
            pipe.append(arriving.valid)

        # The write stage: only its valid bit is reset.
        stage_valid = Signal()
        stage = Signal(data.StructLayout({
            "tag": layout,
            "values": data.ArrayLayout(signed(self.psum_bits), self.cols),
        }), reset_less=True)
        m.d.sync += [stage.tag.eq(arriving), stage.values.eq(self.y.values),
                     stage_valid.eq(arriving.valid & self.y.valid)]
        m.d.comb += [
            self.read.addr.eq(arriving.addr),
            self.read.en.eq(arriving.valid & ~arriving.first),
        ]

        old = data.View(data.ArrayLayout(signed(DRAM_WORD_BITS), self.cols), self.read.data)
        result = Signal(data.ArrayLayout(signed(DRAM_WORD_BITS), self.cols))
        for c in range(self.cols):
            column = Signal(signed(self.acc_bits), name=f"column_{c}")
            total = Signal(signed(self.acc_bits), name=f"sum_{c}")
            m.d.comb += column.eq(stage.values[c])      # sign-extended from psum_bits
            m.d.comb += total.eq(old[c][:self.acc_bits] + column)
            m.d.comb += result[c].eq(Mux(stage.tag.first, column, total))
        m.d.comb += [
            self.write.en.eq(stage_valid),
            self.write.addr.eq(stage.tag.addr),
            self.write.data.eq(result),
        ]
        m.d.comb += self.busy.eq(stage_valid | Cat(*pipe).any())
        m.d.sync += [
            Assert(~(self.read.en & self.write.en & (self.read.addr == self.write.addr)),
                   "accumulator: read of the word being written (stale partial sum)"),
            Assert(~arriving.valid | self.y.valid,
                   "accumulator: a tag arrived without the array's output vector"),
        ]
        return m
