"""racoon2-setup, the easy configuration tool (doc/setup.md).

A few answers in YAML (:mod:`.schema`, checked with line numbers by :mod:`.validate`) become
a :class:`.model.Setup`; :mod:`.conf` and :mod:`.peer` turn it into racoon2.conf, the other
side's swanctl.conf and the summary (pure); :mod:`.pki` makes the CA and certificates and
:mod:`.writer` the secrets, checks every racoon2.conf with the daemons' ``-n`` code and writes
(impure); :mod:`.cli` is the command.
"""
