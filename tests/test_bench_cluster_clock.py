"""``crowdveil bench cluster``'s steady-state rule: the same window for every run, rate and service time of the same files."""

from __future__ import annotations

from crowdveil.bench.cluster import _Clock


def _clock(workers: int, times: list[float], service: list[float]) -> _Clock:
    clock = _Clock(workers)
    clock.times, clock.service_ms = list(times), list(service)
    return clock


def test_one_worker_counts_from_its_first_file_to_its_last():
    # A cold first file (5 s) then 1 s each: the rate is the warm one.
    clock = _clock(1, [5, 6, 7, 8, 9], [4900, 990, 990, 990, 990])
    assert clock.steady_rate() == 1.0
    assert clock.steady_service_ms() == 990.0


def test_two_workers_leave_out_the_start_and_the_drain():
    # Both busy from t=2 (two files done) to t=5 (the last file handed out); after it one worker idles till 9.
    clock = _clock(2, [1, 2, 3, 4, 5, 9], [900, 900, 1000, 1000, 1000, 4000])
    assert clock.steady_rate() == 1.0  # 3 files in 3 s
    assert clock.steady_service_ms() == 1000.0


def test_too_few_files_give_no_rate():
    assert _clock(2, [1, 2, 3], [1, 1, 1]).steady_rate() is None
