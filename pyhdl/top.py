"""The accelerator top: PE array, global buffer, DMA, controller, counters and registers."""

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from models.spec import COMPRESSED_ROW_BYTES, DRAM_WORD_BITS, check_built

from .accumulator import Accumulator
from .array import SystolicArray
from .buffer import GlobalBuffer
from .counters import ActivityCounters
from .depthwise_array import DepthwiseSystolicArray
from .depthwise_loop import LINE_PORTS, DepthwiseLoop
from .csr import REGISTER_ADDR_BITS, RegisterBlock
from .dma import DmaReader, DmaWriter
from .interfaces import DramPort, RegisterBus
from .os_array import OutputStationaryArray
from .os_loop import OutputStationaryLoop
from .postprocess import PostProcessor
from .rs_array import COUNTED_EVENTS
from .rs_loop import RowStationaryLoop
from .sequencer import LayerSequencer
from .sparse_array import SparseSystolicArray
from .sparse_loop import SparseWeightStationaryLoop
from .sparse_os_array import SparseOutputStationaryArray
from .sparse_os_loop import SparseOutputStationaryLoop
from .tap_fold_loop import TapFoldLoop


class Accelerator(wiring.Component):
    """A `spec.rows` x `spec.cols` convolution / fully-connected accelerator with the spec's
    dataflow (weight- or output-stationary array).

    The host writes a layer descriptor through `bus` (addresses in models.registers) and
    starts it; the accelerator loads the layer's bias (if any) into the bias buffer, moves X
    and W from DRAM through the global buffer into the array, accumulates Y in the output
    buffer and writes it back through the post-processor (bias, requantization, ReLU),
    counting activity on the way.  Tensor layouts in DRAM are those of models.mapper.

    Ports:
        bus: In(RegisterBus), host registers, one cycle read latency.
        dram: Out(DramPort), four valid/ready streams; DRAM may stall any of them.
        done: Out(1), high from the end of a layer until the next start (STATUS.done).
    """

    def __init__(self, spec):
        check_built(spec)
        self.spec = spec
        super().__init__({
            "bus": In(RegisterBus(REGISTER_ADDR_BITS)),
            "dram": Out(DramPort(spec.dram_bus_bytes)),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        word = spec.input_lanes * spec.operand_bits
        m.submodules.input_buffer = ibuf = GlobalBuffer(word, spec.input_words, spec.glb_banks)
        m.submodules.weight_buffer = wbuf = GlobalBuffer(
            spec.weight_lanes * spec.operand_bits, spec.weight_words, spec.glb_banks)
        # The output buffer is two halves with a read port each, so the writer can drain one
        # while the accumulator works in the other.
        half_words = spec.output_words // 2
        out_halves = [GlobalBuffer(DRAM_WORD_BITS * spec.cols, half_words, spec.glb_banks)
                      for _ in range(2)]
        m.submodules.output_buffer_0, m.submodules.output_buffer_1 = out_halves
        output_addr_bits = (spec.output_words - 1).bit_length()
        output_stationary = spec.dataflow == "os"
        row_stationary = spec.dataflow == "rs"
        if row_stationary:
            array, loop_class = None, RowStationaryLoop    # the loop holds its array
        elif output_stationary and spec.skips_weights:
            m.submodules.array = array = SparseOutputStationaryArray(spec, output_addr_bits)
            loop_class = SparseOutputStationaryLoop
        elif output_stationary:
            m.submodules.array = array = OutputStationaryArray(spec, output_addr_bits)
            loop_class = OutputStationaryLoop
        elif spec.skips_weights:
            m.submodules.array = array = SparseSystolicArray(spec)
            loop_class = SparseWeightStationaryLoop
        elif spec.depthwise_columns:
            m.submodules.array = array = DepthwiseSystolicArray(spec)
            loop_class = DepthwiseLoop
        else:
            m.submodules.array = array = SystolicArray(spec)
            loop_class = TapFoldLoop
        # The output-stationary array and the row-stationary loop deliver each output's tag
        # with it.
        m.submodules.accumulator = acc = Accumulator(
            spec, 0 if output_stationary or row_stationary else array.latency,
            output_addr_bits)
        m.submodules.sequencer = seq = LayerSequencer(output_addr_bits)
        m.submodules.inner_loop = loop = loop_class(
            spec, array, len(ibuf.read.addr), len(wbuf.read.addr), output_addr_bits)
        load_addr_bits = len(ibuf.write.addr)
        if not loop.separate_weight_reader:
            load_addr_bits = max(load_addr_bits, len(wbuf.write.addr))
        # With activation compression, the input reader can restore compressed rows.
        compressing = spec.activation_compression != "none"
        m.submodules.reader = reader = DmaReader(
            spec.dram_bus_bytes, spec.operand_bits, spec.input_lanes, load_addr_bits,
            decompress_row_beats=COMPRESSED_ROW_BYTES // spec.dram_bus_bytes
            if compressing else 0)
        readers = [reader]
        if loop.separate_weight_reader:
            # Weights come in words of their own width (output-stationary: `cols` filters;
            # 2:4: kept values and indices), through a reader of their own.
            m.submodules.weight_reader = weight_reader = DmaReader(
                spec.dram_bus_bytes, spec.operand_bits, spec.weight_lanes,
                len(wbuf.write.addr))
            readers.append(weight_reader)
        # Words the writer reads pass the post-processor's pipeline on their way back.
        m.submodules.post = post = PostProcessor(spec)
        # With activation compression, the writer holds two of the longest rows it compresses.
        m.submodules.writer = writer = DmaWriter(
            spec.dram_bus_bytes, spec.operand_bits,
            spec.cols * DRAM_WORD_BITS // spec.operand_bits, output_addr_bits,
            read_latency=GlobalBuffer.READ_LATENCY + post.latency,
            compress_buffer_beats=2 * COMPRESSED_ROW_BYTES // spec.dram_bus_bytes
            if compressing else 0)
        m.submodules.bias_buffer = bias_buffer = GlobalBuffer(DRAM_WORD_BITS * spec.cols,
                                                              spec.bias_words, 1)
        m.submodules.bias_reader = bias_reader = DmaReader(
            spec.dram_bus_bytes, DRAM_WORD_BITS, spec.cols, len(bias_buffer.write.addr))
        m.submodules.registers = regs = RegisterBlock()
        m.submodules.counters = counters = ActivityCounters()

        wiring.connect(m, wiring.flipped(self.bus), regs.bus)
        m.d.comb += [
            seq.descriptor.eq(regs.descriptor),
            loop.descriptor.eq(regs.descriptor),
            seq.start.eq(regs.start),
            regs.busy.eq(seq.busy),
            regs.done.eq(seq.done),
            regs.counters.eq(counters.values),
            counters.clear.eq(regs.start),
            counters.running.eq(seq.busy),
            self.done.eq(regs.done_flag),
        ]

        # The sequencer hands each chunk to the dataflow's inner loop.
        m.d.comb += [
            loop.run.eq(seq.run),
            loop.chunk.eq(seq.chunk),
            loop.next_chunk.eq(seq.next_chunk),
            seq.chunk_done.eq(loop.chunk_done),
            seq.prefetch.eq(loop.prefetch),
            seq.drained.eq(loop.idle & ~acc.busy),
        ]

        # DMA engines on the DRAM port and their jobs from the sequencer.
        wiring.connect(m, seq.bias_job, bias_reader.job)
        wiring.connect(m, seq.write_job, writer.job)
        wiring.connect(m, writer.dram_cmd, wiring.flipped(self.dram.write_cmd))
        wiring.connect(m, writer.dram_data, wiring.flipped(self.dram.write_data))
        wiring.connect(m, bias_reader.buffer, bias_buffer.write)
        m.d.comb += [seq.writer_busy.eq(writer.busy), seq.bias_busy.eq(bias_reader.busy)]
        # The DRAM read port belongs to the bias reader while the sequencer loads the bias,
        # to the weight reader (when there is one) while it is busy (the sequencer never
        # runs it beside the input reader), and to the input reader otherwise.
        owners = [(bias_reader, seq.loading_bias)]
        if loop.separate_weight_reader:
            wiring.connect(m, seq.input_job, reader.job)
            wiring.connect(m, seq.weight_job, weight_reader.job)
            wiring.connect(m, weight_reader.buffer, wbuf.write)
            m.d.comb += seq.weight_busy.eq(weight_reader.busy | reader.busy)
            owners.append((weight_reader, ~seq.loading_bias & weight_reader.busy))
            owners.append((reader, ~seq.loading_bias & ~weight_reader.busy))
        else:
            # One reader for both; the sequencer never offers the two jobs at once.
            m.d.comb += [
                reader.job.valid.eq(seq.input_job.valid | seq.weight_job.valid),
                seq.input_job.ready.eq(reader.job.ready),
                seq.weight_job.ready.eq(reader.job.ready),
                seq.weight_busy.eq(reader.busy),
            ]
            with m.If(seq.weight_job.valid):
                m.d.comb += reader.job.payload.eq(seq.weight_job.payload)
            with m.Else():
                m.d.comb += reader.job.payload.eq(seq.input_job.payload)
            owners.append((reader, ~seq.loading_bias))
        for owner, selected in owners:
            m.d.comb += [
                owner.dram_cmd.ready.eq(self.dram.read_cmd.ready & selected),
                owner.dram_data.valid.eq(self.dram.read_data.valid & selected),
                owner.dram_data.payload.eq(self.dram.read_data.payload),
            ]
            with m.If(selected):
                m.d.comb += [
                    self.dram.read_cmd.valid.eq(owner.dram_cmd.valid),
                    self.dram.read_cmd.payload.eq(owner.dram_cmd.payload),
                    self.dram.read_data.ready.eq(owner.dram_data.ready),
                ]

        # The reader fills the input buffer, and (one reader for both) the weight buffer
        # when the sequencer says so.
        if loop.separate_weight_reader:
            wiring.connect(m, reader.buffer, ibuf.write)
        else:
            for buffer, selected in ((ibuf, ~seq.load_weights), (wbuf, seq.load_weights)):
                m.d.comb += [
                    buffer.write.addr.eq(reader.buffer.addr),
                    buffer.write.data.eq(reader.buffer.data),
                    buffer.write.en.eq(reader.buffer.en & selected),
                ]

        # The array reads the input and weight buffers; results accumulate in the output one.
        wiring.connect(m, loop.input_read, ibuf.read)
        wiring.connect(m, loop.weight_read, wbuf.read)
        if row_stationary:
            m.d.comb += [acc.y.eq(loop.y), acc.tag.eq(loop.tag)]
        else:
            m.d.comb += [
                array.x.eq(loop.x),
                loop.gated.eq(array.gated),
                acc.y.eq(array.y),
            ]
        if output_stationary:
            m.d.comb += [
                array.w.eq(loop.w),
                acc.tag.eq(array.y_tag),
                loop.array_busy.eq(array.busy),
            ]
        elif not row_stationary:
            m.d.comb += [
                array.w_data.eq(loop.w_data),
                array.w_shift.eq(loop.w_shift),
                array.w_commit.eq(loop.w_commit),
                array.w_slot.eq(loop.w_slot),
                *([getattr(array, name).eq(getattr(loop, name))
                   for name in ("depthwise", "dw_lane", "dw_rows", "dw_cols")]
                  if spec.depthwise_columns else []),
                *([getattr(array, name).eq(getattr(loop, name)) for name in LINE_PORTS]
                  if spec.depthwise_line_rows else []),
                acc.tag.eq(loop.tag),
            ]
        # The accumulator and the writer read the same half only when the controller keeps
        # them apart in time (one-buffer mappings); then the accumulator's read wins.
        def half(addr):
            return addr >= half_words

        def within(addr):
            return Mux(half(addr), addr - half_words, addr)

        acc_half = Signal()
        writer_half = Signal()
        with m.If(acc.read.en):
            m.d.sync += acc_half.eq(half(acc.read.addr))
        with m.If(writer.buffer.en):
            m.d.sync += writer_half.eq(half(writer.buffer.addr))
        for index, buffer in enumerate(out_halves):
            acc_reads = acc.read.en & (half(acc.read.addr) == index)
            m.d.comb += [
                buffer.read.en.eq(acc_reads
                                  | (writer.buffer.en & (half(writer.buffer.addr) == index))),
                buffer.read.addr.eq(Mux(acc_reads, within(acc.read.addr),
                                        within(writer.buffer.addr))),
                buffer.write.en.eq(acc.write.en & (half(acc.write.addr) == index)),
                buffer.write.addr.eq(within(acc.write.addr)),
                buffer.write.data.eq(acc.write.data),
            ]
        lower, upper = out_halves
        m.d.comb += acc.read.data.eq(Mux(acc_half, upper.read.data, lower.read.data))

        # On the way out, every output word passes the post-processor with its biases.
        d = regs.descriptor
        m.d.comb += [
            bias_buffer.read.en.eq(writer.buffer.en),
            bias_buffer.read.addr.eq(writer.row_word + seq.k_word_base),
            post.acc.eq(Mux(writer_half, upper.read.data, lower.read.data)),
            post.bias.eq(bias_buffer.read.data),
            post.config.bias.eq(d.post.bias),
            post.config.requant.eq(d.post.requant),
            post.config.relu.eq(d.post.relu),
            post.config.mult.eq(d.requant_mult),
            post.config.shift.eq(d.requant_shift),
            post.config.zero_point.eq(d.zero_point),
            writer.buffer.data.eq(post.out),
        ]

        e = counters.events
        bus_bytes = spec.dram_bus_bytes
        m.d.comb += [
            e.busy_cycles.eq(loop.events.busy_cycles),
            e.stall_cycles.eq(Cat(r.stalled for r in readers).any() | bias_reader.stalled
                              | writer.stalled),
            e.macs.eq(loop.events.macs),
            e.macs_gated.eq(loop.events.macs_gated),
            e.rf_reads.eq(loop.events.macs),
            e.rf_writes.eq(loop.events.rf_writes),
            e.array_transfers.eq(loop.events.array_transfers),
            e.glb_input_reads.eq(ibuf.reads),
            e.glb_input_writes.eq(ibuf.writes),
            e.glb_weight_reads.eq(wbuf.reads),
            e.glb_weight_writes.eq(wbuf.writes),
            e.glb_output_reads.eq(lower.reads + upper.reads),
            e.glb_output_writes.eq(lower.writes + upper.writes),
            e.dram_bytes_read.eq((Cat(r.beat for r in readers).any() | bias_reader.beat)
                                 * bus_bytes),
            e.dram_bytes_written.eq(writer.beat * bus_bytes),
        ]
        if spec.depthwise_line_rows:
            m.d.comb += e.line_buffer_steps.eq(loop.dw_step)
        if row_stationary:
            m.d.comb += e.rf_reads.eq(loop.rf_reads)
            m.d.comb += [getattr(e, name).eq(getattr(loop.array_events, event))
                         for name, event in COUNTED_EVENTS.items()]
        if spec.skips_weights:
            m.d.comb += [e.macs_skipped.eq(loop.macs_skipped),
                         e.rf_reads.eq(loop.events.macs - loop.macs_skipped)]
        if compressing:
            m.d.comb += [
                writer.compress.eq(d.y_compressed),
                writer.layer_start.eq(regs.start),
                writer.table_addr.eq(d.y_table_addr),
                writer.groups.eq(d.y_groups),
                writer.group_table_beats.eq(d.y_group_table_beats),
                writer.unit_rows.eq(d.q),
                e.compressor_beats.eq(writer.encoded),
                e.compressed_bytes_written.eq((writer.beat & d.y_compressed) * bus_bytes),
                # Input jobs read X compressed; weight jobs (one reader for both) never.
                reader.decompress.eq(d.x_compressed & ~seq.weight_job.valid),
                reader.table_addr.eq(d.x_table_addr),
                reader.table_row.eq(seq.x_table_row),
                reader.unit_rows.eq(d.w),
                e.decompressor_beats.eq(reader.decoded),
                e.compressed_bytes_read.eq((reader.beat & reader.decompressing) * bus_bytes),
            ]
        return m
