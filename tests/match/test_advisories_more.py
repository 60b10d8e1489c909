"""The curated advisories for Uniview, Hanwha, Bosch, Milesight, Xiongmai and the later Hikvision, Dahua and NUUO
entries, checked with firmware strings as the CVE records and vendor advisories print them."""

from __future__ import annotations

import pytest

from scanner.match.engine import Engine, get_engine


@pytest.fixture(scope="module")
def eng() -> Engine:
    return get_engine()


def hits(eng: Engine, vendor: str, model: str, firmware: str | None) -> list[tuple[str, str]]:
    return [(a.id, a.status) for a in eng.advisories_for(vendor, model, firmware)]


def test_bosch_platform_versions(eng: Engine) -> None:
    """CVE-2021-23847: 7.70, 7.72 and 7.80 before B128 (the record), 7.62 and lower not affected; CVE-2023-32229 on
    the Linux line 8.50 to 8.72 (Bosch's note names 8.60), fixed in 8.80; the XSS has no fix, so always possible."""
    cam = "DINION IP starlight 7000 HD"
    assert hits(eng, "bosch", cam, "7.72") == [("CVE-2021-23847", "affected"), ("CVE-2021-23848", "possible")]
    assert hits(eng, "bosch", cam, "7.62") == [("CVE-2021-23848", "possible")]
    assert hits(eng, "bosch", cam, "7.80.0128") == [("CVE-2021-23848", "possible")]     # 7.80 B128, the fix
    assert ("CVE-2023-32229", "affected") in hits(eng, "bosch", "FLEXIDOME multi 7000i IR", "8.60")
    assert ("CVE-2023-32229", "affected") not in hits(eng, "bosch", "FLEXIDOME multi 7000i IR", "8.80")
    assert hits(eng, "bosch", "VJD-7513", "10.40.0055") == [("CVE-2023-32230", "affected")]


def test_hanwha_tested_firmware(eng: Engine) -> None:
    """The records name the tested firmware only: that firmware is affected, an unknown one possible."""
    assert hits(eng, "hanwha", "ANE-L7012R", "1.41.01") == [
        ("CVE-2023-31994", "affected"), ("CVE-2023-31995", "affected"), ("CVE-2023-31996", "affected")]
    assert hits(eng, "hanwha", "XNV-9082R", "2.10.02") == [("CVE-2023-31994", "affected")]
    assert hits(eng, "hanwha", "XNV-9082R", None) == [("CVE-2023-31994", "possible")]
    assert hits(eng, "hanwha", "XNV-9082R", "1.41.01") == []     # another model's tested firmware


def test_uniview_without_published_ranges_is_possible(eng: Engine) -> None:
    """CVE-2021-45039's example firmware and a CVE-2023-0773 branch build: no range can be written, so possible."""
    assert hits(eng, "uniview", "IPC2122LB-SF28-A", "B6103.16.10.B25.201218") == [("CVE-2021-45039", "possible")]
    assert hits(eng, "uniview", "IPC322LB-SF28-A", "DIPC-B1216.5.7.230109") == [
        ("CVE-2021-45039", "possible"), ("CVE-2023-0773", "possible")]
    assert hits(eng, "uniview", "NVR302-16S2", "DIPC-B1216.5.7.230109") == []


def test_milesight_revision_suffix_is_not_compared(eng: Engine) -> None:
    """ICSA-26-113-03 fixes MS-Cxx63-PD in 51.7.0.77-r13 (r12 affected): the revision is not compared, so even the
    fixed firmware is only possible, never affected."""
    assert hits(eng, "milesight", "MS-C5365-PD", "51.7.0.77-r13") == [("CVE-2026-28747", "possible")]
    assert hits(eng, "milesight", "MS-C5365-PD", "51.7.0.77-r12") == [("CVE-2026-28747", "possible")]
    assert hits(eng, "milesight", "UG65", "51.7.0.77-r12") == []     # a LoRaWAN gateway, not in the advisory


def test_xiongmai_families_are_possible(eng: Engine) -> None:
    """Firmware strings from the CVE records: XM recorders and the XM530 camera board, no fix, so possible."""
    assert hits(eng, "xiongmai", "NBD6808T-PL", "V4.02.R11.C7431119.12001.130000.00000") == [
        ("CVE-2022-45045", "possible"), ("CVE-2022-45460", "possible")]
    assert hits(eng, "xiongmai", "MBD6304T", "V4.02.R11.00000117.10001.131900.00000") == [
        ("CVE-2022-45045", "possible"), ("CVE-2022-45460", "possible")]
    assert hits(eng, "xiongmai", "XM530_R80X30-PQ_8M", "5.00.R02.00030751.10010.348717.0000000") == [
        ("CVE-2024-3765", "possible"), ("CVE-2025-65856", "possible")]
    assert hits(eng, "xiongmai", "AHB8008T-GL", "4.03.R11.4915714A.12201.142300.0000000") == [
        ("CVE-2024-3765", "possible")]


def test_dahua_2022_and_2025_build_windows(eng: Engine) -> None:
    """CVE-2022-30564: IPC-HX5XXX built 2018-12-01 to 2020-12-21; CVE-2025-31700/31701: IPC-1XXX/2XXX built before
    2025-04-16 (the DHIP version has no date: possible)."""
    on = "2.800.0000016.0.R, Build Date: "
    assert ("CVE-2022-30564", "affected") in hits(eng, "dahua", "DH-IPC-HFW5442E-ZE", on + "2020-03-10")
    assert ("CVE-2022-30564", "affected") not in hits(eng, "dahua", "DH-IPC-HFW5442E-ZE", on + "2021-03-10")
    assert hits(eng, "dahua", "IPC-HDW1431T1-S4", on + "2021-06-28") == [
        ("CVE-2025-31700", "affected"), ("CVE-2025-31701", "affected")]
    assert hits(eng, "dahua", "IPC-HDW1431T1-S4", on + "2025-04-16") == []
    assert ("CVE-2025-31700", "possible") in hits(eng, "dahua", "IPC-HDW1431T1-S4", "V2.800.0000000.13.R")


def test_hikvision_san_and_nuuo_kev(eng: Engine) -> None:
    """Hybrid SAN V2.x up to V2.3.8-6 (the -CVS models V1.x up to V1.1.4); an NVR up to V4.76.005 build231012;
    NVRmini2 through 3.11 (KEV)."""
    assert ("CVE-2022-28171", "affected") in hits(eng, "hikvision", "DS-A80624S", "V2.3.8-6")
    assert ("CVE-2022-28171", "affected") not in hits(eng, "hikvision", "DS-A80624S", "V2.3.8-8")
    assert ("CVE-2022-28171", "affected") in hits(eng, "hikvision", "DS-A71024R-CVS", "V1.1.4")
    assert hits(eng, "nuuo", "NVRmini 2", "03.12.0000.0000") == []
    assert hits(eng, "hikvision", "DS-7604NXI-K1/4P", "V4.76.005 build 231012") == [("CVE-2024-29948", "affected")]
    (kev,) = [a for a in eng.db.advisories if a.id == "CVE-2022-23227"]
    assert str(kev.kev) == "2024-12-18"


def test_every_advisory_states_its_source_and_family(eng: Engine) -> None:
    """Each advisory of the makers added here has a URL source and a family that names some model."""
    added = {"uniview", "hanwha", "bosch", "milesight", "xiongmai"}
    mine = [a for a in eng.db.advisories if a.maker in added]
    assert {a.maker for a in mine} == added
    for a in mine:
        assert a.source.startswith("https://"), a.id
        assert a.models and a.models != ".", a.id
