#!/usr/bin/env python3
"""A second, independent reading of paysign's envelopes (issue 18): a CMS AuthEnvelopedData
(RFC 5083) with AES-256-GCM (RFC 5084) and one RSAES-OAEP recipient (RFC 8017, RFC 4055),
opened with Python's `cryptography` and a DER walk written here, sharing nothing with paysign's
Swift or OpenSSL's CMS code.

    open-envelope.py KEY.pem ENVELOPE.der OUT     writes the content to OUT; exit 1 when it does not open
"""
import sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def tlv(data, at):
    """(tag, content start, content end) of the DER value at `at` (definite lengths only)."""
    tag = data[at]
    length = data[at + 1]
    start = at + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    return tag, start, start + length


def children(data, start, end):
    out = []
    while start < end:
        tag, s, e = tlv(data, start)
        out.append((tag, s, e, start))
        start = e
    return out


def oid(data, s, e):
    raw = data[s:e]
    first = raw[0]
    parts = [first // 40, first % 40]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def main():
    key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), password=None)
    data = open(sys.argv[2], "rb").read()
    _, s, e = tlv(data, 0)
    top = children(data, s, e)
    assert oid(data, top[0][1], top[0][2]) == "1.2.840.113549.1.9.16.1.23", "not an AuthEnvelopedData"
    _, s, e, _ = children(data, top[1][1], top[1][2])[0]
    fields = children(data, s, e)
    i = 1
    if fields[i][0] == 0xA0:
        i += 1
    recipients = children(data, fields[i][1], fields[i][2])
    ktri = children(data, recipients[0][1], recipients[0][2])
    algorithm = children(data, ktri[2][1], ktri[2][2])
    assert oid(data, algorithm[0][1], algorithm[0][2]) == "1.2.840.113549.1.1.7", "not RSAES-OAEP"
    digest = hashes.SHA1()
    if len(algorithm) > 1 and algorithm[1][2] > algorithm[1][1]:
        for tag, ps, pe, _ in children(data, algorithm[1][1], algorithm[1][2]):
            if tag == 0xA0:
                inner = children(data, ps, pe)[0]
                hash_oid = oid(data, *children(data, inner[1], inner[2])[0][1:3])
                digest = {"1.3.14.3.2.26": hashes.SHA1(), "2.16.840.1.101.3.4.2.1": hashes.SHA256()}[hash_oid]
    encrypted_key = data[ktri[3][1]:ktri[3][2]]
    content_key = key.decrypt(encrypted_key, padding.OAEP(mgf=padding.MGF1(digest), algorithm=digest, label=None))
    info = children(data, fields[i + 1][1], fields[i + 1][2])
    cipher = children(data, info[1][1], info[1][2])
    assert oid(data, cipher[0][1], cipher[0][2]) == "2.16.840.1.101.3.4.1.46", "not AES-256-GCM"
    params = children(data, cipher[1][1], cipher[1][2])
    nonce = data[params[0][1]:params[0][2]]
    ciphertext = data[info[2][1]:info[2][2]]
    mac = data[fields[i + 2][1]:fields[i + 2][2]]
    plaintext = AESGCM(content_key).decrypt(nonce, ciphertext + mac, None)
    open(sys.argv[3], "wb").write(plaintext)


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # one sentence, exit 1
        print(f"open-envelope.py: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
