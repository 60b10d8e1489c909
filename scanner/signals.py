"""The closed vocabulary of observation signals (a contract: external checks use these names)."""

from __future__ import annotations

from typing import Final

SIGNALS: Final[dict[str, str]] = {
    "mac": "a MAC address, any common notation",
    "hostname": "a host name (DNS, DHCP, NetBIOS, mDNS host)",
    "dhcp.vendor_class": "DHCP option 60 vendor class identifier",
    "http.server": "HTTP Server header",
    "http.www_authenticate": "HTTP WWW-Authenticate header",
    "http.title": "HTML <title> text",
    "http.body": "a text snippet of an HTTP response body",
    "http.path": "a path that answered 200 or 401",
    "http.favicon_mmh3": "Shodan-style signed mmh3 of the base64 favicon, decimal string",
    "tls.subject": "TLS certificate subject, RFC 4514 string",
    "tls.issuer": "TLS certificate issuer, RFC 4514 string",
    "rtsp.server": "RTSP Server header",
    "rtsp.www_authenticate": "RTSP WWW-Authenticate header",
    "wsd.scopes": "space-separated Scopes of a WS-Discovery ProbeMatch",
    "wsd.types": "space-separated Types of a WS-Discovery ProbeMatch",
    "wsd.epr": "WS-Discovery EndpointReference address",
    "wsd.xaddrs": "space-separated XAddrs of a WS-Discovery ProbeMatch",
    "onvif.manufacturer": "ONVIF GetDeviceInformation Manufacturer",
    "onvif.model": "ONVIF GetDeviceInformation Model",
    "onvif.firmware": "ONVIF GetDeviceInformation FirmwareVersion",
    "onvif.serial": "ONVIF GetDeviceInformation SerialNumber",
    "onvif.hardware_id": "ONVIF GetDeviceInformation HardwareId",
    "sadp.reply": "a whole Hikvision SADP ProbeMatch XML document",
    "dhip.reply": "a whole Dahua DHIP discovery reply JSON body",
    "mdns.service": "DNS-SD service type, e.g. _axis-video._tcp.local.",
    "mdns.name": "DNS-SD service instance name",
    "mdns.txt": "one DNS-SD TXT entry, key=value",
    "ssdp.server": "SSDP SERVER header",
    "upnp.manufacturer": "UPnP device description manufacturer",
    "upnp.model": "UPnP device description modelName",
    "upnp.model_number": "UPnP device description modelNumber",
    "snmp.sysdescr": "SNMP sysDescr.0",
    "snmp.sysobjectid": "SNMP sysObjectID.0, dotted OID",
    "snmp.sysname": "SNMP sysName.0",
    "snmp.model": "a model number from a maker's enterprise SNMP object",
    "snmp.firmware": "a firmware version from a maker's enterprise SNMP object",
    "snmp.serial": "a serial number from a maker's enterprise SNMP object",
    "snmp.object": "an enterprise SNMP object read with its OID, as OID=value (a kind code, a maker or platform name)",
    "tcp.port": "an open TCP port, decimal",
    "ssh.banner": "SSH identification string",
    "telnet.banner": "telnet login banner text",
}

#: Signals whose value is a composite document parsed into named fields by scanner.match.composite.
COMPOSITE: Final[frozenset[str]] = frozenset({"sadp.reply", "dhip.reply", "wsd.scopes"})

#: Signals whose value is itself a device attribute (signal -> attribute), lowest priority first.
ATTRIBUTE_SIGNALS: Final[dict[str, str]] = {
    "upnp.model_number": "model",
    "upnp.model": "model",
    "snmp.model": "model",
    "snmp.firmware": "firmware",
    "snmp.serial": "serial",
    "onvif.model": "model",
    "onvif.firmware": "firmware",
    "onvif.serial": "serial",
    "mac": "mac",
}


#: Signal families, as coverage counts them (`camscan fingerprints coverage`); `mac` (an OUI) is none.
FAMILIES: Final[dict[str, tuple[str, ...]]] = {
    "http.server": ("http.server",),
    "http.realm": ("http.www_authenticate",),
    "http.title": ("http.title",),
    "http.body": ("http.body", "http.path"),
    "favicon": ("http.favicon_mmh3",),
    "tls": ("tls.subject", "tls.issuer"),
    "rtsp": ("rtsp.server", "rtsp.www_authenticate"),
    "onvif": ("onvif.manufacturer", "onvif.model", "onvif.firmware", "onvif.serial", "onvif.hardware_id",
              "wsd.scopes", "wsd.types", "wsd.epr", "wsd.xaddrs"),
    "sadp/dhip": ("sadp.reply", "dhip.reply"),
    "snmp": ("snmp.sysdescr", "snmp.sysobjectid", "snmp.sysname", "snmp.model", "snmp.firmware", "snmp.serial",
             "snmp.object"),
    "upnp": ("ssdp.server", "upnp.manufacturer", "upnp.model", "upnp.model_number"),
    "mdns": ("mdns.service", "mdns.name", "mdns.txt"),
    "hostname": ("hostname", "dhcp.vendor_class"),
    "banner": ("ssh.banner", "telnet.banner"),
}
FAMILY_OF: Final[dict[str, str]] = {sig: fam for fam, sigs in FAMILIES.items() for sig in sigs}


def is_signal(name: str) -> bool:
    """True when name is in the closed vocabulary."""
    return name in SIGNALS
