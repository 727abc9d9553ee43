"""The kernel SAD/SPD interface (:mod:`racoon2.kernel.api`) and its backends.

Pure code imports :mod:`racoon2.kernel.api` and runs this package's ``__init__``, so it holds
nothing; the shells open the system's backend with :func:`racoon2.kernel.system.open_backend`.
"""
