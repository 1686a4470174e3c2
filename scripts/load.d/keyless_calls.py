#!/usr/bin/env python3
"""The host calls this policy makes for one image under a `keyless` rule with
fulcioCertificateChain (src/verification.rs), as a JSON list for floor_wat.py:
v2/verify (keyless), the `.sig` manifest of the digest, then for the certificate found there
crypto/v1/is_certificate_trusted at its notBefore and v2/verify (that certificate, Rekor bundle
required, at the digest).

    keyless_calls.py IMAGE DIGEST ISSUER SUBJECT CHAIN_PEM_FILE"""
import json
import subprocess
import sys
import urllib.request
from datetime import datetime

image, digest, issuer, subject, chain_file = sys.argv[1:6]
repository = image[: image.rfind(":")] if image.rfind(":") > image.find("/") else image
registry, name = repository.split("/", 1)
signature_tag = digest.replace(":", "-", 1) + ".sig"
request = urllib.request.Request(
    f"http://{registry}/v2/{name}/manifests/{signature_tag}",
    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
)
with urllib.request.urlopen(request, timeout=10) as answer:
    manifest = json.load(answer)
certificate = next(
    layer["annotations"]["dev.sigstore.cosign/certificate"]
    for layer in manifest["layers"]
    if "dev.sigstore.cosign/certificate" in layer.get("annotations", {})
)
start = subprocess.run(
    ["openssl", "x509", "-noout", "-startdate"], input=certificate.encode(),
    capture_output=True, check=True,
).stdout.decode().strip().split("=", 1)[1]
not_before = datetime.strptime(start, "%b %d %H:%M:%S %Y GMT").strftime("%Y-%m-%dT%H:%M:%SZ")
with open(chain_file, encoding="utf-8") as f:
    chain_text = f.read()
END = "-----END CERTIFICATE-----"
chain = [part.lstrip() + END + "\n" for part in chain_text.split(END) if "BEGIN" in part]


def pem(text):
    return {"encoding": "Pem", "data": list(text.encode())}


def call(namespace, operation, payload):
    return {"binding": "kubewarden", "namespace": namespace, "operation": operation, "payload": payload}


print(json.dumps([
    call("oci", "v2/verify", {"type": "SigstoreKeylessVerify", "image": image,
                              "keyless": [{"issuer": issuer, "subject": subject}], "annotations": None}),
    call("oci", "v1/oci_manifest", f"{repository}:{signature_tag}"),
    call("crypto", "v1/is_certificate_trusted",
         {"cert": pem(certificate), "cert_chain": [pem(c) for c in chain], "not_after": not_before}),
    call("oci", "v2/verify", {"type": "SigstoreCertificateVerify", "image": f"{repository}@{digest}",
                              "certificate": list(certificate.encode()), "certificate_chain": None,
                              "require_rekor_bundle": True, "annotations": None}),
]))
