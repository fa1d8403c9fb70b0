# amaranth: UnusedElaboratable=no
"""DmaReader and DmaWriter in Amaranth's simulator against a small Python DRAM that stalls
at random: every byte lands where the job says, no word is lost, the assertions hold."""

import random

import pytest

from pyhdl.dma import DmaReader, DmaWriter
from testbench.amaranth_sim import simulate

BUS_BYTES = 4
ELEM_BITS = 8
ADDR_BITS = 8
ELEMS_PER_BEAT = 8 * BUS_BYTES // ELEM_BITS


def pack(elems, bits=ELEM_BITS):
    return sum(e << (i * bits) for i, e in enumerate(elems))


def chunks(elems, size):
    return [elems[i:i + size] for i in range(0, len(elems), size)]


class Dram:
    """Beats by address; accepts commands and data, and returns read beats, when `rng` lets
    it (probability `p` each cycle), read beats no sooner than `latency` after their command."""

    def __init__(self, rng, p, latency=3):
        self.rng, self.p, self.latency = rng, p, latency
        self.beats = {}
        self.bursts = []            # write bursts announced: [addr, beats left]
        self.returning = []         # read beats due: (cycle, addr)
        self.cycle = 0

    def willing(self):
        return self.rng.random() < self.p

    def step_commands(self, ctx, cmd, on_command):
        ready = self.willing()
        ctx.set(cmd.ready, ready)
        if ready and ctx.get(cmd.valid):
            on_command(ctx.get(cmd.payload.addr), ctx.get(cmd.payload.length))

    def queue_read(self, addr, length):
        due = self.cycle + self.latency
        self.returning += [(due, addr + i) for i in range(length)]

    def step_read_data(self, ctx, data):
        offer = bool(self.returning) and self.returning[0][0] <= self.cycle and self.willing()
        ctx.set(data.valid, offer)
        ctx.set(data.payload, self.beats[self.returning[0][1]] if offer else 0xdeadbeef)
        if offer and ctx.get(data.ready):
            self.returning.pop(0)

    def step_write_data(self, ctx, data):
        ready = bool(self.bursts) and self.willing()
        ctx.set(data.ready, ready)
        if ready and ctx.get(data.valid):
            burst = self.bursts[0]
            assert burst[0] not in self.beats, f"beat {burst[0]} written twice"
            self.beats[burst[0]] = ctx.get(data.payload)
            burst[0] += 1
            burst[1] -= 1
            if burst[1] == 0:
                self.bursts.pop(0)


# --- reader -------------------------------------------------------------------------------

