"""iked -j N's control socket (pure): one answer from the workers' answers to a command.

The coordinator passes an ikedctl command to every worker (``initiate`` to the one that is to
negotiate) and answers with what they hold together: the SA lists joined, each SA naming its
``worker``; counters added; a command about one SA answered by the worker that has it.  SA
numbers do not collide: worker i of N numbers its SAs i+1, i+1+N, … (:func:`numbering`).
"""

from __future__ import annotations

from collections.abc import Sequence

from racoon2.errors import ControlError, Racoon2Error

#: A worker's answer: its result, or the error it refused the command with.
Answer = object | Racoon2Error


def numbering(index: int, workers: int) -> tuple[int, int]:
    """(first SA number, step) of worker ``index`` of ``workers``."""
    return index + 1, workers


def _added(values: Sequence[object]) -> object:
    first = values[0]
    if isinstance(first, bool) or not isinstance(first, int | float | dict):
        return first
    if isinstance(first, dict):
        keys = dict.fromkeys(k for v in values if isinstance(v, dict) for k in v)
        return {k: _added([v[k] for v in values if isinstance(v, dict) and k in v])
                for k in keys}
    return sum(v for v in values if isinstance(v, int | float) and not isinstance(v, bool))


def _with_worker(sa: object, index: int) -> object:
    return {**sa, "worker": index} if isinstance(sa, dict) else sa


def merge(command: str, answers: Sequence[Answer], pid: int) -> object:
    """The coordinator's answer to ``command`` (``pid``: its own) from its workers' answers,
    in worker order; the first worker's error when none of them could answer."""
    good = [(i, a) for i, a in enumerate(answers) if not isinstance(a, Racoon2Error)]
    if not good:
        first = answers[0]
        assert isinstance(first, Racoon2Error)
        raise first if isinstance(first, ControlError) else ControlError(str(first))
    match command:
        case "sa list":
            return {"sas": [_with_worker(sa, i) for i, a in good if isinstance(a, dict)
                            for sa in a.get("sas", ())]}
        case "sa show":
            i, a = good[0]
            return {**a, "sa": _with_worker(a.get("sa"), i)} if isinstance(a, dict) else a
        case "terminate":
            return {"terminated": [t for _, a in good if isinstance(a, dict)
                                   for t in a.get("terminated", ())]}
        case "status":
            first = good[0][1]
            assert isinstance(first, dict)
            total = _added([a for _, a in good])
            assert isinstance(total, dict)
            counts = ("ike_sas", "isakmp_sas", "child_sas")
            return {**first, **{k: total[k] for k in counts if k in total}, "pid": pid,
                    "workers": [{"worker": i, "pid": a.get("pid"),
                                 **{k: a.get(k) for k in counts}}
                                for i, a in good if isinstance(a, dict)]}
        case "stats":
            return _added([a for _, a in good])
        case "reload":
            first = good[0][1]
            said = "; ".join(f"worker {i}: {a.get('message')}" for i, a in good
                             if isinstance(a, dict))
            return {**first, "message": said} if isinstance(first, dict) else first
    return good[0][1]  # rekey, initiate, log-level: one worker's answer says it
