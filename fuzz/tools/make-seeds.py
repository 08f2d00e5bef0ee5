#!/usr/bin/env python3
"""Regenerates the fuzzers' fixed JWKS (src/jwks.json) and seed inputs (seeds/).

Fresh throw-away keys are generated on every run: the public halves go into
src/jwks.json, the private halves sign the seed tokens and are then dropped
(they are never written anywhere). Running it again replaces both together,
so the signed seeds always verify against the committed JWKS.

Needs Python 3 with the `cryptography` package. Usage: python3 tools/make-seeds.py
(from fuzz/). The constants must match src/lib.rs.
"""
import base64
import hashlib
import hmac
import json
import os
import shutil

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

NOW = 1_700_000_000
ISSUER = "https://op.example.com"
CLIENT_ID = "fuzz-client"
CLIENT_SECRET = b"fuzz-client-secret-of-32-bytes!!"
EVENT = "http://schemas.openid.net/event/backchannel-logout"

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n: int, length=None) -> str:
    length = length or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(length, "big"))


def js(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ec_key = ec.generate_private_key(ec.SECP256R1())
ed_key = ed25519.Ed25519PrivateKey.generate()

rsa_pub = rsa_key.public_key().public_numbers()
ec_pub = ec_key.public_key().public_numbers()
ed_pub = ed_key.public_key().public_bytes_raw()
jwks = {
    "keys": [
        {"kty": "RSA", "kid": "rsa1", "use": "sig", "n": uint(rsa_pub.n), "e": uint(rsa_pub.e)},
        {"kty": "EC", "kid": "ec256", "crv": "P-256", "x": uint(ec_pub.x, 32), "y": uint(ec_pub.y, 32)},
        {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(ed_pub)},
    ]
}


def sign(header: dict, payload: dict) -> str:
    signing_input = f"{b64(js(header))}.{b64(js(payload))}".encode()
    alg = header["alg"]
    if alg == "HS256":
        sig = hmac.new(CLIENT_SECRET, signing_input, hashlib.sha256).digest()
    elif alg == "RS256":
        sig = rsa_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        sig = rsa_key.sign(signing_input, pss, hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(ec_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "EdDSA":
        sig = ed_key.sign(signing_input)
    else:
        sig = b""
    return f"{signing_input.decode()}.{b64(sig)}"


logout = {
    "iss": ISSUER, "aud": CLIENT_ID, "iat": NOW, "exp": NOW + 120, "jti": "jti-1",
    "sub": "alice", "sid": "session-1", "events": {EVENT: {}},
}
id_token = {
    "iss": ISSUER, "aud": CLIENT_ID, "iat": NOW, "exp": NOW + 300, "sub": "alice",
    "nonce": "n-0S6_WzA2Mj", "sid": "session-1", "auth_time": NOW - 10,
}
tokens = {
    "logout-hs256": sign({"alg": "HS256", "typ": "logout+jwt"}, logout),
    "logout-rs256": sign({"alg": "RS256", "kid": "rsa1", "typ": "logout+jwt"}, logout),
    "logout-ps256": sign({"alg": "PS256", "kid": "rsa1"}, logout),
    "logout-es256": sign({"alg": "ES256", "kid": "ec256", "typ": "JWT"}, logout),
    "logout-eddsa-sid-only": sign(
        {"alg": "EdDSA", "kid": "ed"}, {k: v for k, v in logout.items() if k != "sub"}
    ),
    "logout-unknown-kid": sign({"alg": "RS256", "kid": "rotated"}, logout),
    "logout-crit": sign({"alg": "RS256", "kid": "rsa1", "crit": ["exp"]}, logout),
    "logout-alg-none": sign({"alg": "none"}, logout),
    "id-token-rs256": sign({"alg": "RS256", "kid": "rsa1", "typ": "JWT"}, id_token),
}

with open(os.path.join(ROOT, "src", "jwks.json"), "w") as f:
    json.dump(jwks, f, indent=2)
    f.write("\n")

seeds = os.path.join(ROOT, "seeds")
for target in ("logout_token", "jws_compact", "logout_token_claims", "jwks"):
    shutil.rmtree(os.path.join(seeds, target), ignore_errors=True)
    os.makedirs(os.path.join(seeds, target))


def put(target: str, name: str, data: bytes) -> None:
    with open(os.path.join(seeds, target, name), "wb") as f:
        f.write(data)


for name, token in tokens.items():
    put("logout_token", name, token.encode())
    put("jws_compact", name, token.encode())
# logout_token_claims: a payload, optionally preceded by a header and a NUL.
put("logout_token_claims", "logout", js(logout))
put("logout_token_claims", "logout-sid-only", js({k: v for k, v in logout.items() if k != "sub"}))
put("logout_token_claims", "id-token", js(id_token))
put("logout_token_claims", "header-typ-jwt", js({"alg": "HS256", "typ": "JWT"}) + b"\0" + js(logout))
put("logout_token_claims", "header-at-jwt", js({"alg": "HS256", "typ": "at+jwt"}) + b"\0" + js(logout))
put("jwks", "jwks", js(jwks))
print("wrote src/jwks.json and seeds/")
