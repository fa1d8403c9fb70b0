"""The row-stationary (Eyeriss) PE array: rows x cols RowStationaryPEs joined by a tagged
horizontal filter bus per PE row, one tagged diagonal input bus and psum columns."""

from amaranth import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from models.counters import RS_COUNTER_NAMES
from pyhdl.rs_pe import RS_PE_EVENTS, RowStationaryPE

RS_ARRAY_EVENTS = ("passes", "pe_jobs", "glb_filter_reads", "filter_bus_deliveries",
                   "input_bus_sends", "input_bus_deliveries", "glb_psum_reads",
                   "glb_psum_writes", "psum_hops")
"""What the array counts beyond its PEs, named as models.row_stationary.ARRAY_EVENTS."""

COUNTED_EVENTS = {name: "glb_filter_reads" if name == "filter_bus_words" else name
                  for name in RS_COUNTER_NAMES}
"""The event behind each of the activity counters' row-stationary rows (models/counters.py
RS_COUNTERS): the filter buses' words are the array's reads of its filter inputs."""


def pass_layout(rows, cols, filter_depth, input_depth, psum_depth, max_stride, output_bits):
    """One pass's configuration, held stable from `start` until `busy` falls.

    fold_rows / strip_cols: the logical set's rows and columns on the array (its vertical and
    horizontal replication period); fold_len / strip_len: how many of them this pass's fold
    and strip use; vertical_sets / horizontal_sets: the replicas in use (channel groups,
    filter groups); channels[v] / filters[h]: q of vertical set v, p of horizontal set h;
    taps S, step min(U, S), outputs F, stride U; accumulate: the columns start from the
    global buffer's partial sums (psum_in) instead of zero."""
    return data.StructLayout({
        "fold_rows": range(1, rows + 1), "fold_len": range(1, rows + 1),
        "vertical_sets": range(1, rows + 1),
        "strip_cols": range(1, cols + 1), "strip_len": range(1, cols + 1),
        "horizontal_sets": range(1, cols + 1),
        "channels": data.ArrayLayout(range(1, input_depth + 1), rows),
        "filters": data.ArrayLayout(range(1, psum_depth + 1), cols),
        "taps": range(1, min(filter_depth, input_depth) + 1),
        "step": range(1, input_depth + 1),
        "outputs": range(1, 2 ** output_bits),
        "stride": range(1, max_stride + 1),
        "accumulate": 1,
    })


class Place:
    """Where each PE row (or column) sits in the replicated set: index in the set, the set,
    whether the pass uses it; stepped from the previous row (column) by adders only."""

    def __init__(self, m, name, count, period, used, sets):
        self.index = [Signal(range(count), name=f"{name}{n}_index") for n in range(count)]
        self.set = [Signal(range(count), name=f"{name}{n}_set") for n in range(count)]
        self.first = [Signal(name=f"{name}{n}_first") for n in range(count)]
        self.active = [Signal(name=f"{name}{n}_active") for n in range(count)]
        m.d.comb += [self.first[0].eq(1), self.index[0].eq(0), self.set[0].eq(0)]
        for n in range(1, count):
            wraps = self.index[n - 1] == period - 1
            m.d.comb += [self.first[n].eq(wraps),
                         self.index[n].eq(Mux(wraps, 0, self.index[n - 1] + 1)),
                         self.set[n].eq(self.set[n - 1] + wraps)]
        for n in range(count):
            m.d.comb += self.active[n].eq((self.index[n] < used) & (self.set[n] < sets))


def array_events_layout(rows, cols):
    """RowStationaryPEArray's `events` on a rows x cols array: a cycle's count of each event."""
    return data.StructLayout({name: (rows * cols).bit_length() + 1
                              for name in RS_PE_EVENTS + RS_ARRAY_EVENTS})


