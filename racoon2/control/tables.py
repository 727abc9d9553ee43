"""What ikedctl and kinkdctl print (pure): the tables an admin reads for each answer, and
``stats --prometheus``, the text exposition format node_exporter's textfile collector reads
(https://prometheus.io/docs/instrumenting/exposition_formats/).  ``now`` (wall-clock seconds)
comes from the caller, for the "up 5m" and "rekey in 55m" columns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Doc = Mapping[str, Any]


def duration(seconds: float) -> str:
    """``3d04h``, ``2h05m``, ``5m10s``, ``42s``: the two largest units."""
    s = int(max(0, seconds))
    d, h, m = s // 86400, s // 3600 % 24, s // 60 % 60
    if d:
        return f"{d}d{h:02d}h"
    if h:
        return f"{h}h{m:02d}m"
    if m:
        return f"{m}m{s % 60:02d}s"
    return f"{s}s"


def _since(t: int | None, now: float) -> str:
    return duration(now - t) if t is not None else "-"


def _until(t: int | None, now: float) -> str:
    if t is None:
        return "-"
    return f"in {duration(t - now)}" if t > now else "due"


def _traffic(c: Doc) -> str:
    if c.get("kernel") != "installed":
        return f"kernel SAs {c.get('kernel')}: no counters"
    i, o = c["in"], c["out"]
    return f"in {i['bytes']} B/{i['packets']} pkts, out {o['bytes']} B/{o['packets']} pkts"


def _keys(d: Doc, width: int = 18) -> list[str]:
    return [f"{k:<{width}} {v}" for k, v in d.items() if not isinstance(v, Mapping | list)]


def status(result: Doc, now: float) -> list[str]:
    """``status``: one setting a line."""
    out = _keys({k: (duration(v) if k == "uptime" else v) for k, v in result.items()})
    for k, v in result.items():
        if isinstance(v, list):
            out.append(f"{k:<18} {', '.join(map(str, v)) or '-'}")
    return out


def _pfs(c: Doc) -> str:
    kex = c.get("key_exchanges")
    return f", PFS {' + '.join(kex)}" if kex else ""


def _child_lines(c: Doc, now: float, indent: str) -> list[str]:
    ipcomp = f", IPComp {c['ipcomp']}" if c.get("ipcomp") else ""
    pad = " " * (len(indent) + 2)
    return [
        f"{indent}{c['policy']}: {(c.get('protocol') or '?').upper()} {c['mode']} "
        f"{c['state']}, spi in 0x{c['spi_in']} out 0x{c['spi_out']}{ipcomp}",
        f"{pad}{c['local_ts']} <=> {c['remote_ts']}",
        f"{pad}{c.get('algorithms') or '-'}{_pfs(c)}, up {_since(c.get('established'), now)}, "
        f"rekey {_until(c.get('rekey'), now)}",
        f"{pad}{_traffic(c)}",
    ]


def sa_list(result: Doc, now: float) -> list[str]:
    """``sa list``: a line an SA, its CHILD_SAs below it (kinkd's: a line a pair)."""
    if "sa_pairs" in result:
        return _pair_list(result["sa_pairs"], now)
    sas: Sequence[Doc] = result.get("sas", [])
    if not sas:
        return ["no SA"]
    out = [f"{'ID':>4} {'VER':<5} {'REMOTE':<12} {'PEER':<26} {'STATE':<13} {'UP':>7} "
           f"{'REKEY':>9} CHILD_SAs"]
    for sa in sas:
        out.append(f"{sa['id']:>4} {'IKEv' + str(sa['version']):<5} {sa['remote']:<12} "
                   f"{sa['peer']:<26} {sa['state']:<13} {_since(sa.get('established'), now):>7}"
                   f" {_until(sa.get('rekey'), now):>9} {len(sa['children'])}")
        for c in sa["children"]:
            out.append(f"{'':>5}{c['policy']} {(c.get('protocol') or '?').upper()} "
                       f"{c['mode']} in 0x{c['spi_in']} out 0x{c['spi_out']} "
                       f"{c['local_ts']} <=> {c['remote_ts']}; {_traffic(c)}")
    return out


def sa_show(result: Doc, now: float) -> list[str]:
    """``sa show``: every field of one SA (kinkd's: of one SA pair)."""
    if "sa_pair" in result:
        return _pair_show(result["sa_pair"], now)
    sa = result["sa"]
    nat = sa["nat"]
    out = [
        f"IKE SA #{sa['id']} (IKEv{sa['version']}) {sa['name']}",
        f"  remote      {sa['remote']}, {'initiator' if sa['initiator'] else 'responder'}",
        f"  endpoints   {sa['local']} <=> {sa['peer']}",
        f"  identities  {sa.get('local_id') or '-'} <=> {sa.get('peer_id') or '-'}",
        f"  state       {sa['state']}, up {_since(sa.get('established'), now)}, "
        f"rekey {_until(sa.get('rekey'), now)}",
        f"  algorithms  {sa.get('algorithms') or '-'}",
        f"  key exch.   {' + '.join(sa.get('key_exchanges') or []) or '-'}"
        + (f", PPK {sa['ppk']}" if sa.get("ppk") else ""),
        "  NAT         " + ("none" if not nat["detected"] else
                            "this host is behind it" if nat["local_behind"] else "the peer "
                            "is behind it"),
        f"  virtual     {', '.join(sa['virtual_addresses']) or '-'}",
    ]
    for c in sa["children"]:
        out += _child_lines(c, now, "  CHILD_SA ")
    return out


def _pair_list(pairs: Sequence[Doc], now: float) -> list[str]:
    """kinkd's ``sa list``: a line a pair, its SPIs and counters on the next."""
    if not pairs:
        return ["no SA pair"]
    out = [f"{'POLICY':<16} {'PEER':<34} {'REMOTE':<26} {'UP':>7} ROLE"]
    for p in pairs:
        role = "initiator" if p["initiator"] else "responder"
        out.append(f"{p['policy']:<16} {p['peer']:<34} {p['remote']:<26} "
                   f"{_since(p.get('established'), now):>7} {role}"
                   + (", being replaced" if p["rekeyed"] else ""))
        out.append(f"{'':>5}ESP in 0x{p['spi_in']} out 0x{p['spi_out']}; {_traffic(p)}")
    return out


def _pair_show(p: Doc, now: float) -> list[str]:
    """kinkd's ``sa show``: every field of one SA pair."""
    return [
        f"SA pair {p['policy']} with {p['peer']}",
        f"  role        {'initiator' if p['initiator'] else 'responder'}",
        f"  endpoints   {p['local']} <=> {p['remote']}",
        f"  state       up {_since(p.get('established'), now)}"
        + (", being replaced (rekeyed)" if p["rekeyed"] else ""),
        f"  ESP         spi in 0x{p['spi_in']} out 0x{p['spi_out']}, outbound "
        + ("installed" if p["outbound_installed"] else "not installed"),
        f"  traffic     {_traffic(p)}",
    ]


def stats(result: Doc, now: float) -> list[str]:
    """``stats``: the counts, then each group of counters."""
    out = _keys(result)
    for group, values in result.items():
        if not isinstance(values, Mapping):
            continue
        out.append(f"{group}:")
        for k, v in values.items():
            if isinstance(v, Mapping):
                out += [f"  {k + ' ' + x:<36} {n}" for x, n in v.items()]
            else:
                out.append(f"  {k:<36} {v}")
    return out


def _operated(x: Doc) -> str:
    """One SA a terminate or rekey acted on: iked's by number, kinkd's pair by its SPIs."""
    if "id" in x:
        return f"#{x['id']} {x['name']}" + (f" CHILD_SA 0x{x['child']}" if x.get("child")
                                            else "")
    return f"{x['name']} (in 0x{x['spi_in']} out 0x{x['spi_out']})"


def generic(result: Doc, now: float) -> list[str]:
    """Any other answer (initiate, terminate, rekey, reload, log-level): its fields."""
    out = []
    for k, v in result.items():
        if isinstance(v, list):
            v = ", ".join(_operated(x) if isinstance(x, Mapping) else str(x)
                          for x in v) or "nothing"
        out.append(f"{k}: {v}")
    return out


#: The table of each command's answer.
TABLES: dict[str, Callable[[Doc, float], list[str]]] = {
    "status": status, "sa list": sa_list, "sa show": sa_show, "stats": stats,
}

#: stats groups that are counters (``_total``), and the labels of their keys.
LABELS = {"dropped": ("reason",), "exchanges": ("role", "exchange"), "events": ("event",)}
COUNTERS = {"retransmits", *LABELS}


def _label(value: str) -> str:
    # The exposition format's label value escapes: backslash, double quote, line feed.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _samples(name: str, labels: tuple[str, ...], values: Mapping[str, Any],
             given: tuple[str, ...] = ()) -> list[str]:
    out = []
    for key, v in values.items():
        here = (*given, key)
        if isinstance(v, Mapping):
            out += _samples(name, labels, v, here)
        else:
            pairs = ",".join(f'{n}="{_label(x)}"' for n, x in zip(labels, here, strict=False))
            out.append(f"{name}{{{pairs}}} {v}")
    return out


def prometheus(daemon: str, result: Doc) -> list[str]:
    """``stats --prometheus``: every number of ``stats`` as a metric
    ``racoon2_<daemon>_<name>``, counters with ``_total``, grouped ones labelled."""
    out = []
    for key, v in result.items():
        counter = key in COUNTERS
        name = f"racoon2_{daemon}_{key}" + ("_total" if counter else "")
        if isinstance(v, Mapping):
            samples = _samples(name, LABELS.get(key, ("name",)), v)
        elif isinstance(v, int) and not isinstance(v, bool):
            samples = [f"{name} {v}"]
        else:
            continue
        out += [f"# HELP {name} {daemon} {key.replace('_', ' ')} ({daemon}ctl stats)",
                f"# TYPE {name} {'counter' if counter else 'gauge'}", *samples]
    return out
