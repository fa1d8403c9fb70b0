"""How the random regression's campaign splits its layers into Dask tasks."""

from testbench.arch_cover import MIN_POOL, POOL_FACTOR, arch_targets, covering_arch_seeds
from testbench.campaign import batches, time_left
from testbench.random_layers import arch_seeds, random_arch


def test_tasks_cover_every_layer_once_and_start_on_different_architectures():
    archs, layers, per_task = 3, 25, 10
    tasks = batches(7, archs, layers, per_task)
    seeds = arch_seeds(7, archs)
    assert sorted((seed, index) for seed, indices in tasks for index in indices) == sorted(
        (seed, index) for seed in seeds for index in range(layers))
    assert all(len(indices) <= per_task for _, indices in tasks)
    assert [seed for seed, _ in tasks[:archs]] == seeds


def test_time_left_is_the_pace_so_far():
    assert time_left(600, 100, 1000) == ", about 90 min left"
    assert time_left(600, 0, 1000) == ""
    assert time_left(600, 1000, 1000) == ""


def test_covering_choice_hits_every_target_of_its_pool_new_ones_first():
    for seed in (1, 67):
        chosen = covering_arch_seeds(seed, 8)
        pool = arch_seeds(seed, max(POOL_FACTOR * 8, MIN_POOL))
        assert len(set(chosen)) == 8 and set(chosen) <= set(pool)
        targets = [arch_targets(random_arch(arch_seed)) for arch_seed in chosen]
        everything = set().union(*(arch_targets(random_arch(s)) for s in pool))
        hit = set()
        for these in targets:
            assert these - hit or hit == everything  # a new target while one is left
            hit |= these
        assert hit == everything
        assert {"mode:compression", "mode:ws_2:4", "mode:os_2:4",
                "mode:depthwise_across_columns", "dataflow:rs"} <= hit
        assert covering_arch_seeds(seed, 8) == chosen


def test_covered_campaign_runs_the_chosen_architectures():
    tasks = batches(7, 3, 25, 25, cover=True)
    assert [seed for seed, _ in tasks] == covering_arch_seeds(7, 3)
