"""iked -j's control socket: the coordinator's one answer from its workers' answers."""

from __future__ import annotations

import pytest

from iked import ctl_merge
from iked.sa_view import Numbers
from racoon2.errors import ControlError


def test_sa_list_joins_and_names_the_worker() -> None:
    answers = [{"sas": [{"id": 1}, {"id": 3}]}, {"sas": [{"id": 2}]}]
    assert ctl_merge.merge("sa list", answers, 9) == {
        "sas": [{"id": 1, "worker": 0}, {"id": 3, "worker": 0}, {"id": 2, "worker": 1}]}


def test_one_sa_from_the_worker_that_has_it() -> None:
    answers = [ControlError("no SA 2"), {"sa": {"id": 2}}]
    assert ctl_merge.merge("sa show", answers, 9) == {"sa": {"id": 2, "worker": 1}}
    with pytest.raises(ControlError, match="no SA 7"):
        ctl_merge.merge("sa show", [ControlError("no SA 7"), ControlError("no SA 7")], 9)


def test_counters_add_up() -> None:
    a = {"ike_sas": 2, "dropped": {"unknown_spi": 1, "malformed": 0}, "retransmits": 3}
    b = {"ike_sas": 5, "dropped": {"unknown_spi": 0, "malformed": 4}, "retransmits": 1}
    assert ctl_merge.merge("stats", [a, b], 9) == {
        "ike_sas": 7, "dropped": {"unknown_spi": 1, "malformed": 4}, "retransmits": 4}


def test_status_is_the_coordinators_with_each_worker() -> None:
    w0 = {"daemon": "iked", "pid": 11, "ike_sas": 1, "isakmp_sas": 0, "child_sas": 1,
          "spmd": True}
    w1 = {"daemon": "iked", "pid": 12, "ike_sas": 2, "isakmp_sas": 1, "child_sas": 3,
          "spmd": True}
    got = ctl_merge.merge("status", [w0, w1], 10)
    assert isinstance(got, dict)
    assert (got["pid"], got["ike_sas"], got["isakmp_sas"], got["child_sas"]) == (10, 3, 1, 4)
    assert got["spmd"] is True
    assert got["workers"] == [
        {"worker": 0, "pid": 11, "ike_sas": 1, "isakmp_sas": 0, "child_sas": 1},
        {"worker": 1, "pid": 12, "ike_sas": 2, "isakmp_sas": 1, "child_sas": 3}]


def test_terminate_by_remote_joins_what_each_deleted() -> None:
    answers = [{"terminated": [{"id": 1}]}, ControlError("no SA or remote"),
               {"terminated": [{"id": 4}]}]
    assert ctl_merge.merge("terminate", answers, 9) == {"terminated": [{"id": 1}, {"id": 4}]}


def test_workers_numbers_do_not_collide() -> None:
    class Sa:
        pass
    workers = 3
    seen = set()
    for index in range(workers):
        numbers = Numbers(*ctl_merge.numbering(index, workers))
        mine = [numbers.of(Sa()) for _ in range(5)]
        assert all(n % workers == (index + 1) % workers for n in mine)
        seen.update(mine)
    assert len(seen) == 15
