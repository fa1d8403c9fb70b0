"""Pipeline registers that reset only what must be reset: a token's `valid` bit."""

from amaranth import Signal


def token_register(m, layout, name):
    """A register of struct `layout`, which has a `valid` field; only `valid` is reset, the
    rest is data the valid bit qualifies, in reset-less flops.  Returns (q, load): the
    register's output and a function giving the statements that load a value into it."""
    payload = Signal(layout, name=name, reset_less=True)
    valid = Signal(name=f"{name}_valid")
    q = Signal(layout, name=f"{name}_q")
    m.d.comb += [q.eq(payload), q.valid.eq(valid)]

    def load(value):
        return [payload.eq(value), valid.eq(value.valid)]

    return q, load


def delayed_token(m, token, name):
    """`token` (a struct signal or view with a `valid` field) one cycle later, through a
    `token_register`."""
    q, load = token_register(m, token.shape(), name)
    m.d.sync += load(token)
    return q