def read_job(rng, elems_per_word):
    rows, row_elems = rng.randint(1, 5), rng.randint(1, 3 * elems_per_word + 2)
    row_beats = -(-row_elems // ELEMS_PER_BEAT)
    pitch = row_beats + rng.randint(0, 2)
    return {"base": rng.randint(0, 20), "addr": rng.randint(0, 30), "rows": rows,
            "row_beats": row_beats, "pitch": pitch, "row_elems": row_elems}


def run_reader(seed, elems_per_word, p_dram):
    rng = random.Random(seed)
    dut = DmaReader(BUS_BYTES, ELEM_BITS, elems_per_word, ADDR_BITS)
    dram = Dram(rng, p_dram)
    jobs = [read_job(rng, elems_per_word) for _ in range(3)]
    buffer, images, expected = {}, [], []
    for job in jobs:
        words, image = {}, {}
        for row in range(job["rows"]):
            elems = [rng.getrandbits(ELEM_BITS) for _ in range(job["row_elems"])]
            padded = elems + [rng.getrandbits(ELEM_BITS)
                              for _ in range(job["row_beats"] * ELEMS_PER_BEAT - len(elems))]
            for i, beat in enumerate(chunks(padded, ELEMS_PER_BEAT)):
                image[job["addr"] + row * job["pitch"] + i] = pack(beat)
            for word in chunks(elems, elems_per_word):
                words[job["base"] + len(words)] = pack(word)
        images.append(image)
        expected.append(words)

    async def bench(ctx):
        for job, image, words in zip(jobs, images, expected):
            buffer.clear()
            dram.beats = image
            ctx.set(dut.job.payload, job)
            ctx.set(dut.job.valid, 1)
            for _ in range(2000):
                dram.step_commands(ctx, dut.dram_cmd, dram.queue_read)
                dram.step_read_data(ctx, dut.dram_data)
                accepted = ctx.get(dut.job.ready)
                if ctx.get(dut.buffer.en):
                    addr = ctx.get(dut.buffer.addr)
                    assert addr not in buffer, f"buffer word {addr} written twice"
                    buffer[addr] = ctx.get(dut.buffer.data)
                await ctx.tick()
                dram.cycle += 1
                if accepted:
                    ctx.set(dut.job.valid, 0)
                elif not ctx.get(dut.job.valid) and not ctx.get(dut.busy):
                    break
            else:
                raise AssertionError("reader never went idle")
            assert buffer == words
            assert not dram.returning

    simulate(dut, bench)


@pytest.mark.parametrize("elems_per_word", [2, 4, 7])
@pytest.mark.parametrize("p_dram", [1.0, 0.4])
def test_reader_copies_rows_into_buffer_words(elems_per_word, p_dram):
    run_reader(elems_per_word * 10 + int(p_dram * 10), elems_per_word, p_dram)


# --- writer -------------------------------------------------------------------------------

def write_job(rng, elems_per_word, word_elems):
    rows, row_words = rng.randint(1, 5), rng.randint(1, 4)
    last_elems = rng.randint(1, word_elems)
    row_elems = (row_words - 1) * word_elems + last_elems
    row_beats = -(-row_elems // ELEMS_PER_BEAT)
    return {"base": rng.randint(0, 20), "addr": rng.randint(0, 30), "rows": rows,
            "row_words": row_words, "row_beats": row_beats,
            "pitch": row_beats + rng.randint(0, 2), "word_elems": word_elems,
            "last_elems": last_elems}


def run_writer(rng, dut, dram, job, buffer):
    """Run one write job to the end, the buffer answering `dut.read_latency` cycles after a
    read.  Returns the cycles in which a beat left."""
    beat_cycles = []

    async def bench(ctx):
        answers = [0] * dut.read_latency        # what the buffer returns, oldest first
        ctx.set(dut.job.payload, job)
        ctx.set(dut.job.valid, 1)
        for cycle in range(3000):
            ctx.set(dut.buffer.data, answers.pop(0))
            dram.step_commands(ctx, dut.dram_cmd,
                               lambda addr, length: dram.bursts.append([addr, length]))
            dram.step_write_data(ctx, dut.dram_data)
            if ctx.get(dut.beat):
                beat_cycles.append(cycle)
            accepted = ctx.get(dut.job.ready)
            en = ctx.get(dut.buffer.en)
            answers.append(buffer[ctx.get(dut.buffer.addr)] if en
                           else rng.getrandbits(len(dut.buffer.data)))
            await ctx.tick()
            if accepted:
                ctx.set(dut.job.valid, 0)
            elif not ctx.get(dut.job.valid) and not ctx.get(dut.busy):
                break
        else:
            raise AssertionError("writer never went idle")
        assert not dram.bursts

    simulate(dut, bench)
    return beat_cycles


def expected_rows(rng, job, elems_per_word, buffer):
    """Fill `buffer` with the job's words (garbage past each word's meaningful elements) and
    return the DRAM beats the job must write."""
    beats = {}
    for row in range(job["rows"]):
        elems = []
        for w in range(job["row_words"]):
            count = job["last_elems"] if w == job["row_words"] - 1 else job["word_elems"]
            word = [rng.getrandbits(ELEM_BITS) for _ in range(elems_per_word)]
            buffer[job["base"] + row * job["row_words"] + w] = pack(word)
            elems += word[:count]
        for i, beat in enumerate(chunks(elems, ELEMS_PER_BEAT)):
            beats[job["addr"] + row * job["pitch"] + i] = pack(beat)
    return beats


@pytest.mark.parametrize("read_latency", [1, 6])
@pytest.mark.parametrize("elems_per_word,word_elems", [(8, 8), (8, 4), (4, 3), (2, 2)])
@pytest.mark.parametrize("p_dram", [1.0, 0.3])
def test_writer_puts_every_byte_in_place(read_latency, elems_per_word, word_elems, p_dram):
    rng = random.Random(read_latency * 100 + elems_per_word * 10 + word_elems + p_dram)
    for _ in range(3):
        dut = DmaWriter(BUS_BYTES, ELEM_BITS, elems_per_word, ADDR_BITS, read_latency)
        dram = Dram(rng, p_dram)
        job = write_job(rng, elems_per_word, word_elems)
        buffer = {}
        beats = expected_rows(rng, job, elems_per_word, buffer)
        run_writer(rng, dut, dram, job, buffer)
        assert dram.beats == beats


@pytest.mark.parametrize("read_latency", [1, 2, 6, 11])
def test_writer_keeps_full_rate_whatever_the_read_latency(read_latency):
    """Words of one beat and a DRAM that never stalls: the beats leave one a cycle, from
    the first to the last, so the FIFO depth covers the words in flight."""
    rng = random.Random(read_latency)
    dut = DmaWriter(BUS_BYTES, ELEM_BITS, ELEMS_PER_BEAT, ADDR_BITS, read_latency)
    job = {"base": 0, "addr": 0, "rows": 6, "row_words": 5, "row_beats": 5, "pitch": 5,
           "word_elems": ELEMS_PER_BEAT, "last_elems": ELEMS_PER_BEAT}
    buffer = {}
    beats = expected_rows(rng, job, ELEMS_PER_BEAT, buffer)
    dram = Dram(rng, 1.0)
    cycles = run_writer(rng, dut, dram, job, buffer)
    assert dram.beats == beats
    assert cycles == list(range(cycles[0], cycles[0] + len(beats)))


def test_writer_rejects_a_read_latency_below_one():
    with pytest.raises(ValueError, match=r"^DmaWriter read latency must be at least 1, not 0$"):
        DmaWriter(BUS_BYTES, ELEM_BITS, 4, ADDR_BITS, 0)