class _Placed:
    """A `Place`'s set and active flag of each PE row (column), its job count (channels of
    its vertical set, filters of its horizontal set) and its diagonal offset (row index,
    column's j*U), registered: they follow the configuration a cycle later."""

    def __init__(self, m, name, place, job, offset):
        def registered(values, what):
            copies = [Signal.like(value, name=f"{name}{n}_{what}_q")
                      for n, value in enumerate(values)]
            m.d.sync += [copy.eq(value) for copy, value in zip(copies, values)]
            return copies

        self.set = registered(place.set, "set")
        self.active = registered(place.active, "active")
        self.job = registered(job, "job")
        self.offset = registered(offset, "offset")


def _popcount(bits):
    return sum(bit.as_unsigned() for bit in bits)


class RowStationaryPEArray(wiring.Component):
    """Eyeriss's PE array: a rows x cols grid of RowStationaryPE running one pass.

    PE (a, b) (row a from the bottom, column b) sits at filter row i = a mod fold_rows of
    vertical set v = a div fold_rows and output row j = b mod strip_cols of horizontal set
    h = b div strip_cols (stepped by counters along the rows and columns, no division); it is
    active when i < fold_len, v < vertical_sets, j < strip_len and h < horizontal_sets, and
    runs p = filters[h], q = channels[v], S, step, F. Its diagonal is i + j*U, the j*U
    stepped by adding U column to column (no multiplier outside the PEs' MACs).

    Ports:
        config: the pass (`pass_layout`), stable from `start` until `busy` falls.
        start, busy: `start` (one cycle, while idle) starts every active PE `START_LATENCY`
            cycles later; `busy` from then while any PE is.
        filter_in[a]: PE row a's horizontal filter bus, words tagged with the horizontal set;
            a word is delivered at once to every active PE of the row in that set (it waits
            until all of them are ready), in their load order (channel, tap, filter).
        input_in: the diagonal input bus, words tagged (vertical set, diagonal y); a word is
            delivered at once to every active PE of that vertical set with i + j*U = y, in
            every horizontal set (each PE takes, per output and channel, the window's new
            words). Send every diagonal's words of output f before any of output f + 1.
        psum_in[b] / psum_out[b]: column b's partial sums from and to the global buffer, per
            output f, per filter. Each PE's sums go into the psum_in of the next active PE
            above (inactive PEs are bypassed); the bottom active PE adds psum_in[b] when
            `accumulate`, zero otherwise; the top one's sums leave on psum_out[b].
        events: the previous cycle's event counts, one per RS_PE_EVENTS name (summed over
            the PEs' event strobes) and per RS_ARRAY_EVENTS name: passes (starts), pe_jobs
            (PEs started), glb_filter_reads (filter bus sends), filter_bus_deliveries (one per
            receiving PE), input_bus_sends, input_bus_deliveries, glb_psum_reads /
            glb_psum_writes (psum_in / psum_out transfers), psum_hops (sums passed from a PE
            to the PE above).  The strobes are registered before their adder trees, so no
            count sits on a path of the array's logic (`EVENT_LATENCY`).  The array keeps
            no totals: the accelerator's counter block (models/counters.py RS_COUNTERS)
            adds `events` up.

    Latency: the placement (each PE row's and column's set, activity, job count and diagonal
    offset) is registered from `config`, so the PEs start `START_LATENCY` cycles after
    `start`, each then as RowStationaryPE.job_cycles when its buses keep up (a PE loads no
    earlier than the filter feed's first word, two cycles after `start`, so the pass is no
    longer); the buses are combinational (a word moves in the cycle every receiver is
    ready), so the pass lasts at least the input bus's words plus the last PE's compute and
    the column's drain.
    """

    START_LATENCY = 1
    """Cycles from `start` to the PEs' start: the placement stage."""
    EVENT_LATENCY = 1
    """Cycles from an event to `events`: the strobes' register."""

    def __init__(self, rows, cols, operand_bits, acc_bits, filter_depth, input_depth,
                 psum_depth, max_stride=7, output_bits=12):
        for name, value in (("rows", rows), ("cols", cols), ("max_stride", max_stride)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"RowStationaryPEArray: {name} must be a positive integer, "
                                 f"not {value!r}")
        self.rows, self.cols = rows, cols
        self.pe_args = dict(operand_bits=operand_bits, acc_bits=acc_bits,
                            filter_depth=filter_depth, input_depth=input_depth,
                            psum_depth=psum_depth, output_bits=output_bits)
        self.diagonals = rows + (cols - 1) * max_stride
        super().__init__({
            "config": In(pass_layout(rows, cols, filter_depth, input_depth, psum_depth,
                                     max_stride, output_bits)),
            "start": In(1),
            "busy": Out(1),
            "filter_in": In(stream.Signature(data.StructLayout({
                "hset": range(cols), "data": signed(operand_bits)}))).array(rows),
            "input_in": In(stream.Signature(data.StructLayout({
                "vset": range(rows), "diagonal": range(self.diagonals),
                "data": signed(operand_bits)}))),
            "psum_in": In(stream.Signature(signed(acc_bits))).array(cols),
            "psum_out": Out(stream.Signature(signed(acc_bits))).array(cols),
            "events": Out(array_events_layout(rows, cols)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        rows = Place(m, "row", self.rows, cfg.fold_rows, cfg.fold_len, cfg.vertical_sets)
        cols = Place(m, "col", self.cols, cfg.strip_cols, cfg.strip_len, cfg.horizontal_sets)
        col_offset = [Signal(range(self.diagonals), name=f"col{b}_offset")
                      for b in range(self.cols)]
        for b in range(1, self.cols):
            m.d.comb += col_offset[b].eq(Mux(cols.first[b], 0, col_offset[b - 1] + cfg.stride))
        channels = Array(cfg.channels[v] for v in range(self.rows))
        filters = Array(cfg.filters[h] for h in range(self.cols))
        # The placement stage (START_LATENCY): every PE row's and column's place and job,
        # registered from the configuration, so the placement chains end in it.
        rows = _Placed(m, "row", rows, [channels[rows.set[a]] for a in range(self.rows)],
                       [rows.index[a] for a in range(self.rows)])
        cols = _Placed(m, "col", cols, [filters[cols.set[b]] for b in range(self.cols)],
                       col_offset)
        started = Signal()
        m.d.sync += started.eq(self.start)

        pes = [[RowStationaryPE(**self.pe_args) for _ in range(self.cols)]
               for _ in range(self.rows)]
        active = [[rows.active[a] & cols.active[b] for b in range(self.cols)]
                  for a in range(self.rows)]
        for a in range(self.rows):
            for b in range(self.cols):
                pe = m.submodules[f"pe_{a}_{b}"] = pes[a][b]
                m.d.comb += [pe.start.eq(started & active[a][b]),
                             pe.job.filters.eq(cols.job[b]),
                             pe.job.channels.eq(rows.job[a]),
                             pe.job.taps.eq(cfg.taps), pe.job.step.eq(cfg.step),
                             pe.job.outputs.eq(cfg.outputs)]
        m.d.comb += self.busy.eq(started | Cat(pe.busy for row in pes for pe in row).any())

        filter_deliveries = [self._filter_bus(m, a, pes[a], active[a], cols.set)
                             for a in range(self.rows)]
        diagonal = [[rows.offset[a] + cols.offset[b] for b in range(self.cols)]
                    for a in range(self.rows)]
        wanted = [[active[a][b] & (rows.set[a] == self.input_in.payload.vset)
                   & (diagonal[a][b] == self.input_in.payload.diagonal)
                   for b in range(self.cols)] for a in range(self.rows)]
        input_deliveries = self._multicast(
            m, self.input_in, [pe for row in pes for pe in row],
            [w for row in wanted for w in row], "input_in", "input_bus")
        below_active = [Signal(name=f"row{a}_below_active") for a in range(self.rows)]
        for a in range(1, self.rows):
            m.d.comb += below_active[a].eq(below_active[a - 1] | rows.active[a - 1])
        for b in range(self.cols):
            self._psum_column(m, b, [pes[a][b] for a in range(self.rows)],
                              [active[a][b] for a in range(self.rows)], cols.active[b])

        pe_strobes = {name: [getattr(pe.events, name) for row in pes for pe in row]
                      for name in RS_PE_EVENTS}
        strobes = dict(pe_strobes, **{
            "passes": [self.start],
            "pe_jobs": [pe.start for row in pes for pe in row],
            "glb_filter_reads": [port.valid & port.ready for port in self.filter_in],
            "filter_bus_deliveries": [d for row in filter_deliveries for d in row],
            "input_bus_sends": [self.input_in.valid & self.input_in.ready],
            "input_bus_deliveries": input_deliveries,
            "glb_psum_reads": [port.valid & port.ready for port in self.psum_in],
            "glb_psum_writes": [port.valid & port.ready for port in self.psum_out],
            # The bottom row has no PE below it to hop from.
            "psum_hops": [pes[a][b].events.psum_drains & below_active[a]
                          for a in range(1, self.rows) for b in range(self.cols)],
        })
        for name, bits in strobes.items():
            registered = Signal(len(bits), name=f"{name}_strobes")
            m.d.sync += registered.eq(Cat(bits))
            m.d.comb += getattr(self.events, name).eq(_popcount(registered))
        return m

    def _filter_bus(self, m, a, row_pes, row_active, col_set):
        """Row a's filter bus to the active PEs of the word's horizontal set; returns the
        delivery strobes."""
        bus = self.filter_in[a]
        wanted = [row_active[b] & (col_set[b] == bus.payload.hset) for b in range(self.cols)]
        return self._multicast(m, bus, row_pes, wanted, "filter_in", f"filter_bus{a}")

    @staticmethod
    def _multicast(m, bus, pes, wanted, port_name, bus_name):
        """Deliver `bus` to the `port_name` stream of every PE whose `wanted` is high, all in
        the same cycle once all of them are ready; returns the delivery strobes."""
        ports = [getattr(pe, port_name) for pe in pes]
        all_ready = Signal(name=f"{bus_name}_all_ready")
        m.d.comb += [all_ready.eq(~Cat(w & ~port.ready for w, port in zip(wanted, ports)).any()),
                     bus.ready.eq(all_ready)]
        deliveries = []
        for w, port in zip(wanted, ports):
            m.d.comb += [port.payload.eq(bus.payload.data),
                         port.valid.eq(bus.valid & w & all_ready)]
            deliveries.append(port.valid)
        return deliveries

    def _psum_column(self, m, b, column, active, col_active):
        """Column b's psum chain, bottom to top, bypassing inactive PEs."""
        bottom = self.psum_in[b]
        valid = Mux(self.config.accumulate, bottom.valid, 1)
        payload = Mux(self.config.accumulate, bottom.payload, 0)
        ready = [Signal(name=f"col{b}_link{a}_ready") for a in range(self.rows + 1)]
        m.d.comb += bottom.ready.eq(self.config.accumulate & ready[0])
        for a, (pe, on) in enumerate(zip(column, active)):
            m.d.comb += [pe.psum_in.valid.eq(on & valid), pe.psum_in.payload.eq(payload),
                         ready[a].eq(Mux(on, pe.psum_in.ready, ready[a + 1])),
                         pe.psum_out.ready.eq(on & ready[a + 1])]
            valid = Mux(on, pe.psum_out.valid, valid)
            payload = Mux(on, pe.psum_out.payload, payload)
        top = self.psum_out[b]
        m.d.comb += [top.valid.eq(col_active & valid), top.payload.eq(payload),
                     ready[self.rows].eq(col_active & top.ready)]
