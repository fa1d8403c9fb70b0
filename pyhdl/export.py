"""Export an accelerator configuration as synthesis-ready Verilog."""

from pathlib import Path

from amaranth.back import verilog

from .top import Accelerator

TOP_NAME = "peforge_top"


def verilog_text(spec):
    """The Verilog of the accelerator for `spec`, top module `peforge_top`."""
    return verilog.convert(Accelerator(spec), name=TOP_NAME, emit_src=False)


def export_verilog(spec, out_dir):
    """Write `<out_dir>/peforge_top.v` for `spec` and return its path."""
    text = verilog_text(spec)   # first: a spec the generator refuses leaves nothing behind
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{TOP_NAME}.v"
    tmp = path.with_suffix(".v.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
