"""The CPU thread count follows what the machine gives: fewer threads when a busy machine stalls
them, all cores when it is quiet. A fake clock stands in for the machine."""

from __future__ import annotations

import pytest
import torch

from agentlab.models.cpu_threads import LONGEST_WAIT, ThreadTuner


class Machine:
    """A decode step's cost by thread count; the clock advances by it while a step runs."""

    def __init__(self, cost: dict[int, float]) -> None:
        self.cost, self.now, self.counts = cost, 0.0, []

    def clock(self) -> float:
        return self.now

    def step(self) -> int:
        count = torch.get_num_threads()
        self.counts.append(count)
        self.now += self.cost[count]
        return count


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_busy_machine_moves_to_the_faster_smaller_team():
    busy = Machine({1: 0.8, 2: 3.0})  # measured: 2 threads stall at every barrier on a loaded machine
    tuner = ThreadTuner(most=2, clock=busy.clock)
    with tuner.session():
        for _ in range(200):
            tuner.step(busy.step)
    assert tuner.threads == 1
    assert busy.counts[-150:].count(2) <= 3  # only the ever rarer probes of the larger team


def test_a_quiet_machine_keeps_every_core_and_probes_ever_less_often():
    quiet = Machine({1: 0.08, 2: 0.05})
    tuner = ThreadTuner(most=2, clock=quiet.clock)
    with tuner.session():
        for _ in range(1000):
            tuner.step(quiet.step)
    assert tuner.threads == 2
    probes = quiet.counts.count(1)
    assert 3 <= probes <= 1000 // LONGEST_WAIT + 6  # backed off to the longest wait


def test_when_the_load_goes_away_the_team_grows_back():
    machine = Machine({1: 0.8, 2: 3.0})
    tuner = ThreadTuner(most=2, clock=machine.clock)
    with tuner.session():
        for _ in range(40):
            tuner.step(machine.step)
        machine.cost = {1: 0.08, 2: 0.05}
        for _ in range(400):
            tuner.step(machine.step)
    assert tuner.threads == 2


def test_a_fixed_count_is_kept_and_the_callers_count_restored():
    torch.set_num_threads(2)
    machine = Machine({1: 0.8, 2: 3.0})
    tuner = ThreadTuner(most=2, fixed=2, clock=machine.clock)
    with tuner.session():
        for _ in range(50):
            tuner.step(machine.step)
        torch.set_num_threads(1)  # whatever happens inside, the caller gets its count back
    assert set(machine.counts) == {2}
    assert torch.get_num_threads() == 2


def test_a_count_beyond_the_cores_is_refused_with_the_range():
    with pytest.raises(ValueError, match=r"threads=9: use 1 to 2 .*'auto'"):
        ThreadTuner(most=2, fixed=9)


def test_steps_of_different_sizes_are_not_compared():
    """Prompt lookup feeds rows different numbers of tokens step by step: a cheap small step at the
    wrong count must not look like a win over a dear large one."""
    cost = {("small", 1): 0.10, ("small", 2): 0.06, ("large", 1): 0.50, ("large", 2): 0.30}
    now = [0.0]
    tuner = ThreadTuner(most=2, clock=lambda: now[0])
    sizes = ["large", "large", "small"] * 200
    with tuner.session():
        for size in sizes:

            def run(size=size):
                now[0] += cost[(size, torch.get_num_threads())]

            tuner.step(run, size)
    assert tuner.threads == 2  # quiet: 2 threads win at every size


def test_a_machine_that_turns_busy_after_a_quiet_stretch_is_noticed_at_once():
    """After a long quiet stretch the probes have backed off to the longest wait; a step that
    suddenly costs far more starts a probe on the next step instead of up to LONGEST_WAIT later."""
    machine = Machine({1: 0.08, 2: 0.05})
    tuner = ThreadTuner(most=2, clock=machine.clock)
    with tuner.session():
        for _ in range(1000):
            tuner.step(machine.step)
        assert tuner.wait == LONGEST_WAIT
        machine.cost = {1: 0.8, 2: 3.0}
        machine.counts.clear()
        for _ in range(10):
            tuner.step(machine.step)
    assert tuner.threads == 1
    assert machine.counts[:3] == [2, 1, 1]  # one slow step, the probe, then the smaller team
