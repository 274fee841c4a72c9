#!/usr/bin/env python3
"""Write the hand-made seeds of every corpus/<target>/ (real inputs are copied from tests/data/real).

Each seed is one shape of input the parser must handle: real, valid, empty, or malformed in one
named way (`bad_*`). The replay tests check the naming conventions (see fuzz/README.md).
Re-run from fuzz/: python3 make_seeds.py  (needs Python `cryptography` for the sealed guest
messages; the CoCo seeds are derived from coco_sample.json, written once by
`snp-agent attest --backend sim --sim-product milan --format coco --no-verify`).
"""
import base64
import json
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

    more_targets()


REAL = "../tests/data/real"


def real(path):
    with open(f"{REAL}/{path}", "rb") as f:
        return f.read()


def write_all(target, seeds):
    out = f"corpus/{target}"
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        assert len(data) <= 16 * 1024, (target, name, len(data))
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def pem_ders(path):
    text = real(path).decode()
    blocks = text.split("-----BEGIN CERTIFICATE-----")[1:]
    return [base64.b64decode(b.split("-----END CERTIFICATE-----")[0]) for b in blocks]


REPORT_SIZE = 0x4A0
MILAN_V2 = "go-sev-guest/attestation.bin"
MILAN_V2_VCEK = "go-sev-guest/vcek.der"
GENOA_V3 = "veraison/sevsnp-tsm-report_8d8bfb3e.bin"
GENOA_VCEK = "veraison/sevsnp-tsm-report_vcek_ab5a6bc8.der"
MILAN_V5 = "atakit/report_023584c7.bin"
MILAN_V5_VCEK = "atakit/vcek_89da33ca.der"
TURIN = "oak/turin_oc_evidence_report_3f44a09b.bin"
TURIN_VCEK = "oak/turin_oc_endorsements_vcek_14889815.der"
VLEK_REPORT = "reclaim-js-sdk/verify_proof.test_report_f16dddb3.bin"
VLEK = "reclaim-js-sdk/verify_proof.test_vlek_660274b7.der"
MILAN_CRL = "atakit/milan.crl_53b18266.crl"
GENOA_CRL = "cyntrisec-cml-transport/crl_886a378d.crl"


def report_view_seeds():
    turin_bad_tcb = bytearray(real(TURIN))
    turin_bad_tcb[0x180 + 5] = 1  # reserved byte of Turin's REPORTED_TCB layout
    v9 = bytearray(REPORT_SIZE)
    v9[0] = 9
    v9[0x188:0x18B] = b"\x17\x31\x00"  # unknown CPUID family/model
    v9[0x48] = 0xFF  # every signer-info bit, reserved ones included
    return {
        "real_milan_v2": real(MILAN_V2),
        "real_genoa_v3": real(GENOA_V3),
        "real_milan_v5": real(MILAN_V5),
        "real_turin_v3": real(TURIN),
        "real_milan_vlek": real(VLEK_REPORT),
        "valid_zero": bytes(REPORT_SIZE),
        "valid_turin_reserved_tcb": bytes(turin_bad_tcb),
        "valid_v9_unknown_cpuid": bytes(v9),
        "bad_empty": b"",
        "bad_truncated": real(MILAN_V2)[:-1],
        "bad_trailing_byte": real(MILAN_V2) + b"\x00",
    }


