#!/usr/bin/python3
"""Cross-checks lib/crypto (through crypto_oracle) against python3-cryptography.

Everything the project computes about sector layout is recomputed here from
the definitions alone: the tweak of sector n is n as a 128-bit little-endian
integer, a double stack is inner layer then outer layer, RSA wrapping is
OAEP with SHA-256 for both digests. Inputs are random on each run and the
seed is printed so a failure can be replayed.
"""
import os
import random
import subprocess
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)

ORACLE = sys.argv[1]
SEED = int(os.environ.get("CROSSCHECK_SEED", random.SystemRandom().randrange(2**32)))
rng = random.Random(SEED)
failures = 0
checks = 0


def rand_bytes(n):
    return bytes(rng.getrandbits(8) for _ in range(n))


def oracle(*args, data=None):
    result = subprocess.run([ORACLE, *args], input=data, capture_output=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"oracle {args[0]} failed: {result.stderr.decode().strip()}")
    return result.stdout


def oracle_hex(*args):
    return bytes.fromhex(oracle(*args).decode().strip())


def check(name, ours, theirs):
    global failures, checks
    checks += 1
    if ours != theirs:
        failures += 1
        print(f"MISMATCH {name}: ours {ours[:32].hex()}... theirs {theirs[:32].hex()}...")


def xts_reference(keys, sector_size, first_sector, data, encrypt):
    out = bytearray()
    order = keys if encrypt else list(reversed(keys))
    for i in range(0, len(data), sector_size):
        sector = data[i:i + sector_size]
        tweak = (first_sector + i // sector_size).to_bytes(16, "little")
        for key in order:
            cipher = Cipher(algorithms.AES(key), modes.XTS(tweak))
            op = cipher.encryptor() if encrypt else cipher.decryptor()
            sector = op.update(sector) + op.finalize()
        out += sector
    return bytes(out)


def crosscheck_xts():
    for sector_size in (512, 4096):
        for layers in (1, 2):
            for first_sector in (0, 1, 2**32 - 1, 2**32, rng.randrange(2**63), 2**64 - 9):
                keys = [rand_bytes(64) for _ in range(layers)]
                plaintext = rand_bytes(sector_size * 8)
                args = [str(sector_size), str(first_sector), *(k.hex() for k in keys)]
                name = f"xts {sector_size}B {layers} layer(s) sector {first_sector}"
                ours = oracle("xts-encrypt", *args, data=plaintext)
                check(name + " encrypt", ours,
                      xts_reference(keys, sector_size, first_sector, plaintext, True))
                theirs = xts_reference(keys, sector_size, first_sector, plaintext, True)
                check(name + " decrypt", oracle("xts-decrypt", *args, data=theirs), plaintext)


def crosscheck_kwp():
    for key_size in (1, 8, 9, 32, 64):
        kek = rand_bytes(32)
        key = rand_bytes(key_size)
        check(f"kwp wrap {key_size}B", oracle_hex("kwp-wrap", kek.hex(), key.hex()),
              aes_key_wrap_with_padding(kek, key))
        wrapped = aes_key_wrap_with_padding(kek, key)
        check(f"kwp unwrap {key_size}B", oracle_hex("kwp-unwrap", kek.hex(), wrapped.hex()), key)
        ours = oracle_hex("kwp-wrap", kek.hex(), key.hex())
        check(f"kwp ours unwrapped by them {key_size}B", aes_key_unwrap_with_padding(kek, ours),
              key)


def crosscheck_gcm():
    key = rand_bytes(32)
    secret = rand_bytes(64)
    aad = b"disk 1 layer 0"
    sealed = oracle_hex("gcm-seal", key.hex(), secret.hex(), aad.hex())
    check("gcm ours opened by them", AESGCM(key).decrypt(sealed[:12], sealed[12:], aad), secret)
    nonce = rand_bytes(12)
    theirs = nonce + AESGCM(key).encrypt(nonce, secret, aad)
    check("gcm theirs opened by us", oracle_hex("gcm-open", key.hex(), theirs.hex(), aad.hex()),
          secret)


def crosscheck_rsa():
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()),
                        algorithm=hashes.SHA256(), label=None)
    for bits in (2048, 3072):
        der = oracle_hex("rsa-generate", str(bits))
        private = serialization.load_der_private_key(der, password=None)
        check(f"rsa {bits} key size", private.key_size.to_bytes(2, "big"), bits.to_bytes(2, "big"))
        dek = rand_bytes(64)
        ours = oracle_hex("rsa-wrap", der.hex(), dek.hex())
        check(f"rsa {bits} ours unwrapped by them", private.decrypt(ours, oaep), dek)
        theirs = private.public_key().encrypt(dek, oaep)
        check(f"rsa {bits} theirs unwrapped by us", oracle_hex("rsa-unwrap", der.hex(), theirs.hex()),
              dek)
    # A key made by them, in their PKCS#1 DER, must work for us too.
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = private.private_bytes(serialization.Encoding.DER,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    dek = rand_bytes(64)
    check("rsa their key, our unwrap",
          oracle_hex("rsa-unwrap", der.hex(), private.public_key().encrypt(dek, oaep).hex()), dek)


def main():
    print(f"crosscheck seed {SEED} (set CROSSCHECK_SEED to replay)")
    crosscheck_xts()
    crosscheck_kwp()
    crosscheck_gcm()
    crosscheck_rsa()
    print(f"{checks - failures} passed, {failures} failed")
    return 1 if failures or checks == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
