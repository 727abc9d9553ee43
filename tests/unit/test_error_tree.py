"""The one error hierarchy (racoon2/errors.py): every exception the project defines is a
Racoon2Error, and none is also a ValueError that a bare ``except ValueError`` could swallow."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

from racoon2.errors import KerberosError, ProtocolError, Racoon2Error, SettingsError

#: Control-flow signals that never leave their module (they become a reply or a usage text).
INTERNAL = {"racoon2.spmif.commands.Rejected", "spmd.ctl.Usage"}


def _exception_classes() -> list[type[BaseException]]:
    found = []
    for top in ("racoon2", "iked", "kinkd", "spmd"):
        package = importlib.import_module(top)
        names = [top] + [m.name for m in pkgutil.walk_packages(package.__path__, f"{top}.")]
        for name in names:
            if name.endswith("__main__"):
                continue
            module = importlib.import_module(name)
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, BaseException) and \
                        value.__module__ == name:
                    found.append(value)
    return found


def test_every_project_exception_is_a_racoon2_error() -> None:
    classes = _exception_classes()
    assert len(classes) > 10
    outside = [f"{c.__module__}.{c.__qualname__}" for c in classes
               if not issubclass(c, Racoon2Error)]
    assert sorted(outside) == sorted(INTERNAL)
    assert not [c for c in classes if issubclass(c, ValueError | TypeError)]


@pytest.mark.parametrize("module, name, base", [
    ("iked.ikev2.settings", "SettingsError", SettingsError),
    ("kinkd.settings", "SettingsError", SettingsError),
    ("kinkd.krb5.values", "Krb5Error", KerberosError),
    ("kinkd.exchange", "KinkError", ProtocolError),
])
def test_daemon_errors_sit_in_the_tree(module: str, name: str, base: type[Exception]) -> None:
    assert issubclass(getattr(importlib.import_module(module), name), base)


def test_krb5_error_keeps_its_code_and_text() -> None:
    from kinkd.krb5.values import KRB5KRB_AP_ERR_TKT_EXPIRED, Krb5Error

    e = Krb5Error(KRB5KRB_AP_ERR_TKT_EXPIRED, "Ticket expired")
    assert (e.code, e.message, str(e)) == (KRB5KRB_AP_ERR_TKT_EXPIRED, "Ticket expired",
                                           f"Ticket expired (krb5 error {e.code})")
    assert e.krb_error == 32
