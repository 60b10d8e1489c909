"""A minimal independent ONVIF client, run inside the lab's scanner namespace by the tests:
`python onvif_probe.py URL USER PASSWORD` prints the FirmwareVersion of GetDeviceInformation.

WS-UsernameToken PasswordDigest = Base64(SHA-1(nonce + created + password)) (OASIS WSS UsernameToken
Profile 1.0, section 3.1; ONVIF Core spec section 5.12 requires it for device calls).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import sys
import urllib.request

from defusedxml import ElementTree

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TOKEN = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
B64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
TDS = "http://www.onvif.org/ver10/device/wsdl"


def envelope(user: str, password: str) -> bytes:
    """A GetDeviceInformation request signed with a fresh UsernameToken digest."""
    nonce = os.urandom(16)
    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>'
        f'<wsse:Security s:mustUnderstand="1" xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{user}</wsse:Username>"
        f'<wsse:Password Type="{TOKEN}#PasswordDigest">{digest.decode()}</wsse:Password>'
        f'<wsse:Nonce EncodingType="{B64}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>"
        f'<s:Body><GetDeviceInformation xmlns="{TDS}"/></s:Body></s:Envelope>'
    ).encode()


def main() -> None:
    """Print the device's FirmwareVersion."""
    url, user, password = sys.argv[1:4]
    req = urllib.request.Request(url, envelope(user, password),
                                 {"Content-Type": "application/soap+xml; charset=utf-8"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        root = ElementTree.fromstring(resp.read(1 << 20))
    print(root.findtext(f".//{{{TDS}}}FirmwareVersion"))


if __name__ == "__main__":
    main()
