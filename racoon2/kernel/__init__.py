"""The kernel SAD/SPD interface (:mod:`racoon2.kernel.api`) and its backends."""
