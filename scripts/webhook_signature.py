#!/usr/bin/env python3
"""Signs a webhook the Standard Webhooks way, independently of the Rust code,
to produce the expected values of its tests and to check a delivery by hand.

    scripts/webhook_signature.py SECRET WEBHOOK_ID TIMESTAMP BODY

SECRET is `whsec_<base64>` (the base64-decoded bytes are the key) or any
other value (its UTF-8 bytes are the key), as WEBHOOK_SECRET is read.
"""
import base64
import hashlib
import hmac
import sys


def key_of(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    content = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key_of(secret), content, hashlib.sha256).digest()).decode()


if __name__ == "__main__":
    secret, webhook_id, timestamp, body = sys.argv[1:5]
    print(sign(secret, webhook_id, int(timestamp), body.encode()))
