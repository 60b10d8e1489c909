"""Errors camscan raises for bad user input and bad data; each carries a message fit for a user."""

from __future__ import annotations


class CamscanError(Exception):
    """Base of every error camscan reports to a user (message names the problem)."""


class FingerprintError(CamscanError):
    """A fingerprint file is invalid: the message names the file, rule and field."""


class InputError(CamscanError):
    """Bad user input (targets, site files, credentials, observation lines)."""


class PrivilegeError(CamscanError):
    """The operation needs root or CAP_NET_ADMIN / CAP_NET_RAW."""
