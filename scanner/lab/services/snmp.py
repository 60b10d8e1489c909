"""snmpd.conf text for personas that offer SNMP (run by the lab's real Debian snmpd)."""

from __future__ import annotations

import ipaddress

from scanner.lab.model import LabHost
from scanner.lab.services.context import host_values


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_TYPES = {"string": "octet_str", "octet_str": "octet_str", "integer": "integer", "oid": "object_id",
          "object_id": "object_id", "counter": "counter", "gauge": "unsigned", "timeticks": "timeticks",
          "ipaddress": "ipaddress"}


def snmpd_config(host: LabHost, seed: int = 0) -> str | None:
    """The snmpd.conf for HOST (v1/v2c community `public`, read-only, lab subnet only), or None."""
    persona = host.persona
    if "snmp" not in persona.services:
        return None
    spec = persona.spec.get("snmp", {})
    values = host_values(host, seed)

    def render(text: object) -> str:
        from string import Template
        return Template(str(text)).safe_substitute(values)

    network = ipaddress.ip_network(f"{host.ip}/{host.prefixlen}", strict=False)
    community = str(spec.get("community", "public"))
    lines = [
        f"# camscan lab persona {persona.name} ({host.ip})",
        f"agentAddress udp:{host.ip}:161",
        f"rocommunity {community} {network}",
        f"sysDescr {render(spec.get('sysdescr', persona.model))}",
        f"sysObjectID {render(spec.get('sysobjectid', '1.3.6.1.4.1.8072.3.2.10'))}",
        f"sysName {render(spec.get('sysname', '${hostname}'))}",
        f"sysLocation {render(spec.get('syslocation', ''))}" if spec.get("syslocation") else "",
        f"sysContact {render(spec.get('syscontact', ''))}" if spec.get("syscontact") else "",
        f"sysServices {int(spec.get('sysservices', 72))}",
    ]
    for item in spec.get("extra", []):
        oid, kind, value = str(item["oid"]), str(item["type"]), render(item["value"])
        snmp_type = _TYPES[kind]
        shown = _quote(value) if snmp_type == "octet_str" else value
        lines.append(f"override {oid} {snmp_type} {shown}")
    return "\n".join(line for line in lines if line) + "\n"
