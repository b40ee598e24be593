#!/usr/bin/python3
"""An independent reference for the encryption mode (docs/manual.md, "Encryption"), with PyNaCl.
Commands (input on stdin, answer on stdout):
  kid PUBHEX             the kid of an X25519 public key
  public SECRETHEX       the X25519 public key of a secret key
  open SECRETHEX         opens a sealed envelope; prints the report inside, after checking the kid
  seal PUBHEX            seals stdin's bytes as an envelope
  document               verifies a published document; prints its identity
  rotation               verifies a rotation statement; prints "old new"
"""
import base64, hashlib, json, sys

import nacl.public, nacl.signing


def kid(pub: bytes) -> str:
    return hashlib.sha256(pub).digest()[:8].hex()


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verify_block(block, message: bytes | None = None) -> bytes:
    vk = nacl.signing.VerifyKey(bytes.fromhex(block["key"]))
    signed = base64.b64decode(block["signature"], validate=True)
    out = vk.verify(signed)  # raises on a bad signature
    if message is not None and out != message:
        raise SystemExit("signed message differs")
    return out


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    data = sys.stdin.buffer.read()
    if cmd == "kid":
        print(kid(bytes.fromhex(args[0])))
    elif cmd == "public":
        print(bytes(nacl.public.PrivateKey(bytes.fromhex(args[0])).public_key).hex())
    elif cmd == "open":
        sk = nacl.public.PrivateKey(bytes.fromhex(args[0]))
        env = json.loads(data)
        assert set(env) == {"sealed"} and set(env["sealed"]) == {"v", "kid", "box"}, env
        assert env["sealed"]["v"] == 1
        assert env["sealed"]["kid"] == kid(bytes(sk.public_key)), "kid"
        assert data == canonical(env), "the envelope is not canonical JSON"
        sys.stdout.buffer.write(nacl.public.SealedBox(sk).decrypt(base64.b64decode(env["sealed"]["box"])))
    elif cmd == "seal":
        pk = nacl.public.PublicKey(bytes.fromhex(args[0]))
        box = nacl.public.SealedBox(pk).encrypt(data)
        sys.stdout.buffer.write(canonical({"sealed": {"v": 1, "kid": kid(bytes(pk)), "box": base64.b64encode(box).decode()}}))
    elif cmd == "document":
        doc = json.loads(data)
        block = doc.pop("signature")
        assert set(block) == {"key", "signature"}
        # The signed message is canonical; the line is the message with the block added last
        # (as a report's line; "version" sorts after "signature", so the line itself is not sorted).
        assert data == canonical(doc)[:-1] + b',"signature":' + canonical(block) + b"}", "layout"
        verify_block(block, canonical(doc))
        assert block["key"] == doc["identity"]
        for k in doc["encryption_keys"]:
            assert k["kid"] == kid(bytes.fromhex(k["x25519"]))
        print(doc["identity"])
    elif cmd == "rotation":
        st = json.loads(data)
        message = canonical({"rotate": st["rotate"]})
        keys = {verify_block(b, message) and b["key"] for b in st["signatures"]}
        assert keys == {st["rotate"]["old"], st["rotate"]["new"]}, keys
        print(st["rotate"]["old"], st["rotate"]["new"])
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
