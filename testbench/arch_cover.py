"""Coverage-directed choice of a regression's architectures (`make regress COVER=1`).

Drawing the architectures one after another from the run's seed leaves some bins to chance:
a DRAM bus width, a 2:4 array of either dataflow, a compressing one, a depthwise-capable one
may all be missing from a run of a dozen architectures.  Instead, draw a pool of POOL_FACTOR
times as many and take, one at a time, the one whose targets (the bins the architecture alone
decides and the modes only some architectures have, testbench/coverage.py `arch_bins` and
`arch_modes`) are hit least so far: the most targets not yet hit, then the highest score, each
target scoring 1 / (1 + architectures already chosen that hit it), so that once all are hit a
mode's layer bins get a second architecture before any gets a third; the earliest drawn wins a
tie.  The layers drawn
on each are what they would be without it (they follow the architecture's own seed), so a
failure's reproducing command is the same.
"""

from collections import Counter

from .coverage import arch_bins, arch_modes
from .random_layers import arch_seeds, random_arch

POOL_FACTOR = 16
"""Architectures drawn per one chosen."""
MIN_POOL = 64
"""Architectures drawn at least, however few are chosen."""


def arch_targets(spec):
    """What choosing `spec` can hit: its architecture bins and its modes."""
    return arch_bins(spec) | arch_modes(spec)


def covering_arch_seeds(seed, count):
    """`count` architecture seeds chosen greedily from a pool drawn from `seed`, each the one
    whose targets the architectures chosen before it hit least."""
    pool = arch_seeds(seed, max(POOL_FACTOR * count, MIN_POOL))
    targets = {arch_seed: arch_targets(random_arch(arch_seed)) for arch_seed in pool}
    chosen, hits = [], Counter()

    def score(arch_seed):
        fresh = sum(1 for target in targets[arch_seed] if not hits[target])
        return fresh, sum(1 / (1 + hits[target]) for target in targets[arch_seed])

    for _ in range(count):
        best = max((s for s in pool if s not in chosen), key=score)
        chosen.append(best)
        hits.update(targets[best])
    return chosen
