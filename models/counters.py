"""The activity counters: the one table naming every counter the hardware keeps.

The RTL generates one counter per row (pyhdl/counters.py), the register map places them
(models/registers.py), the testbench reads them by name and the cost models price them.
Each entry is (name, what one count means).
"""

RS_COUNTERS = (
    ("filter_rf_reads", "filter-scratchpad reads: one per MAC"),
    ("filter_rf_writes", "filter-scratchpad writes: every weight a PE loads from its filter bus"),
    ("input_rf_reads", "input-window reads: one per (output, channel, tap) a PE convolves"),
    ("input_rf_writes", "input-window writes: every input word a PE takes from the input bus"),
    ("psum_rf_reads", "psum register-file reads: one per MAC (the drain's read included)"),
    ("psum_rf_writes", "psum register-file writes: one per MAC"),
    ("filter_bus_words", "weights put on the horizontal filter buses (one per PE row and word)"),
    ("filter_bus_deliveries", "weights the filter buses deliver (a word reaches a row's PEs)"),
    ("input_bus_sends", "words put on the diagonal input bus"),
    ("input_bus_deliveries", "input words the bus delivers (a word reaches its diagonal's PEs)"),
    ("psum_hops", "partial sums passed from a PE to the one above it"),
    ("passes", "array passes (image, filter tile, channel tile, fold, strip)"),
)
"""The row-stationary array's own events (pyhdl/rs_array.py), zero on the other dataflows:
its register-file accesses split by operand (rf_reads and rf_writes are their sums), its
multicast buses, psum hops and passes."""

COUNTERS = (
    ("cycles", "clock cycles from start to done"),
    ("busy_cycles", "cycles in which an input vector enters the PE array"),
    ("stall_cycles", "cycles in which a DMA waits on the DRAM port (no read data, or write data not accepted)"),
    ("macs", "multiply-accumulates the layer needs, on active PEs (gated ones included)"),
    ("macs_gated", "of those, MACs skipped because an operand was zero"),
    ("macs_skipped", "of those, MACs not performed: weights a 2:4 layer prunes, skipped by the "
                     "array's index selection"),
    ("rf_reads", "PE register-file reads: one stationary-weight read per MAC"),
    ("rf_writes", "PE register-file writes: every PE's weight commit"),
    ("array_transfers", "operands and partial sums moved between neighbouring PE registers"),
    ("glb_input_reads", "input-buffer word reads"),
    ("glb_input_writes", "input-buffer word writes"),
    ("glb_weight_reads", "weight-buffer word reads"),
    ("glb_weight_writes", "weight-buffer word writes"),
    ("glb_output_reads", "output-buffer word reads (accumulate and write-back)"),
    ("glb_output_writes", "output-buffer word writes (accumulate)"),
    ("dram_bytes_read", "bytes read from DRAM"),
    ("dram_bytes_written", "bytes written to DRAM"),
    ("compressor_beats", "dense DRAM beats of activation rows through the bitmask compressor"),
    ("compressed_bytes_written", "of dram_bytes_written, the bytes of compressed activations: "
                                 "their rows (encoded, or dense where not shorter) and length "
                                 "table"),
    ("decompressor_beats", "dense DRAM beats of activation rows out of the bitmask "
                           "decompressor (rows stored encoded or dense)"),
    ("line_buffer_steps", "depthwise line-buffer steps: one word read and one written"),
    ("compressed_bytes_read", "of dram_bytes_read, the bytes of compressed activations: their "
                              "stored rows and the length-table beats fetched"),
) + RS_COUNTERS

COUNTER_NAMES = tuple(name for name, _ in COUNTERS)
RS_COUNTER_NAMES = tuple(name for name, _ in RS_COUNTERS)
COUNTER_BITS = 48
"""Width of every counter: 2**48 cycles is over six days at 500 MHz."""
