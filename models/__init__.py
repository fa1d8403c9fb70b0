"""Pure-NumPy models of the accelerator: spec, golden model, counters, layout.

Nothing here imports Amaranth or cocotb; every layer above may import from here.
"""
