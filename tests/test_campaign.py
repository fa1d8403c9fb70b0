"""How the random regression's campaign splits its layers into Dask tasks."""

from testbench.campaign import batches, time_left
from testbench.random_layers import arch_seeds


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
