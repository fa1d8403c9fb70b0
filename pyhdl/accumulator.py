"""Accumulation of the array's partial sums into the output buffer."""

from amaranth import Cat, Const, Module, Mux, Signal, signed
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
    acc_bits before the add.  With `spec.pairs_blocks`, a vector whose tag says `hold` (the
    first of a pair of reduction blocks, pyhdl/ws_loop.py) goes into the pair register
    instead; the next vector, of the same word, adds it (registered with the vector, at
    `spec.pair_sum_bits`) before its one read-modify-write.

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
        self.pairs = spec.pairs_blocks
        self.psum_bits = spec.psum_bits
        self.sum_bits = spec.pair_sum_bits
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

    def pair_register(self, m, arriving, values):
        """Load `values` (the stage's sums) with the array's output, plus the held pair's
        sums after a held vector; return (this vector is held, a pair is held)."""
        if not self.pairs:
            m.d.sync += values.eq(self.y.values)
            return Const(0, 1), Const(0, 1)
        pair = Signal(data.ArrayLayout(signed(self.psum_bits), self.cols), reset_less=True)
        pair_held = Signal()
        holding = arriving.valid & arriving.hold
        with m.If(arriving.valid):
            m.d.sync += pair_held.eq(arriving.hold)
        with m.If(holding):
            m.d.sync += pair.eq(self.y.values)
        for c in range(self.cols):
            m.d.sync += values[c].eq(self.y.values[c] + Mux(pair_held, pair[c], 0))
        return holding, pair_held

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
            "values": data.ArrayLayout(signed(self.sum_bits), self.cols),
        }), reset_less=True)
        holding, pair_held = self.pair_register(m, arriving, stage.values)
        m.d.sync += [stage.tag.eq(arriving),
                     stage_valid.eq(arriving.valid & self.y.valid & ~holding)]
        m.d.comb += [
            self.read.addr.eq(arriving.addr),
            self.read.en.eq(arriving.valid & ~arriving.first & ~holding),
        ]

        old = data.View(data.ArrayLayout(signed(DRAM_WORD_BITS), self.cols), self.read.data)
        result = Signal(data.ArrayLayout(signed(DRAM_WORD_BITS), self.cols))
        for c in range(self.cols):
            column = Signal(signed(self.acc_bits), name=f"column_{c}")
            total = Signal(signed(self.acc_bits), name=f"sum_{c}")
            m.d.comb += column.eq(stage.values[c])      # sign-extended from pair_sum_bits
            m.d.comb += total.eq(old[c][:self.acc_bits] + column)
            m.d.comb += result[c].eq(Mux(stage.tag.first, column, total))
        m.d.comb += [
            self.write.en.eq(stage_valid),
            self.write.addr.eq(stage.tag.addr),
            self.write.data.eq(result),
        ]
        m.d.comb += self.busy.eq(stage_valid | pair_held | Cat(*pipe).any())
        m.d.sync += [
            Assert(~(self.read.en & self.write.en & (self.read.addr == self.write.addr)),
                   "accumulator: read of the word being written (stale partial sum)"),
            Assert(~arriving.valid | self.y.valid,
                   "accumulator: a tag arrived without the array's output vector"),
        ]
        return m
