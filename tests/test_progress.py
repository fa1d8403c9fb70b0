"""The progress bar of `peforge run --backend rtl`: layer names, elapsed time and an ETA that
follows the measured speed."""

import io

import peforge.network as network
from peforge.network import Progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_one_line_per_layer_with_names_and_eta(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(network.time, "monotonic", clock)
    stream = io.StringIO()
    overhead = Progress.OVERHEAD_CYCLES
    progress = Progress(["conv1", "conv2", "fc"], [925_000, 925_000 + overhead, 0], stream)
    progress.start(0)
    assert stream.getvalue() == ""              # not a terminal: no redraws
    clock.now += 10.0                           # conv1: 1 M weighted cycles in 10 s
    progress.finish(0, 925_000)
    progress.start(1)
    clock.now += 30.0
    progress.finish(1, 925_000, ", matches")
    progress.start(2)
    clock.now += 1.0
    progress.finish(2, 17)
    first, second, last = stream.getvalue().splitlines()
    # conv1 ran at 100 k weighted cycles/s; 1.075 M + 75 k remain: 11.5 s.
    assert first == ("peforge: [########----------------] 1/3 conv1: 925000 cycles; "
                     "10 s elapsed, ETA 12 s")
    # Then 2.075 M in 40 s: the 75 k left take 1.4 s.
    assert second == ("peforge: [################--------] 2/3 conv2: 925000 cycles, "
                      "matches; 40 s elapsed, ETA 1 s")
    assert last == "peforge: [########################] 3/3 fc: 17 cycles; 41 s elapsed"


def test_on_a_terminal_the_bar_redraws_in_place(monkeypatch):
    monkeypatch.setattr(network.time, "monotonic", Clock())

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progress = Progress(["only"], [Progress.PRIOR_CYCLES_PER_S * 2 - Progress.OVERHEAD_CYCLES],
                        stream)
    progress.start(0)
    assert stream.getvalue() == "\r\033[Kpeforge: [------------------------] 0/1 only running; " \
                                "0 s elapsed, ETA 2 s"
    progress.finish(0, 5)
    assert stream.getvalue().endswith("1/1 only: 5 cycles; 0 s elapsed\n")
