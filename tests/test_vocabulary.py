"""Every signal a discovery module declares is in the vocabulary, and every signal a rule uses is emitted."""

from __future__ import annotations

from scanner.discovery import registry
from scanner.match.engine import get_engine
from scanner.signals import SIGNALS


def test_modules_declare_only_vocabulary_signals() -> None:
    for name in registry.MODULES:
        cls = registry.load(name)
        assert cls.name == name, f"registry name {name} != module name {cls.name}"
        bad = set(cls.signals) - set(SIGNALS)
        assert not bad, f"module {name} declares signals outside the vocabulary: {sorted(bad)}"


def test_every_signal_the_fingerprints_use_is_emitted_by_some_module() -> None:
    emitted: set[str] = set()
    for name in registry.MODULES:
        emitted |= set(registry.load(name).signals)
    used = {r.signal for r in get_engine().db.rules}
    # dhcp.vendor_class comes from passive DHCP snooping, which no module does yet
    missing = used - emitted - {"dhcp.vendor_class"}
    assert not missing, f"rules use signals no discovery module emits: {sorted(missing)}"
