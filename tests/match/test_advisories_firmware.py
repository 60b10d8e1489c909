"""Firmware strings as devices report them -> version and build date; published ranges over them."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
import yaml

from scanner.match.firmware import Firmware, FirmwareRange, compare_versions, parse_bound, parse_firmware

ROOT = Path(__file__).resolve().parents[2]
D = datetime.date


@pytest.mark.parametrize(("text", "version", "build"), [
    ("V5.5.53 build 180705", (5, 5, 53), D(2018, 7, 5)),                          # Hikvision ONVIF
    ("V5.5.82build 190910", (5, 5, 82), D(2019, 9, 10)),                          # Hikvision SADP (glued)
    ("V5.5.82 build 190910", (5, 5, 82), D(2019, 9, 10)),                         # ISAPI version + releasedDate
    ("V4.30.085 build 200916", (4, 30, 85), D(2020, 9, 16)),                      # Hikvision NVR persona
    ("2.800.0000016.0.R, Build Date: 2021-06-28", (2, 800, 16, 0), D(2021, 6, 28)),   # Dahua ONVIF
    ("2.800.0000000.4.R, Build Date 2019-11-05", (2, 800, 0, 4), D(2019, 11, 5)),     # dahua.yaml example
    ("V2.800.0000000.13.R", (2, 800, 0, 13), None),                                # Dahua DHIP, no date
    ("2.820.0000000.18.R,build:2021-07-05", (2, 820, 0, 18), D(2021, 7, 5)),       # Dahua magicBox
    ("V2.800.0000000.25.R.210602", (2, 800, 0, 25), D(2021, 6, 2)),                # Dahua file name tail
    ("V2.800.00AC006.0.R", (2, 800, "00AC006", 0), None),                          # Amcrest (OEM branch)
    ("V5.1.1.2 build 20230615", (5, 1, 1, 2), D(2023, 6, 15)),                     # Tiandy
    ("10.12.114", (10, 12, 114), None),                                            # Axis
    ("7.80.0128", (7, 80, 128), None),                                             # Bosch
    ("45.8.0.3-r8", (45, 8, 0, 3), None),                                          # Milesight
    ("v3.0.0.136_20121102", (3, 0, 0, 136), None),                                 # Reolink (Talos)
    ("V2.3.8-8", (2, 3, 8, 8), None),                                              # Hikvision SAN (CVE record)
    ("IPC_G6103-B0005P62D1908", None, None),                                       # Uniview: no dotted version
    ("", None, None),
])
def test_firmware_strings_as_devices_report_them(text: str, version: tuple[int | str, ...] | None,
                                                 build: datetime.date | None) -> None:
    fw = parse_firmware(text)
    assert (fw.version, fw.build) == (version, build)
    assert fw.known == (version is not None or build is not None)


def test_the_fixture_and_persona_strings_parse() -> None:
    """Every firmware string in the discovery fixtures and the lab personas yields a version."""
    dhip = json.loads((ROOT / "tests/discovery/fixtures/dhip/ipc_hdw1431t1_s4.json").read_text())
    strings = [json.dumps(dhip).split('"Version": "')[1].split('"')[0]]
    sadp = (ROOT / "tests/discovery/fixtures/sadp/hikvision_ds2cd2385g1.xml").read_text()
    strings.append(sadp.split("<SoftwareVersion>")[1].split("</SoftwareVersion>")[0])
    for p in ("hikvision-camera", "dahua-camera", "axis-camera", "hikvision-nvr", "tiandy-camera", "bosch-camera"):
        strings.append(str(yaml.safe_load((ROOT / f"scanner/lab/personas/{p}.yaml").read_text())["firmware"]))
    for s in strings:
        assert parse_firmware(s).version is not None, s
    assert parse_firmware(strings[1]) == Firmware((5, 6, 2), D(2019, 7, 1))   # SADP "V5.6.2build 190701"


def test_dotted_versions_compare_as_tuples() -> None:
    v = [parse_firmware(s).version for s in ("V5.5.0", "V5.5.800", "V5.7.3", "V5.10.1")]
    assert all(x is not None for x in v)
    assert compare_versions(v[0], v[1]) == -1 and compare_versions(v[1], v[2]) == -1    # type: ignore[arg-type]
    assert compare_versions(v[2], v[3]) == -1                                           # type: ignore[arg-type]
    assert compare_versions((5, 5), (5, 5, 0)) == 0
    assert compare_versions((2, 800, "00AC006", 0), (2, 800, 0, 13)) is None   # an OEM branch is not comparable
    assert compare_versions((2, 800, "00AC006", 1), (2, 800, "00AC006", 0)) == 1


def test_build_date_comparison() -> None:
    """'build 210628 and later' / 'before': Hikvision's YYMMDD and Dahua's ISO dates on one time line."""
    before = FirmwareRange(build_before=D(2021, 6, 28))
    later = FirmwareRange(build_from=D(2021, 6, 28))
    assert before.contains(parse_firmware("V5.5.800 build 210627")) is True
    assert before.contains(parse_firmware("V5.5.800 build 210628")) is False
    assert later.contains(parse_firmware("V5.5.800 build 210628")) is True
    assert later.contains(parse_firmware("V5.4.0 build 160530")) is False
    # Dahua's ISO build date against the same bound
    assert before.contains(parse_firmware("2.800.0000016.0.R, Build Date: 2021-06-27")) is True
    assert later.contains(parse_firmware("2.800.0000016.0.R, Build Date: 2021-06-28")) is True
    # a 2000s two-digit year never reads as 1900s, and December 2019 comes before January 2020
    assert before.contains(parse_firmware("V5.5.82build 191231")) is True
    assert FirmwareRange(build_from=D(2020, 1, 1)).contains(parse_firmware("V5.5.82build 191231")) is False
    # no date in the string: the range cannot say
    assert before.contains(parse_firmware("V2.800.0000000.13.R")) is None


def test_version_and_build_bounds_as_published() -> None:
    """ICSA-17-124-01: 'V5.2.0 build 140721 to V5.4.0 build 160530' holds every build of V5.3 and the 5.4.0 builds
    up to 160530; a version bound without a build covers its whole line ('AXIS OS 10.5 - 11.5')."""
    r = FirmwareRange(from_=parse_bound("V5.2.0 build 140721"), to=parse_bound("V5.4.0 build 160530"))
    assert r.contains(parse_firmware("V5.3.0 build 150513")) is True
    assert r.contains(parse_firmware("V5.4.0 build 160530")) is True
    assert r.contains(parse_firmware("V5.4.0 build 160531")) is False
    assert r.contains(parse_firmware("V5.2.0 build 140720")) is False
    assert r.contains(parse_firmware("V5.4.0")) is None          # the line's last version, but which build?
    assert r.contains(parse_firmware("V5.4.1 build 160101")) is False
    axis = FirmwareRange(from_=parse_bound("10.5"), to=parse_bound("11.5"))
    assert axis.contains(parse_firmware("10.12.114")) is True
    assert axis.contains(parse_firmware("11.5.64")) is True
    assert axis.contains(parse_firmware("11.11.73")) is False
    assert axis.contains(parse_firmware("9.80.3")) is False
    fixed = FirmwareRange(below=parse_bound("3.9.1"))
    assert fixed.contains(parse_firmware("03.09.0000.0000")) is True
    assert fixed.contains(parse_firmware("03.09.0001.0000")) is False


@pytest.mark.parametrize("text", ["build", "next release", "V"])
def test_a_bound_must_be_a_version_or_a_date(text: str) -> None:
    with pytest.raises(ValueError, match="neither a version nor a build date"):
        parse_bound(text)
