"""Read the key-derivation cost an uploaded PKCS#12 or encrypted key asks for, before deriving.

The iteration counts of a PKCS#12 (its MAC, every encrypted content info and shrouded key
bag) and of an encrypted PKCS#8 key come from the file: a 3 kB upload asking for 2**31-1
iterations keeps a worker busy for minutes. This module walks the DER/BER structure with
no cryptography at all and refuses a file whose costs exceed what real exports use:
OpenSSL 3 writes 2,048 iterations, Windows and Java exports 2,000 to 10,000, the portal's
own exports 100,000 (`x509.PKCS12_KDF_ROUNDS`). Bags hidden inside an encrypted content
info cannot be read before decryption: `sandbox.run_bounded` caps those by time.
No Django import: it is part of the pure X.509 layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# One key derivation: 6x the portal's own exports, 300x OpenSSL's default (OWASP's current
# PBKDF2-SHA256 advice); its cost: BENCHMARKS.md. Above it a file is refused unopened.
MAX_ITERATIONS = 600_000
# The whole file (MAC + every encrypted item): 4 derivations at the maximum.
MAX_TOTAL_ITERATIONS = 2_400_000
# Encrypted items (content infos, shrouded key bags) and nesting: real files have 1 to 3.
MAX_ENCRYPTED_ITEMS = 32
_MAX_DEPTH = 12

# --------------------------------------------------------------------------- OIDs (DER bytes)


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([parts[0] * 40 + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body.extend(reversed(chunk))
    return bytes(body)


_DATA = _oid("1.2.840.113549.1.7.1")
_ENCRYPTED_DATA = _oid("1.2.840.113549.1.7.6")
_SHROUDED_KEY_BAG = _oid("1.2.840.113549.1.12.10.1.2")
_SAFE_CONTENTS_BAG = _oid("1.2.840.113549.1.12.10.1.6")
_PBES2 = _oid("1.2.840.113549.1.5.13")
_PBKDF2 = _oid("1.2.840.113549.1.5.12")
_PBMAC1 = _oid("1.2.840.113549.1.5.14")
# PKCS#12 PBE (1.2.840.113549.1.12.1.1-6) and PKCS#5 PBES1 (1.2.840.113549.1.5.1/3/4/6/10/11):
# parameters SEQUENCE { salt OCTET STRING, iterations INTEGER }.
_PBE_PARAMS = frozenset(
    [_oid(f"1.2.840.113549.1.12.1.{n}") for n in range(1, 7)]
    + [_oid(f"1.2.840.113549.1.5.{n}") for n in (1, 3, 4, 6, 10, 11)]
)

_SEQUENCE, _INTEGER, _OCTET_STRING, _OID = 0x30, 0x02, 0x04, 0x06
_CONSTRUCTED_OCTET_STRING = 0x24
_CONTEXT_0 = 0xA0


class DerivationRefused(ValueError):
    """The file asks for too much work (`code` "too_costly") or cannot be walked ("corrupt")."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _corrupt() -> DerivationRefused:
    return DerivationRefused("corrupt", "Le fichier est illisible (structure PKCS#12 invalide).")


@dataclass
class DerivationCost:
    """Iteration counts found, in file order (the MAC's last)."""

    iterations: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.iterations)

    def add(self, count: int) -> None:
        if count > MAX_ITERATIONS:
            raise DerivationRefused(
                "too_costly",
                f"Ce fichier demande {count} itérations de dérivation de clé ; le portail en "
                f"accepte au plus {MAX_ITERATIONS} (un export ordinaire en utilise 2 000 "
                "à 100 000). Exportez-le à nouveau avec les réglages par défaut.",
            )
        self.iterations.append(count)
        if len(self.iterations) > MAX_ENCRYPTED_ITEMS or self.total > MAX_TOTAL_ITERATIONS:
            raise DerivationRefused(
                "too_costly",
                "Ce fichier demande trop de calculs de dérivation de clé au total ; "
                "exportez-le à nouveau avec les réglages par défaut.",
            )


# --------------------------------------------------------------------------- BER walker


@dataclass(frozen=True)
class _Tlv:
    tag: int
    start: int  # first content byte
    end: int  # one past the last content byte (end-of-contents excluded)
    next: int  # first byte after the element


