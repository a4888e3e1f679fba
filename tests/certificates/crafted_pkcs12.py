"""Build hostile PKCS#12 files the way an attacker would: real files, iteration counts rewritten.

Deriving 2**31-1 iterations to build the file would take minutes, so a file is exported by
`openssl pkcs12` with a marker count (3001) and the DER is re-encoded with the counts the
test wants. The MAC no longer matches, which changes nothing: OpenSSL derives before it
can compare. `nested_key_bag` hides the costly key bag inside an encrypted content info
(PBES2, one PBKDF2 round), where nothing can be read before decryption.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from tests.helpers.tools import OPENSSL

MARKER = 3001


@dataclass
class Node:
    tag: int
    value: bytes | list[Node]  # bytes: primitive (or an OCTET STRING kept as is)


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(content)) + content


def parse(data: bytes) -> list[Node]:
    nodes, pos = [], 0
    while pos < len(data):
        tag, first = data[pos], data[pos + 1]
        pos += 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        content = data[pos : pos + length]
        if len(content) != length:
            raise ValueError("truncated")
        pos += length
        nodes.append(Node(tag, parse(content) if tag & 0x20 else content))
    return nodes


def encode(node: Node) -> bytes:
    if isinstance(node.value, list):
        return tlv(node.tag, b"".join(encode(child) for child in node.value))
    return tlv(node.tag, node.value)


def integer(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 8) // 8, "big")


def _rewrite(node: Node, counts: list[int]) -> Node:
    """Replace marker INTEGERs, in file order, by `counts`; descends into DER OCTET STRINGs."""
    if isinstance(node.value, list):
        return Node(node.tag, [_rewrite(child, counts) for child in node.value])
    if node.tag == 0x02 and int.from_bytes(node.value, "big") == MARKER and counts:
        return Node(0x02, integer(counts.pop(0)))
    if node.tag == 0x04 and node.value[:1] == b"\x30":
        try:
            inner = parse(node.value)
        except (ValueError, IndexError):
            return node
        rewritten = b"".join(encode(_rewrite(child, counts)) for child in inner)
        return Node(0x04, rewritten)
    return node


def export(tmp_path: Path, cert_pem: bytes, key_pem: bytes, passphrase: str) -> bytes:
    """A real `openssl pkcs12 -export`: certificate bag encrypted, key shrouded, MAC; all 3001."""
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    out = tmp_path / "f.p12"
    subprocess.run(
        [OPENSSL, "pkcs12", "-export", "-in", str(tmp_path / "c.pem"), "-inkey",
         str(tmp_path / "k.pem"), "-passout", f"pass:{passphrase}", "-iter", str(MARKER),
         "-maciter", "-out", str(out)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return out.read_bytes()


def with_iterations(p12: bytes, counts: list[int]) -> bytes:
    """The file with its marker counts replaced in order: certificate bag, key bag, MAC."""
    counts = list(counts)
    (root,) = parse(p12)
    result = encode(_rewrite(root, counts))
    if counts:
        raise ValueError("fewer iteration counts in the file than asked")
    return result


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([parts[0] * 40 + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | part & 0x7F)
            part >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def nested_key_bag(p12: bytes, passphrase: bytes, key_iterations: int, cert_der: bytes) -> bytes:
    """Key bag (at `key_iterations`) and certificate in one encrypted content info of 1 round.

    No MAC. With `MARKER` the key bag is unchanged, so the file is valid.
    """
    (root,) = parse(p12)
    auth_safe = parse(root.value[1].value[1].value[0].value)[0]
    bags: list[bytes] = []
    for info in auth_safe.value:
        oid = info.value[0].value
        if oid == _oid("1.2.840.113549.1.7.1")[2:]:  # data: SafeContents in clear
            for bag in parse(info.value[1].value[0].value)[0].value:
                bags.append(encode(bag))
        # encryptedData (the certificate bag): the certificate is put back below instead
    cert_bag = tlv(
        0x30,
        _oid("1.2.840.113549.1.9.22.1") + tlv(0xA0, tlv(0x04, cert_der)),
    )
    bags.append(tlv(0x30, _oid("1.2.840.113549.1.12.10.1.3") + tlv(0xA0, cert_bag)))
    contents = tlv(0x30, b"".join(bags))
    rewritten = with_iterations(
        encode(Node(0x30, [Node(0x02, b"\x03"), _data_info(contents)])), [key_iterations]
    )
    safe_contents = parse(rewritten)[0].value[1].value[1].value[0].value
    salt, iv = os.urandom(16), os.urandom(16)
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=1)
    key = kdf.derive(passphrase)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(safe_contents) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plain) + encryptor.finalize()
    pbkdf2 = tlv(
        0x30,
        _oid("1.2.840.113549.1.5.12")
        + tlv(0x30, tlv(0x04, salt) + tlv(0x02, b"\x01") + tlv(0x30, _oid("1.2.840.113549.2.9"))),
    )
    aes = tlv(0x30, _oid("2.16.840.1.101.3.4.1.42") + tlv(0x04, iv))
    pbes2 = tlv(0x30, _oid("1.2.840.113549.1.5.13") + tlv(0x30, pbkdf2 + aes))
    encrypted_data = tlv(
        0x30,
        tlv(0x02, b"\x00")
        + tlv(0x30, _oid("1.2.840.113549.1.7.1") + pbes2 + tlv(0x80, ciphertext)),
    )
    info = tlv(0x30, _oid("1.2.840.113549.1.7.6") + tlv(0xA0, encrypted_data))
    authenticated_safe = tlv(0x30, info)
    outer = tlv(0x30, _oid("1.2.840.113549.1.7.1") + tlv(0xA0, tlv(0x04, authenticated_safe)))
    return tlv(0x30, tlv(0x02, b"\x03") + outer)  # no MacData: OpenSSL goes straight to the bags


def _data_info(contents: bytes) -> Node:
    return Node(
        0x30,
        [
            Node(0x06, _oid("1.2.840.113549.1.7.1")[2:]),
            Node(0xA0, [Node(0x04, contents)]),
        ],
    )


def indefinite(p12: bytes) -> bytes:
    """The same PFX with its outer SEQUENCE in BER indefinite length (old Windows exports)."""
    (root,) = parse(p12)
    body = b"".join(encode(child) for child in root.value)  # type: ignore[union-attr]
    return b"\x30\x80" + body + b"\x00\x00"
