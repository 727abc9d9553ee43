"""racoon2-convert: a racoon.conf of ipsec-tools' racoon (and the SPD it relied on) → a
racoon2.conf with the same intent, and a report of what became of every statement
(doc/convert.md).

The pipeline is pure: :mod:`~racoon2.convert.syntax` (tokens, statements, includes through
a reader the caller gives), :mod:`~racoon2.convert.grammar` (racoon.conf(5)'s directives),
:mod:`~racoon2.convert.spd` (setkey.conf, ``setkey -DP``), the mapper
(:mod:`~racoon2.convert.mapper`, :mod:`~racoon2.convert.remotes`,
:mod:`~racoon2.convert.policies`) and :mod:`~racoon2.convert.output` (the writer and the
report).  :mod:`racoon2.convert.cli` reads the files and runs the daemons' checks.
"""

from racoon2.convert.mapper import Options, Result, convert_text

__all__ = ["Options", "Result", "convert_text"]