def _read(data: bytes, pos: int, limit: int, depth: int = 0) -> _Tlv:
    """One element at `pos` (DER, or BER with indefinite lengths as old Windows exports)."""
    if depth > _MAX_DEPTH or pos + 2 > limit:
        raise _corrupt()
    tag = data[pos]
    if tag & 0x1F == 0x1F:  # high tag numbers: nothing in PKCS#12 uses them
        raise _corrupt()
    first = data[pos + 1]
    pos += 2
    if first == 0x80:  # indefinite length: constructed only, children up to 00 00
        if not tag & 0x20:
            raise _corrupt()
        start = cursor = pos
        while True:
            if cursor + 2 > limit:
                raise _corrupt()
            if data[cursor] == 0 and data[cursor + 1] == 0:
                return _Tlv(tag, start, cursor, cursor + 2)
            cursor = _read(data, cursor, limit, depth + 1).next
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count > 4 or pos + count > limit:
            raise _corrupt()
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > limit:
        raise _corrupt()
    return _Tlv(tag, pos, pos + length, pos + length)


def _children(data: bytes, tlv: _Tlv, depth: int = 0) -> list[_Tlv]:
    items, cursor = [], tlv.start
    while cursor < tlv.end:
        item = _read(data, cursor, tlv.end, depth + 1)
        items.append(item)
        cursor = item.next
    return items


def _expect(tlv: _Tlv, tag: int) -> _Tlv:
    if tlv.tag != tag:
        raise _corrupt()
    return tlv


def _octets(data: bytes, tlv: _Tlv, depth: int = 0) -> bytes:
    """An OCTET STRING's bytes, BER constructed (chunked) form included."""
    if tlv.tag in (_OCTET_STRING, 0x80):
        return data[tlv.start : tlv.end]
    if tlv.tag in (_CONSTRUCTED_OCTET_STRING, _CONTEXT_0) and depth < _MAX_DEPTH:
        return b"".join(_octets(data, c, depth + 1) for c in _children(data, tlv, depth))
    raise _corrupt()


def _integer(data: bytes, tlv: _Tlv) -> int:
    _expect(tlv, _INTEGER)
    raw = data[tlv.start : tlv.end]
    if not raw or len(raw) > 8 or raw[0] & 0x80:  # negative or absurd: no real count
        raise DerivationRefused(
            "too_costly" if raw and not raw[0] & 0x80 else "corrupt",
            "Nombre d'itérations de dérivation de clé invalide ou excessif.",
        )
    return int.from_bytes(raw, "big")


def _oid_of(data: bytes, tlv: _Tlv) -> bytes:
    return data[_expect(tlv, _OID).start : tlv.end]


# --------------------------------------------------------------------------- algorithms


def _algorithm_cost(data: bytes, algorithm: _Tlv, cost: DerivationCost) -> None:
    """Add what an encryption AlgorithmIdentifier will derive; refuse what we cannot price."""
    parts = _children(data, _expect(algorithm, _SEQUENCE))
    if not parts:
        raise _corrupt()
    oid = _oid_of(data, parts[0])
    if oid in _PBE_PARAMS:
        params = _children(data, _expect(parts[1], _SEQUENCE)) if len(parts) > 1 else []
        if len(params) < 2:
            raise _corrupt()
        cost.add(_integer(data, params[1]))
    elif oid in (_PBES2, _PBMAC1):
        params = _children(data, _expect(parts[1], _SEQUENCE)) if len(parts) > 1 else []
        if not params:
            raise _corrupt()
        _pbkdf2_cost(data, params[0], cost)
    else:  # scrypt (memory-hard, unbounded) or unknown: OpenSSL would try, we do not
        raise DerivationRefused(
            "unsupported_encryption",
            "Ce fichier est chiffré avec un algorithme que le portail n'accepte pas ; "
            "exportez-le avec les réglages par défaut (AES-256 / PBKDF2 ou 3DES).",
        )


def _pbkdf2_cost(data: bytes, kdf: _Tlv, cost: DerivationCost) -> None:
    parts = _children(data, _expect(kdf, _SEQUENCE))
    if len(parts) < 2 or _oid_of(data, parts[0]) != _PBKDF2:
        raise DerivationRefused(
            "unsupported_encryption",
            "Ce fichier utilise une dérivation de clé que le portail n'accepte pas (PBKDF2 "
            "seulement).",
        )
    params = _children(data, _expect(parts[1], _SEQUENCE))
    if len(params) < 2:
        raise _corrupt()
    cost.add(_integer(data, params[1]))


