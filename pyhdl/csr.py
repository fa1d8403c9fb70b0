"""The host register block: control, status, the layer descriptor and counter read-out."""

from amaranth import Module, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from models.counters import COUNTER_BITS, COUNTER_NAMES
from models.hardware import POST_FLAGS
from models.registers import (CONTROL, COUNTER_WORDS, DESCRIPTOR_FIELDS, DESCRIPTOR_NAMES,
                              REGISTER_COUNT, STATUS, counter_address, descriptor_address)

from .interfaces import RegisterBus

REGISTER_ADDR_BITS = (REGISTER_COUNT - 1).bit_length()


def post_layout():
    """The descriptor's `post` field: one flag per post-processing step."""
    return data.StructLayout({name: 1 for name in POST_FLAGS})


def descriptor_layout():
    """The layer descriptor as the controller sees it: each field at the width the hardware
    keeps (models.registers.DESCRIPTOR_FIELDS), `post` as named flags."""
    return data.StructLayout({
        field.name: post_layout() if field.name == "post"
        else signed(field.bits) if field.signed else unsigned(field.bits)
        for field in DESCRIPTOR_FIELDS})


class RegisterBlock(wiring.Component):
    """Registers at the addresses of models.registers, on a `RegisterBus`.

    Ports:
        bus: In(RegisterBus), the host side; reads return one cycle later.
        descriptor: Out(descriptor_layout()), held until the host writes it again.
        start: Out(1), a one-cycle pulse when the host writes 1 to CONTROL.
        busy, done: In(1), reported in STATUS (done, a pulse, is sticky there until the
            next start).  done_flag: Out(1), that sticky bit.
        counters: In, the activity counters, each read as low then high 32-bit word.
    """

    bus: In(RegisterBus(REGISTER_ADDR_BITS))
    descriptor: Out(descriptor_layout())
    start: Out(1)
    busy: In(1)
    done: In(1)
    done_flag: Out(1)
    counters: In(data.ArrayLayout(unsigned(COUNTER_BITS), len(COUNTER_NAMES)))

    def elaborate(self, platform):
        m = Module()
        done_flag = self.done_flag
        m.d.comb += self.start.eq(self.bus.w_stb & (self.bus.addr == CONTROL)
                                  & self.bus.w_data[0])
        with m.If(self.start):
            m.d.sync += done_flag.eq(0)
        with m.Elif(self.done):
            m.d.sync += done_flag.eq(1)

        with m.If(self.bus.w_stb):
            with m.Switch(self.bus.addr):
                for name in DESCRIPTOR_NAMES:
                    with m.Case(descriptor_address(name)):
                        field = Value.cast(getattr(self.descriptor, name))
                        m.d.sync += field.eq(self.bus.w_data[:len(field)])

        with m.Switch(self.bus.addr):
            with m.Case(STATUS):
                m.d.sync += self.bus.r_data.eq(self.busy | (done_flag << 1))
            for name in DESCRIPTOR_NAMES:
                with m.Case(descriptor_address(name)):
                    m.d.sync += self.bus.r_data.eq(Value.cast(getattr(self.descriptor, name)))
            for index, name in enumerate(COUNTER_NAMES):
                for word in range(COUNTER_WORDS):
                    with m.Case(counter_address(name) + word):
                        m.d.sync += self.bus.r_data.eq(
                            self.counters[index].word_select(word, 32)
                            if COUNTER_BITS > 32 * word + 32
                            else self.counters[index][32 * word:])
            with m.Default():
                m.d.sync += self.bus.r_data.eq(0)
        return m
