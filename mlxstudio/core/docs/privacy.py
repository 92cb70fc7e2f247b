"""Mask e-mail addresses, phone numbers, card and bank numbers and IP addresses in text.

Patterns rather than a PII library: Presidio needs spaCy and a language model download, and
the small regex packages are unmaintained; these few patterns catch what notes hold.
"""

from __future__ import annotations

import re

_PATTERNS = (  # order matters: cards and IBANs before the phone pattern eats their digits
    ("[email]", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("[iban]", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b")),
    ("[card]", re.compile(r"\b\d{4}(?:[ -]?\d{4}){3}\b")),
    ("[ip]", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")),
)
_PHONE = re.compile(r"(?<![\w-])\+?\(?\d[\d ().-]{6,}\d\b")
_PHONE_DIGITS = 9  # fewer is a date, a year range or a count, not a number to call


def mask(text: str) -> str:
    """The text with each private item replaced by its kind, e.g. '[email]'."""
    for label, pattern in _PATTERNS:
        text = pattern.sub(label, text)
    return _PHONE.sub(_phone, text)


def _phone(m: re.Match) -> str:
    digits = sum(c.isdigit() for c in m.group())
    return "[phone]" if digits >= _PHONE_DIGITS else m.group()