def der_tlv(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    elif n < 0x100:
        ln = bytes([0x81, n])
    else:
        ln = bytes([0x82, n >> 8, n & 0xFF])
    return bytes([tag]) + ln + body


def ext_list(items):
    """[oid index, len, value] records for the harness's VekExtensions::parse mode."""
    return b"".join(bytes([i, len(v)]) + v for i, v in items)


# oid indices in the harness: 0 structVersion, 1 productName, 2 bl, 3 tee, 4 snp, 5-8 spl_4..7,
# 9 ucode, 10 fmc, 11 hwID, 12 cspId, 13 outside (ignored)
def int_(v):
    return der_tlv(0x02, v)


def vek_cert_seeds():
    milan = pem_ders("go-sev-guest/ask_ark_milan.pem")
    vcek = real(MILAN_V2_VCEK)
    return {
        "real_vcek_milan": b"\x00" + vcek,
        "real_vcek_genoa": b"\x00" + real(GENOA_VCEK),
        "real_vcek_turin": b"\x00" + real(TURIN_VCEK),
        "real_vlek_milan": b"\x01" + real(VLEK),
        "real_ask_milan": b"\x03" + milan[0],
        "real_ark_milan": b"\x04" + milan[1],
        "real_crl_milan": b"\x05" + real(MILAN_CRL),
        "real_crl_genoa_revokes": b"\x05" + real(GENOA_CRL),
        "valid_pem_chain_genoa": b"\x06" + real("go-sev-guest/ask_ark_genoa.pem"),
        "tampered_genoa_vcek_says_turin": b"\x00"
        + real("routex-client-lua/vcek_genoa_with_turin_product_TAMPERED_7d146c38.der"),
        "tampered_ask_one_byte": b"\x03" + real("constellation/azure_neg_malformed_ask_0903a395.der"),
        "bad_vcek_truncated": b"\x00" + vcek[:700],
        "bad_vcek_trailing_garbage": b"\x00" + vcek + b"\x00",
        "bad_crl_truncated": b"\x05" + real(MILAN_CRL)[:400],
        "bad_empty_cert": b"\x00",
        "ext_milan": b"\x07" + ext_list([
            (0, int_(b"\x00")), (1, der_tlv(0x16, b"Milan-B0")), (2, int_(b"\x02")),
            (3, int_(b"\x00")), (4, int_(b"\x05")), (5, int_(b"\x00")), (9, int_(b"\x00\xd1")),
            (11, bytes(range(64)))]),
        "ext_turin": b"\x07" + ext_list([
            (0, int_(b"\x01")), (1, der_tlv(0x16, b"Turin")), (2, int_(b"\x01")),
            (3, int_(b"\x00")), (4, int_(b"\x02")), (9, int_(b"\x47")), (10, int_(b"\x00")),
            (11, der_tlv(0x04, bytes(8)))]),
        "ext_vlek_csp": b"\x07" + ext_list([
            (1, der_tlv(0x0C, b"Genoa")), (12, der_tlv(0x16, b"CN=cc-us-east-2.amazonaws.com"))]),
        "ext_bad_values": b"\x07" + ext_list([
            (2, int_(b"\xde")), (3, int_(b"\x01\x00")), (4, b"\x02\x00"), (1, der_tlv(0x16, b"\x07")),
            (11, bytes(63))]),
        "ext_duplicate": b"\x07" + ext_list([(2, int_(b"\x01")), (2, int_(b"\x01"))]),
    }


def lp(b):
    return struct.pack("<H", len(b)) + b


def vpair(flags, report, vek, extra=b""):
    return bytes([flags]) + lp(real(report)) + lp(real(vek)) + extra


# verify flags: bit 0 explicit anchors, bit 1 CRL required, bits 2-3 time (0 2025-01-01,
# 1 2026-07-01, 2 2026-11-25, 3 2035-01-01), bit 4 extra = CRL, bit 5 extra = host ASK,
# bits 6-7 product for verify_vek/verify_crl (0 Milan, 1 Genoa, 2 Turin)
def verify_seeds():
    milan_ask = pem_ders("go-sev-guest/ask_ark_milan.pem")[0]
    return {
        "valid_milan_v2": vpair(0x08, MILAN_V2, MILAN_V2_VCEK),
        "valid_genoa_v3": vpair(0x48, GENOA_V3, GENOA_VCEK),
        "valid_turin": vpair(0x88, TURIN, TURIN_VCEK),
        "valid_milan_vlek": vpair(0x08, VLEK_REPORT, VLEK),
        "bad_cross_chip": vpair(0x08, MILAN_V2, "virtee-sev/vcek_milan.der"),
        "bad_report_signature": vpair(
            0x08, "constellation/azure_neg_invalid_report_signature_69a9eb13.bin",
            "constellation/azure_vcek_2f52d3cf.der"),
        "bad_expired_2035": vpair(0x0C, MILAN_V2, MILAN_V2_VCEK),
        "bad_genoa_report_milan_product": vpair(0x08, GENOA_V3, MILAN_V2_VCEK),
        "crl_milan_current": vpair(0x14, MILAN_V5, MILAN_V5_VCEK, real(MILAN_CRL)),
        "crl_required_missing": vpair(0x0A, MILAN_V2, MILAN_V2_VCEK),
        "crl_genoa": vpair(0x5A, GENOA_V3, GENOA_VCEK, real(GENOA_CRL)),
        "host_ask_milan": vpair(0x28, MILAN_V2, MILAN_V2_VCEK, milan_ask),
        "explicit_anchors_turin": vpair(0x89, TURIN, TURIN_VCEK),
        "short_report": bytes([0x08]) + lp(real(MILAN_V2)[:100]) + lp(real(MILAN_V2_VCEK)),
    }


KEY = bytes([0x42] * 32)


def sealed(sel, payload, seqno=None, msg_type=None, version=1, vmpck=0):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    seqno = (sel >> 4) if seqno is None else seqno
    msg_type = (4 if sel & 0x08 else 6) if msg_type is None else msg_type
    hdr = bytearray(0x60)
    hdr[0x20:0x28] = struct.pack("<Q", seqno)
    hdr[0x30] = 1
    hdr[0x31] = 1
    hdr[0x32:0x34] = struct.pack("<H", 0x60)
    hdr[0x34] = msg_type
    hdr[0x35] = version
    hdr[0x36:0x38] = struct.pack("<H", len(payload))
    hdr[0x3C] = vmpck
    iv = struct.pack("<Q", seqno) + bytes(4)
    ct_tag = AESGCM(KEY).encrypt(iv, payload, bytes(hdr[0x30:0x60]))
    ct, tag = ct_tag[:-16], ct_tag[-16:]
    hdr[0:16] = tag
    return bytes([sel]) + bytes(hdr) + ct


def report_rsp(status=0, size=REPORT_SIZE, report=None):
    report = real(MILAN_V2) if report is None else report
    return struct.pack("<II", status, size) + bytes(0x18) + report


def guest_message_seeds():
    key_rsp = struct.pack("<I", 0) + bytes(28) + bytes(range(32))
    report_req = bytes(range(64)) + struct.pack("<II", 0, 1) + bytes(0x18)
    key_req = struct.pack("<IIQIIQ", 1, 0, 0x3F, 0, 1, 0x0300000000000873)
    words = struct.pack(
        "<QQQQQQQQ",
        0x0002_0001_3300_0001,  # SEV_INFO response
        0x0001_0002_3300_0001,  # SEV_INFO with min > max
        0x1234_5000 | 0x013,  # REGISTER_GPA response
        0x1234_5000 | 0x012,  # REGISTER_GPA request
        (3 << 16) | (1 << 12) | 0x100,  # termination request
        1 << 32,  # SW_EXITINFO2 INVALID_LEN
        0xFFFF_FFFF_FFFF_FFFF,  # NO_FW_CALL
        0x0000_0002_0000_0016,  # BUSY | INVALID_PARAM
    )
    rsp = report_rsp()
    msg = sealed(0x00, rsp)
    return {
        "valid_sealed_report_rsp": msg,
        "valid_sealed_key_rsp": sealed(0x18, key_rsp),
        "valid_sealed_failed_report_rsp": sealed(0x20, report_rsp(0x16, 0, b"")),
        "bad_tag": msg[:1] + bytes([msg[1] ^ 1]) + msg[2:],
        "bad_seqno": sealed(0x00, rsp, seqno=7),
        "bad_msg_type": sealed(0x00, rsp, msg_type=5),
        "bad_vmpck": sealed(0x00, rsp, vmpck=3),
        "bad_truncated_header": msg[:0x40],
        "bad_size_past_end": msg[:1 + 0x60 + 100],
        "plain_report_rsp": b"\x01" + rsp,
        "plain_key_rsp": b"\x09" + key_rsp,
        "plain_failed_rsp": b"\x01" + report_rsp(0x27, 0, b""),
        "payload_report_rsp_bad_size": b"\x02" + report_rsp(0, 0x4A1),
        "payload_report_req": b"\x02" + report_req,
        "payload_report_req_key_sel_3": b"\x02" + report_req[:0x44] + b"\x03" + report_req[0x45:],
        "payload_key_req": b"\x02" + key_req,
        "payload_key_rsp": b"\x02" + key_rsp,
        "words": b"\x03" + words,
    }


def coco_sample():
    with open("coco_sample.json") as f:
        return json.load(f)


def evidence_seeds():
    report = real(MILAN_V2)
    table = real("constellation/aws_certs_valid_4c676382.certtable.bin")
    ev_json = json.dumps({
        "format": "snp-agent-evidence/v1",
        "report": base64.b64encode(report).decode(),
        "cert_table": base64.b64encode(bytes(24)).decode(),
        "backend": "sev-guest",
    }).encode()
    coco = coco_sample()
    coco_bare = dict(coco, cert_chain=None)
    coco_small = dict(coco, cert_chain=[
        {"cert_type": "VCEK", "data": [0x30, 0x03, 0x02, 0x01, 0x05]},
        {"cert_type": "CRL", "data": [0x30, 0x00]},
    ])
    policy = open("../agent/tests/data/example-policy.toml", "rb").read()
    return {
        "bin_report_only": b"\x00" + report,
        "bin_vlek_table": b"\x02" + real(VLEK_REPORT) + table,
        "bin_truncated": b"\x02" + report[:1000],
        "json_v1": b"\x00" + ev_json,
        "json_v1_hinted": b"\x01" + ev_json,
        "json_unknown_version": b"\x00" + ev_json.replace(b"evidence/v1", b"evidence/v9"),
        "json_unknown_key": b"\x00" + ev_json.replace(b'"backend"', b'"backnd"'),
        "json_bad_base64": b"\x00" + ev_json.replace(b'"report": "', b'"report": "!'),
        "json_unknown_object": b"\x00" + b'{"hello": 1}',
        "coco_no_chain": b"\x00" + json.dumps(coco_bare).encode(),
        "coco_small_chain": b"\x03" + json.dumps(coco_small).encode(),
        "empty": b"\x00",
        "policy_example": b"\x80" + policy,
        "policy_empty": b"\x80",
        "policy_min_tcb": b"\x80" + b'products = ["milan"]\nsigners = ["vcek"]\nmin_firmware = "1.49.3"\n'
        b'[min_tcb.milan]\nbl = 2\ntee = 0\nsnp = 5\nmicrocode = 68\n'
        b'[guest_policy]\ndebug = "allowed"\nmin_abi = "0.0"\n',
        "policy_bad_hex": b"\x80" + b'measurements = ["zz"]\n',
        "policy_unknown_key": b"\x80" + b'mesurements = []\n',
        "policy_turin_without_fmc": b"\x80" + b'[min_tcb.turin]\nbl = 1\ntee = 0\nsnp = 2\nmicrocode = 71\n',
    }


def more_targets():
    write_all("report_view", report_view_seeds())
    write_all("vek_cert", vek_cert_seeds())
    write_all("verify", verify_seeds())
    write_all("guest_message", guest_message_seeds())
    write_all("evidence", evidence_seeds())


if __name__ == "__main__":
    main()