# --------------------------------------------------------------------------- PKCS#12


def pkcs12_cost(data: bytes) -> DerivationCost:
    """Walk a PFX and price every derivation it asks for; raise DerivationRefused above bounds."""
    cost = DerivationCost()
    pfx = _expect(_read(data, 0, len(data)), _SEQUENCE)
    parts = _children(data, pfx)
    if len(parts) < 2 or _integer(data, parts[0]) != 3:
        raise _corrupt()
    auth_safe = _children(data, _expect(parts[1], _SEQUENCE))
    if len(auth_safe) != 2 or _oid_of(data, auth_safe[0]) != _DATA:
        raise _corrupt()  # public-key integrity mode (signedData): OpenSSL cannot read it either
    content = _children(data, _expect(auth_safe[1], _CONTEXT_0))
    if len(content) != 1:
        raise _corrupt()
    inner = _octets(data, content[0])
    infos = _read(inner, 0, len(inner))
    for info in _children(inner, _expect(infos, _SEQUENCE)):
        _content_info_cost(inner, info, cost)
    if len(parts) > 2:  # MacData { DigestInfo, salt, iterations DEFAULT 1 }
        mac = _children(data, _expect(parts[2], _SEQUENCE))
        if len(mac) < 2:
            raise _corrupt()
        digest_info = _children(data, _expect(mac[0], _SEQUENCE))
        if digest_info and digest_info[0].tag == _SEQUENCE:
            algorithm = _children(data, digest_info[0])
            if algorithm and _oid_of(data, algorithm[0]) == _PBMAC1:
                _algorithm_cost(data, digest_info[0], cost)  # RFC 9579: PBKDF2 inside
        cost.add(_integer(data, mac[2]) if len(mac) > 2 else 1)
    return cost


def _content_info_cost(data: bytes, info: _Tlv, cost: DerivationCost) -> None:
    parts = _children(data, _expect(info, _SEQUENCE))
    if not parts:
        raise _corrupt()
    oid = _oid_of(data, parts[0])
    if len(parts) < 2:
        return
    explicit = _children(data, _expect(parts[1], _CONTEXT_0))
    if len(explicit) != 1:
        raise _corrupt()
    if oid == _DATA:
        safe_contents = _octets(data, explicit[0])
        _safe_contents_cost(safe_contents, _read(safe_contents, 0, len(safe_contents)), cost, 0)
    elif oid == _ENCRYPTED_DATA:  # EncryptedData { version, EncryptedContentInfo }
        encrypted = _children(data, _expect(explicit[0], _SEQUENCE))
        if len(encrypted) < 2:
            raise _corrupt()
        content_info = _children(data, _expect(encrypted[1], _SEQUENCE))
        if len(content_info) < 2:
            raise _corrupt()
        _algorithm_cost(data, content_info[1], cost)
    # envelopedData and others: OpenSSL skips them without deriving anything


def _safe_contents_cost(data: bytes, contents: _Tlv, cost: DerivationCost, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _corrupt()
    for bag in _children(data, _expect(contents, _SEQUENCE)):
        parts = _children(data, _expect(bag, _SEQUENCE))
        if len(parts) < 2:
            raise _corrupt()
        oid = _oid_of(data, parts[0])
        value = _children(data, _expect(parts[1], _CONTEXT_0))
        if len(value) != 1:
            raise _corrupt()
        if oid == _SHROUDED_KEY_BAG:
            encrypted_private_key_cost(data, value[0], cost)
        elif oid == _SAFE_CONTENTS_BAG:
            _safe_contents_cost(data, value[0], cost, depth + 1)


def encrypted_private_key_cost(
    data: bytes, info: _Tlv | None = None, cost: DerivationCost | None = None
) -> DerivationCost:
    """EncryptedPrivateKeyInfo { AlgorithmIdentifier, OCTET STRING } (a DER PKCS#8 file too)."""
    cost = cost if cost is not None else DerivationCost()
    info = info if info is not None else _read(data, 0, len(data))
    parts = _children(data, _expect(info, _SEQUENCE))
    if len(parts) != 2:
        raise _corrupt()
    _algorithm_cost(data, parts[0], cost)
    return cost
