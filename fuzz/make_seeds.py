#!/usr/bin/env python3
"""Write the hand-made seeds of corpus/cert_table/ (the real tables are copied from tests/data/real).

Each seed is one shape of certificate table the parser must handle: valid, empty, or malformed in
one named way. Re-run from fuzz/: python3 make_seeds.py
"""
import os
import shutil
import struct

VCEK = bytes.fromhex("63da758de6644564adc5f4b93be8accd")
VLEK = bytes.fromhex("a8074bc2a25a483eaae639c045a0b8a1")
ASK = bytes.fromhex("4ab7b379bbac4fe4a02f05aef327c782")
ARK = bytes.fromhex("c0b406a4a80349529743" "3fb6014cd0ae")
CRL = bytes.fromhex("92f81bc358114d3d97ffd19f88dc67ea")
OTHER = bytes(range(1, 17))
TERM = bytes(24)
DER = bytes([0x30, 0x03, 0x02, 0x01, 0x05])
PEM = b"-----BEGIN CERTIFICATE-----\nMAMCAQU=\n-----END CERTIFICATE-----\n"
PEM_KEY = PEM.replace(b"CERTIFICATE", b"PRIVATE KEY")

OUT = "corpus/cert_table"


def ent(guid, off, length):
    return guid + struct.pack("<II", off, length)


def table(entries, payload=b"", total=0):
    hdr = b"".join(ent(*e) for e in entries) + TERM
    b = hdr + payload
    return b + bytes(max(0, total - len(b)))


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "empty_terminator": TERM,
        "empty_page": bytes(4096),
        "valid_three_der": table(
            [(VCEK, 96, 5), (ASK, 101, 5), (ARK, 106, 5)], DER * 3),
        "valid_unknown_and_crl": table([(OTHER, 72, 3), (CRL, 75, 5)], b"xyz" + DER),
        "valid_pem": table([(VCEK, 48, len(PEM))], PEM),
        "bad_truncated_header": ent(VCEK, 48, 5)[:20],
        "bad_missing_terminator": ent(VCEK, 48, 5) + ent(ARK, 53, 5),
        "bad_zero_length": table([(VCEK, 48, 0)], DER),
        "bad_offset_length_overflow": table([(VCEK, 48, 0xFFFFFFFF)], DER),
        "bad_offset_past_end": table([(VCEK, 5000, 5)], DER),
        "bad_payload_past_end": table([(VCEK, 48, 50)], DER),
        "bad_payload_in_header": table([(VCEK, 8, 5)], DER),
        "bad_overlap": table([(VCEK, 72, 5), (ARK, 74, 5)], DER * 2),
        "bad_duplicate_vcek": table([(VCEK, 72, 5), (VCEK, 77, 5)], DER * 2),
        "bad_malformed_terminator": table([(bytes(16), 48, 5)], DER),
        "bad_too_many_entries": b"".join(
            ent(bytes([i + 1]) * 16, 0x10000, 1) for i in range(65)) + TERM,
        "bad_two_pem_blocks": table([(VCEK, 48, 2 * len(PEM))], PEM * 2),
        "bad_pem_label": table([(VCEK, 48, len(PEM_KEY))], PEM_KEY),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    real = "../tests/data/real"
    shutil.copyfile(f"{real}/constellation/aws_certs_valid_4c676382.certtable.bin",
                    f"{OUT}/real_aws_vlek_der")
    shutil.copyfile(f"{real}/veraison/sevsnp-tsm-report_9e37aaf8.certtable.bin",
                    f"{OUT}/real_veraison_pem")


if __name__ == "__main__":
    main()
