#!/usr/bin/env python3
"""Independent checker for the Tiergate protocol test vectors.

Written from protocol-spec/SPEC.md alone (never from the Swift sources), with only the
Python standard library and the `cryptography` package.  It proves that the specification
suffices to:

  * verify Ed25519 signatures the way libsodium 1.0.18 does (SPEC 2.3)   -> signatures.json
  * recompute entry and roster ids with BLAKE2b-256 (SPEC 2.2, 3.1, 4.2) -> entries.json
  * decode entries (all five kinds: proposals, votes, halts, drills and
    DRILL-ACKs) and rosters (formats 1, 2 and 3, the drill policy's
    consistency included) canonically and reject everything else
    (SPEC 2.1, 2.3, 3.1, 3.3, 4.1)                                       -> encoding-rejects.json
  * derive public keys and fingerprints from seeds (SPEC 2.4)            -> keys.json
  * read ledger files (DRILL-ACKs in DETACHED frames, in no feed, never
    equivocation), check the genesis roster's founder signatures (v1, v2
    and v3 carriers) and recompute the verdict (SPEC 3.4, 5, 6),
    observers included (3.2): authorised tier, halted, roster version,
    equivocations, and the drills -- each drill's state, missing
    enforcers and acknowledgements (latency, on time, expected) -- with
    the schedule's drill_overdue and lapse_on_overdue (SPEC 5.8)         -> ledgers/manifest.json
  * run the node handshake -- Noise XX 25519/ChaChaPoly/BLAKE2b with the
    tiergate prologue, converted static keys and identity payloads --
    and the transport byte for byte, and reject altered, replayed and
    other-lab messages (SPEC 12)                                         -> noise.json
  * verify linkable ring signatures (LSAG on edwards25519, with
    libsodium's from_uniform hash-to-point written out in Python) and
    re-sign the valid ones to the same bytes (SPEC 2.5); anonymous halts
    (kind 6) decoded, verified and counted in ledgers (SPEC 4.1, 5.4)    -> ring.json

Usage (from the repository root):   python3 protocol-spec/tools/check_vectors.py
Prints one line per failing case and finally "N passed, M failed"; exits 1 when any case
failed or a vector file is missing.  `-v` also prints passing cases.  A few self-checks
(entries, rosters, ledgers and handshakes built by hand from the spec) run first; when the
Wycheproof X25519 and ChaCha20-Poly1305 files in vectors/third-party run through the same DH
wrapper and AEAD as the handshake, and the published cacophony Noise_XX_25519_ChaChaPoly_BLAKE2b
vector through the same symmetric state and handshake.  Tier tokens (SPEC 9) are not checked.

Where SPEC.md leaves a choice open, this checker reads it as follows:
  * 3.3  A member key must pass libsodium's crypto_core_ed25519_is_valid_point, which besides
         the three conditions SPEC 3.3 spells out also requires the prime-order subgroup.
  * 3.3  "At least one member may halt": an observer never may (its halts have no authority,
         SPEC 3.2), so a roster whose only halt role is `observer` is inconsistent.  `observer`
         in halt_roles beside other roles is allowed (3.3 forbids it only in role minimums and
         veto lists); it gives the observer nothing.
  * 3.4  A JSON ident that is not an ident (other than "*") makes the file "not a roster"; a
         duplicate in a role list, or "*" outside halt_roles, makes it inconsistent.
  * 3.4  In a "tiergate-roster-v2" file a freshness role minimum naming "*" or "observer" makes
         the roster inconsistent (as in a rule's role_minimums), not "not a roster".
  * 3.1  A format-1 roster holding freshness role minimums (only possible in memory) is
         inconsistent and has no encoding.
  * 5.1  Observer status is read in the version in force at the entry's time (proposals,
         halts) and in the proposal's version v (votes, 5.3).
  * 6.4  Gaps are computed at the end of the file.  (Which keys are "on no roster version", and
         that a header genesis mismatch does not stop verification, are now normative in 6.4.)
  * 3.3  "lapse_on_overdue needs ... at least one enforcer": the enforcers E of 5.8 (those named,
         or every observer when none are) must not be empty (now said in 3.1).
  * 3.4  A "tiergate-roster-v3" file is a format-3 roster even when its drill policy is the
         default (the carrier names the format); a v3 file may omit the `drill` object.
  * 5.8  Drills are reported oldest first (time, id); a drill's acknowledgements by member name
         (then id) and its missing enforcers by name (now normative in 5.8, as is the name: the
         newest roster version of the chain that names the key).
  * 5.8  "lapses_at = min(lapses_at, due_at)" applies only when there is a lapses_at (the lab is
         authorised above its base tier); at the base tier nothing lapses.
  * 6.4  An EVIDENCE frame holding two DRILL-ACKs of one author (both seq 0, different ids) is a
         violation: DRILL-ACKs are never equivocation (4.3), so it proves nothing.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from typing import Callable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
MAX_DURATION_MS = 3650 * 86_400_000       # SPEC 3.1: window, lapse and cooling-off are at most 10 years


# =============================================================================================
# SPEC 2.2-2.4: hashes, domain tags, fingerprints
# =============================================================================================

TAG_ENTRY = b"tiergate/v1/entry"
TAG_ROSTER = b"tiergate/v1/roster"
TAG_FINGERPRINT = b"tiergate/v1/fingerprint"
ZERO32 = bytes(32)


def H(data: bytes) -> bytes:
    """The protocol hash: unkeyed BLAKE2b with a 32-byte output (SPEC 2.3)."""
    return hashlib.blake2b(data, digest_size=32).digest()


def H16(data: bytes) -> bytes:
    """Ledger frame checksums: unkeyed BLAKE2b with a 16-byte output (SPEC 2.3, 6.2)."""
    return hashlib.blake2b(data, digest_size=16).digest()


def tagged(tag: bytes, content: bytes) -> bytes:
    """message = u8(len(tag)) || tag || content (SPEC 2.2)."""
    return bytes([len(tag)]) + tag + content


def ssh_string(b: bytes) -> bytes:
    """RFC 4251 5: u32 big-endian length || bytes."""
    return len(b).to_bytes(4, "big") + b


def openssh_blob(public_key: bytes) -> bytes:
    """string("ssh-ed25519") || string(key) (RFC 8709 4; SPEC 2.4)."""
    return ssh_string(b"ssh-ed25519") + ssh_string(public_key)


def openssh_fingerprint(public_key: bytes) -> str:
    """SHA256: + unpadded standard base64 of SHA-256 over the blob, as ssh-keygen -l prints (SPEC 2.4)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(openssh_blob(public_key)).digest()).decode().rstrip("=")


def openssh_line(public_key: bytes) -> str:
    return "ssh-ed25519 " + base64.b64encode(openssh_blob(public_key)).decode()


def parse_openssh_line(line: str) -> bytes | None:
    """The Ed25519 key of 'ssh-ed25519 BASE64 [comment]', or None for anything else (SPEC 2.4)."""
    fields = line.split()
    if len(fields) < 2 or fields[0] != "ssh-ed25519":
        return None
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except ValueError:
        return None
    if blob != openssh_blob(blob[-32:]) or len(blob) != 51:
        return None
    return blob[-32:]


def fingerprint(public_key: bytes) -> str:
    """First 10 bytes of H(u8(23) || "tiergate/v1/fingerprint" || key), as 5 dash-separated
    groups of 4 lowercase hex digits (SPEC 2.4)."""
    digest = H(tagged(TAG_FINGERPRINT, public_key)).hex()[:20]
    return "-".join(digest[i:i + 4] for i in range(0, 20, 4))


# =============================================================================================
# SPEC 2.3: Ed25519 verification with libsodium 1.0.18's strictness
#
# `cryptography` (OpenSSL) performs the RFC 8032 cofactorless check and compares R bytewise.
# libsodium's crypto_sign_verify_detached additionally rejects, before any arithmetic:
#   - a non-canonical S (S >= L),
#   - an R of small order (any encoding whose y, taken mod p, is that of a small-order point),
#   - a non-canonical public key (y >= p) or one of small order, or one that does not decode.
# These pre-checks only need a little Edwards-curve arithmetic, done here in pure Python.
# =============================================================================================

P25519 = 2**255 - 19
L25519 = 2**252 + 27742317777372353535851937790883648493
D25519 = (-121665 * pow(121666, -1, P25519)) % P25519
SQRT_M1 = pow(2, (P25519 - 1) // 4, P25519)


def _recover_x(y: int) -> int | None:
    """An x with (x, y) on edwards25519 (-x^2 + y^2 = 1 + d x^2 y^2), or None.  The sign
    is irrelevant for the order checks below (negation preserves the order)."""
    x2 = (y * y - 1) * pow(D25519 * y * y + 1, -1, P25519) % P25519
    x = pow(x2, (P25519 + 3) // 8, P25519)
    if (x * x - x2) % P25519:
        x = x * SQRT_M1 % P25519
    if (x * x - x2) % P25519:
        return None
    return x


def _edwards_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Affine addition on edwards25519 (complete: d is not a square)."""
    (x1, y1), (x2, y2) = a, b
    t = D25519 * x1 * x2 * y1 * y2 % P25519
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, -1, P25519) % P25519
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, P25519) % P25519
    return x3, y3


def _y_of(encoding: bytes) -> int:
    return int.from_bytes(encoding, "little") & ((1 << 255) - 1)


def has_small_order(encoding: bytes) -> bool:
    """True when the encoding (sign bit ignored, y reduced mod p, as libsodium's blacklist
    does) names a point P with [8]P = identity."""
    y = _y_of(encoding) % P25519
    x = _recover_x(y)
    if x is None:
        return False
    point = (x, y)
    for _ in range(3):
        point = _edwards_add(point, point)
    return point == (0, 1)


def _decode_point(encoding: bytes) -> tuple[int, int] | None:
    """The point an encoding names (RFC 8032 5.1.3, with the sign bit), or None when y >= p
    or no x exists."""
    y = _y_of(encoding)
    if y >= P25519:
        return None
    x = _recover_x(y)
    if x is None:
        return None
    if x & 1 != encoding[31] >> 7:
        x = (P25519 - x) % P25519
    return x, y


def _encode_point(point: tuple[int, int]) -> bytes:
    x, y = point
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _scalar_mult(k: int, point: tuple[int, int]) -> tuple[int, int]:
    result, addend = (0, 1), point
    while k:
        if k & 1:
            result = _edwards_add(result, addend)
        addend = _edwards_add(addend, addend)
        k >>= 1
    return result


@functools.lru_cache(maxsize=4096)
def is_valid_point(encoding: bytes) -> bool:
    """libsodium's crypto_core_ed25519_is_valid_point, which SPEC 3.3 requires of every member
    key: a canonical encoding (y < p), not of small order ([8]P != identity, encodings taken
    mod p as in libsodium's blacklist), on the curve (an x exists for y), and -- as libsodium
    also checks (ge25519_is_on_main_subgroup), though SPEC 3.3's parenthesis does not say so --
    in the prime-order subgroup ([L]P = identity).  Keys derived from seeds always pass."""
    if len(encoding) != 32 or _y_of(encoding) >= P25519:
        return False
    if has_small_order(encoding):
        return False
    point = _decode_point(encoding)
    if point is None:
        return False
    x, y = point
    if (-x * x + y * y - 1 - D25519 * x * x * y * y) % P25519:     # the curve equation
        return False
    return _scalar_mult(L25519, point) == (0, 1)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Verify like libsodium 1.0.18 crypto_sign_verify_detached (SPEC 2.3)."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    if int.from_bytes(signature[32:], "little") >= L25519:      # non-canonical S
        return False
    if has_small_order(signature[:32]):                           # small-order R
        return False
    if _y_of(public_key) >= P25519:                               # non-canonical key
        return False
    if _recover_x(_y_of(public_key)) is None:                     # key not on the curve
        return False
    if has_small_order(public_key):                               # small-order key
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_from_seed(seed: bytes) -> bytes:
    """RFC 8032 public key of a 32-byte private key seed (SPEC 7.2)."""
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def sign(seed: bytes, message: bytes) -> bytes:
    """Used only by the self-checks, to build test data by hand."""
    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


# =============================================================================================
# SPEC 2.5: linkable ring signatures (LSAG) on edwards25519
# =============================================================================================

CURVE25519_A = 486662
BASE_POINT = (15112221349535400772501151409588531511454012693041857206046113283949847762202,
              46316835694926478169428394003475163141307993866256225615783033603165251855960)
IDENTITY = (0, 1)
TAG_RING = b"tiergate/v1/ring"
TAG_RING_POINT = b"tiergate/v1/ring-point"


def _inv(v: int) -> int:
    """Field inverse; the inverse of 0 is 0 (as libsodium's fe25519_invert)."""
    return pow(v, P25519 - 2, P25519)


def map_to_point(r: bytes) -> bytes:
    """libsodium 1.0.18 crypto_core_ed25519_from_uniform, as SPEC 2.5 states it: Elligator 2 onto Curve25519,
    the birational map to edwards25519 with the top bit of r as the sign of x, times the cofactor 8."""
    sign = r[31] >> 7
    t = int.from_bytes(r[:31] + bytes([r[31] & 0x7F]), "little") % P25519
    u = (-CURVE25519_A * _inv(1 + 2 * t * t)) % P25519
    w = (u * u * u + CURVE25519_A * u * u + u) % P25519
    if pow(w, (P25519 - 1) // 2, P25519) == P25519 - 1:       # not a square: the other root
        u = (-u - CURVE25519_A) % P25519
    y = (u - 1) * _inv(u + 1) % P25519
    x = _recover_x(y)
    if x is None:
        raise ValueError("map_to_point: no x")                 # cannot happen for a Curve25519 u
    if x & 1 != sign:
        x = (P25519 - x) % P25519
    point = (x, y)
    for _ in range(3):
        point = _edwards_add(point, point)
    return _encode_point(point)


def _ext(point: tuple[int, int]) -> tuple[int, int, int, int]:
    x, y = point
    return x, y, 1, x * y % P25519


def _ext_add(a, b):
    """Extended-coordinate addition on edwards25519 (a = -1; Hisil-Wong-Carter-Dawson 2008), no inversion."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P25519
    bb = (y1 + x1) * (y2 + x2) % P25519
    cc = 2 * D25519 * t1 * t2 % P25519
    dd = 2 * z1 * z2 % P25519
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return e * f % P25519, g * h % P25519, f * g % P25519, e * h % P25519


def _fast_mult(k: int, point: tuple[int, int]) -> tuple[int, int]:
    """k * point (affine in and out), by double-and-add in extended coordinates."""
    result, addend = (0, 1, 1, 0), _ext(point)
    while k:
        if k & 1:
            result = _ext_add(result, addend)
        addend = _ext_add(addend, addend)
        k >>= 1
    x, y, z, _ = result
    zi = _inv(z)
    return x * zi % P25519, y * zi % P25519


def ring_hash_point(key: bytes, genesis: bytes, period: int, slot: int) -> bytes:
    """H_i (SPEC 2.5)."""
    return map_to_point(H(tagged(TAG_RING_POINT, genesis + period.to_bytes(8, "big") + slot.to_bytes(4, "big")
                                 + key)))


def ring_challenge(transcript: bytes, l_point: tuple[int, int], r_point: tuple[int, int]) -> int:
    h = hashlib.blake2b(transcript + _encode_point(l_point) + _encode_point(r_point), digest_size=64).digest()
    return int.from_bytes(h, "little") % L25519


def ring_transcript(message: bytes, ring: list[bytes], image: bytes) -> bytes:
    return (tagged(TAG_RING, len(message).to_bytes(4, "big") + message) + len(ring).to_bytes(4, "big")
            + b"".join(ring) + image)


def ring_valid(ring: list[bytes]) -> bool:
    return (1 <= len(ring) <= 256 and all(is_valid_point(k) for k in ring)
            and all(a < b for a, b in zip(ring, ring[1:])))


def ring_verify(message: bytes, ring: list[bytes], image: bytes, signature: bytes, genesis: bytes, period: int,
                slot: int) -> bool:
    """SPEC 2.5 verification, in pure Python (affine arithmetic, no libsodium)."""
    if not ring_valid(ring) or len(signature) != 32 * (len(ring) + 1):
        return False
    if len(image) != 32 or not is_valid_point(image):
        return False
    scalars = [int.from_bytes(signature[i:i + 32], "little") for i in range(0, len(signature), 32)]
    if any(v >= L25519 for v in scalars):
        return False
    t = ring_transcript(message, ring, image)
    img = _decode_point(image)
    c0 = c = scalars[0]
    for i, key in enumerate(ring):
        s_i = scalars[i + 1]
        k = _decode_point(key)
        hp = _decode_point(ring_hash_point(key, genesis, period, slot))
        l_pt = _edwards_add(_fast_mult(s_i, BASE_POINT), _fast_mult(c, k))
        r_pt = _edwards_add(_fast_mult(s_i, hp), _fast_mult(c, img))
        c = ring_challenge(t, l_pt, r_pt)
    return c == c0


def ring_secret_scalar(seed: bytes) -> int:
    """The Ed25519 secret scalar (RFC 8032 5.1.5: SHA-512(seed)[:32], clamped) mod L."""
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return int.from_bytes(h, "little") % L25519


def ring_sign(message: bytes, ring: list[bytes], seed: bytes, genesis: bytes, period: int, slot: int,
              nonce_seed: bytes) -> tuple[bytes, bytes]:
    """For the self-checks only: an independent signer (deterministic nonces from nonce_seed)."""
    x = ring_secret_scalar(seed)
    me = public_key_from_seed(seed)
    pi = ring.index(me)
    n = len(ring)
    hps = [_decode_point(ring_hash_point(k, genesis, period, slot)) for k in ring]
    img_pt = _fast_mult(x, hps[pi])
    image = _encode_point(img_pt)
    t = ring_transcript(message, ring, image)

    def rnd(i: int) -> int:
        """The vectors' deterministic nonces (ring.json): BLAKE2b-512(nonce_seed || u16 i) mod L."""
        return int.from_bytes(hashlib.blake2b(nonce_seed + i.to_bytes(2, "big"), digest_size=64).digest(), "little") % L25519
    alpha = rnd(0xFFFF)
    c = [0] * n
    s_ = [0] * n
    c[(pi + 1) % n] = ring_challenge(t, _fast_mult(alpha, BASE_POINT), _fast_mult(alpha, hps[pi]))
    i = (pi + 1) % n
    while i != pi:
        s_[i] = rnd(i)
        k = _decode_point(ring[i])
        c[(i + 1) % n] = ring_challenge(t, _edwards_add(_fast_mult(s_[i], BASE_POINT), _fast_mult(c[i], k)),
                                        _edwards_add(_fast_mult(s_[i], hps[i]), _fast_mult(c[i], img_pt)))
        i = (i + 1) % n
    s_[pi] = (alpha - c[pi] * x) % L25519
    return image, b"".join(v.to_bytes(32, "little") for v in [c[0]] + s_)


# =============================================================================================
# SPEC 2.1: canonical encoding
# =============================================================================================

class DecodeError(Exception):
    """Input that is not the one canonical encoding of a valid value."""


def enc_u8(v: int) -> bytes:
    return v.to_bytes(1, "big")


def enc_u32(v: int) -> bytes:
    return v.to_bytes(4, "big")


def enc_u64(v: int) -> bytes:
    return v.to_bytes(8, "big")


def enc_bytes(v: bytes) -> bytes:
    return enc_u32(len(v)) + v


def enc_list(items: list, enc_item) -> bytes:
    return enc_u32(len(items)) + b"".join(enc_item(i) for i in items)


IDENT_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789._-")
IDENT_FIRST = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")
STAR = b"*"
OBSERVER = b"observer"    # the reserved read-only role (SPEC 3.2)


def check_ident(v: bytes, star_ok: bool = False) -> bytes:
    """ident: 1-64 bytes of a-z 0-9 . _ -, first a letter or digit; "*" only where allowed."""
    if star_ok and v == STAR:
        return v
    if not 1 <= len(v) <= 64:
        raise DecodeError(f"ident length {len(v)}")
    if v[0] not in IDENT_FIRST or any(c not in IDENT_CHARS for c in v):
        raise DecodeError(f"bad ident {v!r}")
    return v


def check_text(v: bytes, minimum: int) -> bytes:
    """text: valid UTF-8 of at least `minimum` bytes, no C0/C1 controls nor DEL (SPEC 2.1)."""
    if len(v) < minimum:
        raise DecodeError(f"text shorter than {minimum} bytes")
    try:
        s = v.decode("utf-8", errors="strict")   # rejects overlongs, surrogates, > U+10FFFF
    except UnicodeDecodeError as exc:
        raise DecodeError(f"invalid UTF-8: {exc}") from None
    for ch in s:
        o = ord(ch)
        if o <= 0x1F or 0x7F <= o <= 0x9F:
            raise DecodeError(f"forbidden character U+{o:04X} in text")
    return v


def check_ascending(items: list, what: str) -> None:
    """Strictly ascending: sorted, no duplicates (bytes compare bytewise, ints numerically)."""
    for a, b in zip(items, items[1:]):
        if not a < b:
            raise DecodeError(f"{what} not strictly ascending")


class Reader:
    """Bounded reader: every length/count is checked against its maximum before reading."""

    def __init__(self, data: bytes):
        self.data = bytes(data)
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise DecodeError("truncated input")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "big")

    def b32(self) -> bytes:
        return self.take(32)

    def bytes_(self, maximum: int) -> bytes:
        n = self.u32()
        if n > maximum:
            raise DecodeError(f"length {n} exceeds maximum {maximum}")
        return self.take(n)

    def text(self, minimum: int, maximum: int) -> bytes:
        return check_text(self.bytes_(maximum), minimum)

    def ident(self, star_ok: bool = False) -> bytes:
        return check_ident(self.bytes_(64), star_ok)

    def count(self, maximum: int) -> int:
        n = self.u32()
        if n > maximum:
            raise DecodeError(f"list count {n} exceeds maximum {maximum}")
        return n

    def ident_list(self, maximum: int, what: str, star_ok: bool = False) -> list[bytes]:
        items = [self.ident(star_ok) for _ in range(self.count(maximum))]
        check_ascending(items, what)
        return items

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def end(self) -> None:
        if self.remaining():
            raise DecodeError(f"{self.remaining()} trailing bytes")


# =============================================================================================
# SPEC 2.3 limits
# =============================================================================================

MAX_MEMBERS = 256
MAX_ROLES = 16            # roles per member, per rule list (role minimums, veto roles, halt roles)
MAX_OVERRIDES = 64
MAX_TITLE = 256
MAX_REASON = 1024
MAX_EVIDENCE = 32
MAX_EVIDENCE_NAME = 128
MAX_RESUME_HALTS = 64
MAX_ROSTER = 131072
MAX_SIGNED_ENTRY = 196608
MAX_DRILL_ENFORCERS = 256
MAX_DRILL_DEADLINE_MS = 86_400_000       # SPEC 3.1: deadline_ms 1000 ..= 86400000
MIN_DRILL_INTERVAL_MS = 60_000           # SPEC 3.1: interval_ms 0 or 60000 ..= 10 years
U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1


# =============================================================================================
# SPEC 3.1-3.3: roster content, decoding and consistency
# =============================================================================================

@dataclass
class Rule:
    min_yes: int
    role_minimums: list[tuple[bytes, int]]     # ascending by role, count >= 1
    veto_roles: list[bytes]                    # ascending
    window_ms: int                             # >= 1000


@dataclass
class Member:
    name: bytes
    public_key: bytes
    roles: list[bytes]


@dataclass
class DrillPolicy:
    """The `drill` production of SPEC 3.1 (format 3).  The defaults are the *default drill
    policy* that every roster of format 1 or 2 has: drills by those who may halt, every
    observer acknowledges, no schedule, a one-minute deadline."""
    roles: list[bytes] = field(default_factory=list)        # ascending; "*" = every member
    enforcers: list[bytes] = field(default_factory=list)    # ascending member names (observers)
    interval_ms: int = 0                                    # 0: no schedule
    deadline_ms: int = 60_000
    lapse_on_overdue: int = 0                               # u8: 0 or 1

    def is_default(self) -> bool:
        return self == DrillPolicy()


@dataclass
class AnonymousPolicy:
    """The `anonymous` production of SPEC 3.1 (format 4); the default (formats 1-3): none allowed."""
    per_period: int = 0
    period_ms: int = 2_592_000_000

    def is_default(self) -> bool:
        return self == AnonymousPolicy()


@dataclass
class Roster:
    lab: bytes
    version: int
    previous: bytes
    base_tier: int
    max_tier: int
    members: list[Member]
    advance: Rule
    advance_overrides: list[tuple[int, Rule]]
    halt_roles: list[bytes]
    resume: Rule
    amend: Rule
    amend_cooling_off_ms: int
    token_ttl_ms: int
    lapse_ms: int
    max_skew_ms: int
    min_attesters: int                         # freshness: attesters, distinct non-observers
    freshness_role_minimums: list[tuple[bytes, int]] = field(default_factory=list)
    format: int = 2                            # 1 is still read (SPEC 3.1); it has no role minimums
    drill: DrillPolicy = field(default_factory=DrillPolicy)    # formats 3 and 4; else the default
    anonymous: AnonymousPolicy = field(default_factory=AnonymousPolicy)    # format 4 only

    # -- derived -------------------------------------------------------------------------
    def content(self) -> bytes:
        return encode_roster(self)

    def hash(self) -> bytes:
        """H(u8(18) || "tiergate/v1/roster" || roster) (SPEC 3.1)."""
        return H(tagged(TAG_ROSTER, self.content()))

    def freshness(self) -> tuple[int, list[tuple[bytes, int]]]:
        """(min_attesters, role minimums) (SPEC 3.1); a format-1 roster's freshness_quorum q
        means (q, [])."""
        return self.min_attesters, list(self.freshness_role_minimums)

    def member_by_key(self, key: bytes) -> Member | None:
        for m in self.members:
            if m.public_key == key:
                return m
        return None

    def advance_rule(self, tier: int) -> Rule:
        """The override for the tier if any, else `advance` (SPEC 3.2)."""
        for t, rule in self.advance_overrides:
            if t == tier:
                return rule
        return self.advance

    def is_observer(self, key: bytes) -> bool:
        """A member holding the reserved role `observer` (SPEC 3.2): nothing it signs counts."""
        m = self.member_by_key(key)
        return m is not None and OBSERVER in m.roles

    def voters(self) -> int:
        """v of SPEC 3.3: the number of members that are not observers."""
        return sum(1 for m in self.members if OBSERVER not in m.roles)

    def may_halt(self, key: bytes) -> bool:
        """A member may halt alone when one of its roles, or "*", is a halt role (SPEC 3.2);
        an observer's halts have no authority, even with halt_roles = ["*"] (SPEC 3.2, 5.1)."""
        m = self.member_by_key(key)
        if m is None or OBSERVER in m.roles:
            return False
        return STAR in self.halt_roles or any(r in self.halt_roles for r in m.roles)

    def may_drill(self, key: bytes) -> bool:
        """A member may start a drill when it holds one of the drill roles or "*" is one; with
        no drill roles, when it may halt (SPEC 3.1, 3.2).  Never an observer (SPEC 5.8)."""
        m = self.member_by_key(key)
        if m is None or OBSERVER in m.roles:
            return False
        if not self.drill.roles:
            return self.may_halt(key)
        return STAR in self.drill.roles or any(r in self.drill.roles for r in m.roles)

    def halt_set(self) -> list[bytes]:
        """haltset(R) of SPEC 5.4: the keys, ascending, of members that are not observers and may halt."""
        return sorted(m.public_key for m in self.members if self.may_halt(m.public_key))

    def drill_enforcers(self) -> list[Member]:
        """E of SPEC 5.8: the members the drill policy names, or (none named) every observer;
        in name order.  Names that are no member are left out (an inconsistent roster)."""
        if not self.drill.enforcers:
            return [m for m in self.members if OBSERVER in m.roles]
        return [m for m in self.members if m.name in self.drill.enforcers]


def enc_role_minimums(minimums: list[tuple[bytes, int]]) -> bytes:
    """list<(ident role, u32 count)>(16): a rule's role minimums and freshness's (SPEC 3.1)."""
    return enc_list(minimums, lambda rc: enc_bytes(rc[0]) + enc_u32(rc[1]))


def encode_rule(r: Rule) -> bytes:
    return (enc_u32(r.min_yes)
            + enc_role_minimums(r.role_minimums)
            + enc_list(r.veto_roles, enc_bytes)
            + enc_u64(r.window_ms))


def encode_roster(r: Roster) -> bytes:
    out = [enc_u8(r.format), enc_bytes(r.lab), enc_u64(r.version), r.previous,
           enc_u32(r.base_tier), enc_u32(r.max_tier),
           enc_list(r.members, lambda m: enc_bytes(m.name) + m.public_key
                    + enc_list(m.roles, enc_bytes)),
           encode_rule(r.advance),
           enc_list(r.advance_overrides, lambda o: enc_u32(o[0]) + encode_rule(o[1])),
           enc_list(r.halt_roles, enc_bytes),
           encode_rule(r.resume), encode_rule(r.amend),
           enc_u64(r.amend_cooling_off_ms), enc_u64(r.token_ttl_ms), enc_u64(r.lapse_ms),
           enc_u64(r.max_skew_ms), encode_freshness(r), encode_drill(r), encode_anonymous(r)]
    return b"".join(out)


def encode_anonymous(r: Roster) -> bytes:
    """Format 4: u32 per_period || u64 period_ms after the drill policy; earlier formats carry none and have
    the default (SPEC 3.1)."""
    a = r.anonymous
    if r.format < 4:
        if not a.is_default():
            raise DecodeError(f"a format-{r.format} roster allows no anonymous halts")
        return b""
    return enc_u32(a.per_period) + enc_u64(a.period_ms)


def encode_drill(r: Roster) -> bytes:
    """Format 3: the drill policy after freshness.  Formats 1 and 2 carry none: they have the
    default drill policy, so one that differs has no encoding in them (SPEC 3.1)."""
    d = r.drill
    if r.format in (1, 2):
        if not d.is_default():
            raise DecodeError(f"a format-{r.format} roster has the default drill policy")
        return b""
    return (enc_list(d.roles, enc_bytes) + enc_list(d.enforcers, enc_bytes)
            + enc_u64(d.interval_ms) + enc_u64(d.deadline_ms) + enc_u8(d.lapse_on_overdue))


def encode_freshness(r: Roster) -> bytes:
    """Format 2: u32 min_attesters || role minimums.  Format 1: u32 freshness_quorum alone, so
    a format-1 roster cannot carry role minimums (SPEC 3.1)."""
    if r.format == 1:
        if r.freshness_role_minimums:
            raise DecodeError("a format-1 roster cannot carry freshness role minimums")
        return enc_u32(r.min_attesters)
    if r.format in (2, 3, 4):
        return enc_u32(r.min_attesters) + enc_role_minimums(r.freshness_role_minimums)
    raise DecodeError(f"roster format {r.format}")


def decode_role_minimums(rd: Reader, what: str) -> list[tuple[bytes, int]]:
    """list<(ident role, u32 count)>(16), ascending by role, count >= 1 (SPEC 3.1)."""
    minimums = []
    for _ in range(rd.count(MAX_ROLES)):
        role, n = rd.ident(), rd.u32()
        if n < 1:
            raise DecodeError(f"{what}: count < 1")
        minimums.append((role, n))
    check_ascending([r for r, _ in minimums], what)
    return minimums


def decode_rule(rd: Reader) -> Rule:
    min_yes = rd.u32()
    if min_yes < 1:
        raise DecodeError("rule min_yes < 1")
    minimums = decode_role_minimums(rd, "role minimums")
    veto = rd.ident_list(MAX_ROLES, "veto roles")
    window = rd.u64()
    if window < 1000:
        raise DecodeError("rule window_ms < 1000")
    if window > MAX_DURATION_MS:
        raise DecodeError("rule window_ms > 10 years")
    return Rule(min_yes, minimums, veto, window)


def decode_roster(content: bytes) -> Roster:
    """Decode roster content canonically and check its consistency (SPEC 3.1, 3.3).
    Raises DecodeError for anything that is not a consistent roster."""
    if len(content) > MAX_ROSTER:
        raise DecodeError("roster content exceeds 131072 bytes")
    rd = Reader(content)
    fmt = rd.u8()
    if fmt not in (1, 2, 3, 4):             # SPEC 3.1: formats 2, 3 and 4; format 1 is still read
        raise DecodeError(f"roster format {fmt}")
    lab = rd.ident()
    version = rd.u64()
    previous = rd.b32()
    base_tier, max_tier = rd.u32(), rd.u32()
    members = []
    for _ in range(rd.count(MAX_MEMBERS)):
        name, key = rd.ident(), rd.b32()
        roles = rd.ident_list(MAX_ROLES, "member roles")   # "*" is never a member role
        if not roles:
            raise DecodeError("member without roles")
        members.append(Member(name, key, roles))
    check_ascending([m.name for m in members], "members")
    advance = decode_rule(rd)
    overrides = []
    for _ in range(rd.count(MAX_OVERRIDES)):
        overrides.append((rd.u32(), decode_rule(rd)))
    check_ascending([t for t, _ in overrides], "advance overrides")
    halt_roles = rd.ident_list(MAX_ROLES, "halt roles", star_ok=True)
    resume, amend = decode_rule(rd), decode_rule(rd)
    cooling, ttl, lapse, skew = rd.u64(), rd.u64(), rd.u64(), rd.u64()
    min_attesters = rd.u32()                # format 1: freshness_quorum
    fresh_minimums = decode_role_minimums(rd, "freshness role minimums") if fmt >= 2 else []
    drill = DrillPolicy()                   # formats 1 and 2: the default drill policy
    if fmt >= 3:                            # SPEC 3.1: format 2 followed by `drill`
        drill_roles = rd.ident_list(MAX_ROLES, "drill roles", star_ok=True)   # "*" = every member
        enforcers = rd.ident_list(MAX_DRILL_ENFORCERS, "drill enforcers")
        interval, deadline, lapse_flag = rd.u64(), rd.u64(), rd.u8()
        if lapse_flag not in (0, 1):
            raise DecodeError(f"drill lapse_on_overdue {lapse_flag} is not 0 or 1")
        drill = DrillPolicy(drill_roles, enforcers, interval, deadline, lapse_flag)
    anonymous = AnonymousPolicy()
    if fmt == 4:                            # SPEC 3.1: format 3 followed by `anonymous`
        anonymous = AnonymousPolicy(rd.u32(), rd.u64())
    rd.end()
    roster = Roster(lab, version, previous, base_tier, max_tier, members, advance, overrides,
                    halt_roles, resume, amend, cooling, ttl, lapse, skew, min_attesters,
                    freshness_role_minimums=fresh_minimums, format=fmt, drill=drill, anonymous=anonymous)
    check_roster_consistency(roster)
    return roster


def check_roster_consistency(r: Roster) -> None:
    """SPEC 3.3 (plus the range annotations of 3.1); raises DecodeError when inconsistent."""
    n = len(r.members)
    if r.version < 1:
        raise DecodeError("roster version < 1")
    if (r.previous == ZERO32) != (r.version == 1):
        raise DecodeError("previous must be zero iff version = 1")
    if r.base_tier > r.max_tier:
        raise DecodeError("base_tier > max_tier")
    if not 1 <= n <= MAX_MEMBERS:
        raise DecodeError(f"{n} members")
    if len({m.name for m in r.members}) != n or len({m.public_key for m in r.members}) != n:
        raise DecodeError("member names or keys not distinct")
    for m in r.members:
        if not is_valid_point(m.public_key):
            raise DecodeError(f"member {m.name.decode()}: key is not a valid Ed25519 point")
        if STAR in m.roles:
            raise DecodeError("'*' as a member role")
        check_ascending(m.roles, "member roles")
        if OBSERVER in m.roles and m.roles != [OBSERVER]:
            raise DecodeError(f"member {m.name.decode()}: 'observer' together with other roles")
    v = r.voters()                  # SPEC 3.3: members that are not observers
    for role_list in [r.halt_roles] + [rule.veto_roles for rule in
                                       [r.advance, r.resume, r.amend]
                                       + [rule for _, rule in r.advance_overrides]]:
        check_ascending(role_list, "role list")
    for tier, _ in r.advance_overrides:
        if not r.base_tier < tier <= r.max_tier:
            raise DecodeError(f"advance override for tier {tier} outside (base, max]")
    for rule in [r.advance, r.resume, r.amend] + [rule for _, rule in r.advance_overrides]:
        if not 1 <= rule.min_yes <= v:
            raise DecodeError(f"min_yes {rule.min_yes} not in 1..{v} (members not observers)")
        if STAR in rule.veto_roles or any(role == STAR for role, _ in rule.role_minimums):
            raise DecodeError("'*' in a role minimum or veto list (only halt_roles may hold it)")
        if OBSERVER in rule.veto_roles or any(role == OBSERVER for role, _ in rule.role_minimums):
            raise DecodeError("'observer' in a role minimum or veto list")
        for role, count in rule.role_minimums:
            holders = sum(1 for m in r.members if role in m.roles)
            if count > holders:
                raise DecodeError(f"role minimum {role.decode()}={count} > {holders} holders")
    if not any(r.may_halt(m.public_key) for m in r.members):      # observers never may
        raise DecodeError("no member may halt")
    if not 1000 <= r.token_ttl_ms <= 86_400_000:
        raise DecodeError("token_ttl_ms out of range")
    if r.lapse_ms < r.token_ttl_ms:
        raise DecodeError("lapse_ms < token_ttl_ms")
    if r.max_skew_ms > 3_600_000:
        raise DecodeError("max_skew_ms > 3600000")
    if r.lapse_ms > MAX_DURATION_MS:
        raise DecodeError("lapse_ms > 10 years")
    if r.amend_cooling_off_ms > MAX_DURATION_MS:
        raise DecodeError("amend_cooling_off_ms > 10 years")
    if r.format not in (1, 2, 3, 4):
        raise DecodeError(f"roster format {r.format}")
    check_drill_consistency(r)
    a = r.anonymous                          # SPEC 3.1: format 4 only; per_period <= 16, period 1 h .. 10 years
    if r.format < 4 and not a.is_default():
        raise DecodeError(f"a format-{r.format} roster allows no anonymous halts")
    if r.format == 4 and (a.per_period > 16 or not 3_600_000 <= a.period_ms <= MAX_DURATION_MS):
        raise DecodeError("anonymous_halts out of range")
    if not 1 <= r.min_attesters <= v:
        raise DecodeError(f"min_attesters {r.min_attesters} not in 1..{v} "
                          "(members not observers)")
    fresh = list(r.freshness_role_minimums)
    if r.format == 1 and fresh:
        raise DecodeError("freshness role minimums in a format-1 roster")
    if len(fresh) > MAX_ROLES:
        raise DecodeError(f"{len(fresh)} freshness role minimums")
    check_ascending([role for role, _ in fresh], "freshness role minimums")
    for role, count in fresh:
        if role == STAR or role == OBSERVER:
            raise DecodeError(f"{role.decode()!r} in a freshness role minimum")
        if count < 1:
            raise DecodeError("freshness role minimum count < 1")
        holders = sum(1 for m in r.members if role in m.roles and OBSERVER not in m.roles)
        if count > holders:
            raise DecodeError(f"freshness role minimum {role.decode()}={count} > {holders} "
                              "holders (members not observers)")


def check_drill_consistency(r: Roster) -> None:
    """SPEC 3.3 for the drill policy, with the ranges of SPEC 3.1."""
    d = r.drill
    if r.format in (1, 2):
        if not d.is_default():
            raise DecodeError(f"a format-{r.format} roster with a drill policy other than the default")
        return
    if len(d.roles) > MAX_ROLES:
        raise DecodeError(f"{len(d.roles)} drill roles")
    if len(d.enforcers) > MAX_DRILL_ENFORCERS:
        raise DecodeError(f"{len(d.enforcers)} drill enforcers")
    check_ascending(d.roles, "drill roles")
    check_ascending(d.enforcers, "drill enforcers")
    if OBSERVER in d.roles:
        raise DecodeError("'observer' as a drill role (observers never start drills)")
    if d.roles and not any(r.may_drill(m.public_key) for m in r.members):
        raise DecodeError("drill roles given, but no member may start a drill")
    names = {m.name: m for m in r.members}
    for name in d.enforcers:
        if name not in names:
            raise DecodeError(f"drill enforcer {name.decode(errors='replace')!r} is not a member")
        if OBSERVER not in names[name].roles:
            raise DecodeError(f"drill enforcer {name.decode()!r} is not an observer")
    if d.interval_ms != 0 and not MIN_DRILL_INTERVAL_MS <= d.interval_ms <= MAX_DURATION_MS:
        raise DecodeError(f"drill interval_ms {d.interval_ms} not 0 nor in 60000..10 years")
    if not 1000 <= d.deadline_ms <= MAX_DRILL_DEADLINE_MS:
        raise DecodeError(f"drill deadline_ms {d.deadline_ms} not in 1000..86400000")
    if d.interval_ms != 0 and d.deadline_ms >= d.interval_ms:
        raise DecodeError("drill deadline_ms not below interval_ms")
    if d.lapse_on_overdue not in (0, 1):
        raise DecodeError(f"drill lapse_on_overdue {d.lapse_on_overdue} is not 0 or 1")
    if d.lapse_on_overdue and d.interval_ms == 0:
        raise DecodeError("drill lapse_on_overdue without an interval")
    if d.lapse_on_overdue and not r.drill_enforcers():
        raise DecodeError("drill lapse_on_overdue without an enforcer")


# =============================================================================================
# SPEC 4.1-4.2: entries
# =============================================================================================

PROPOSAL, VOTE, HALT, DRILL, DRILL_ACK, ANON_HALT = 1, 2, 3, 4, 5, 6
ADVANCE, RESUME, AMEND = 1, 2, 3
YES, NO, ABSTAIN = 1, 2, 3


@dataclass
class Entry:
    kind: int
    lab: bytes
    genesis: bytes
    roster_version: int
    author: bytes
    seq: int
    prev: bytes
    time: int
    # proposal
    action: int = 0
    tier: int = 0
    title: bytes = b""
    evidence: list[tuple[bytes, bytes]] = field(default_factory=list)
    closes_at: int = 0
    halts: list[bytes] = field(default_factory=list)
    roster_bytes: bytes = b""
    roster: Roster | None = None          # decoded amendment roster
    # vote
    proposal: bytes = b""
    choice: int = 0
    # vote, halt, drill
    reason: bytes = b""
    # drill acknowledgement (DRILL-ACK)
    drill: bytes = b""                    # the drill's id
    received_at: int = 0
    stopped_at: int = 0
    jobs: int = 0
    canary: int = 0                       # 0 none, 1 stopped, 2 failed
    # anonymous halt (author = key image)
    period: int = 0
    slot: int = 0
    ring: list[bytes] = field(default_factory=list)
    # signed form
    signature: bytes = b""
    format: int = 1

    def content(self) -> bytes:
        return encode_entry(self)

    def message(self) -> bytes:
        """m = u8(17) || "tiergate/v1/entry" || entry (SPEC 4.2)."""
        return tagged(TAG_ENTRY, self.content())

    @property
    def id(self) -> bytes:
        """The entry id H(m); it does not cover the signature (SPEC 4.2)."""
        cached = self.__dict__.get("_id")
        if cached is None:
            cached = self.__dict__["_id"] = H(self.message())
        return cached


def encode_entry(e: Entry) -> bytes:
    head = (enc_u8(e.format) + enc_u8(e.kind) + enc_bytes(e.lab) + e.genesis
            + enc_u64(e.roster_version) + e.author + enc_u64(e.seq) + e.prev + enc_u64(e.time))
    if e.kind == PROPOSAL:
        body = (enc_u8(e.action) + enc_u32(e.tier) + enc_bytes(e.title)
                + enc_list(e.evidence, lambda ev: enc_bytes(ev[0]) + ev[1])
                + enc_u64(e.closes_at) + enc_list(e.halts, lambda h: h)
                + enc_bytes(e.roster_bytes))
    elif e.kind == VOTE:
        body = e.proposal + enc_u8(e.choice) + enc_bytes(e.reason)
    elif e.kind == DRILL_ACK:
        body = (e.drill + enc_u64(e.received_at) + enc_u64(e.stopped_at) + enc_u32(e.jobs)
                + enc_u8(e.canary))
    elif e.kind == ANON_HALT:
        body = enc_u64(e.period) + enc_u32(e.slot) + enc_list(e.ring, lambda k: k) + enc_bytes(e.reason)
    else:                                 # halt, drill
        body = enc_bytes(e.reason)
    return head + body


def read_entry(rd: Reader) -> Entry:
    """Parse the `entry` production of SPEC 4.1 (without the signature)."""
    fmt = rd.u8()
    if fmt != 1:
        raise DecodeError(f"entry format {fmt}")
    kind = rd.u8()
    if kind not in (PROPOSAL, VOTE, HALT, DRILL, DRILL_ACK, ANON_HALT):
        raise DecodeError(f"entry kind {kind}")
    lab = rd.ident()
    genesis = rd.b32()
    roster_version = rd.u64()
    if roster_version < 1:
        raise DecodeError("roster_version < 1")
    author = rd.b32()
    seq = rd.u64()
    prev = rd.b32()
    if kind in (DRILL_ACK, ANON_HALT):     # SPEC 4.1: in no feed
        if seq != 0 or prev != ZERO32:
            raise DecodeError("a DRILL-ACK or anonymous halt has seq 0 and prev zero")
    else:
        if seq < 1:
            raise DecodeError("seq < 1")
        if (prev == ZERO32) != (seq == 1):
            raise DecodeError("prev must be zero iff seq = 1")
    time = rd.u64()
    e = Entry(kind, lab, genesis, roster_version, author, seq, prev, time, format=fmt)
    if kind == PROPOSAL:
        e.action = rd.u8()
        if e.action not in (ADVANCE, RESUME, AMEND):
            raise DecodeError(f"proposal action {e.action}")
        e.tier = rd.u32()
        if e.action == AMEND and e.tier != 0:
            raise DecodeError("amend proposal with tier != 0")
        e.title = rd.text(1, MAX_TITLE)
        for _ in range(rd.count(MAX_EVIDENCE)):
            e.evidence.append((rd.text(1, MAX_EVIDENCE_NAME), rd.b32()))
        e.closes_at = rd.u64()
        if not e.closes_at > e.time:
            raise DecodeError("closes_at <= time")
        e.halts = [rd.b32() for _ in range(rd.count(MAX_RESUME_HALTS))]
        check_ascending(e.halts, "resume halts")
        if (e.action == RESUME) != bool(e.halts):
            raise DecodeError("halts must be non-empty exactly for resume proposals")
        e.roster_bytes = rd.bytes_(MAX_ROSTER)
        if e.action == AMEND:
            e.roster = decode_roster(e.roster_bytes)      # must be a consistent roster
        elif e.roster_bytes:
            raise DecodeError("roster must be empty unless amend")
    elif kind == VOTE:
        e.proposal = rd.b32()
        e.choice = rd.u8()
        if e.choice not in (YES, NO, ABSTAIN):
            raise DecodeError(f"vote choice {e.choice}")
        e.reason = rd.text(0, MAX_REASON)
    elif kind == DRILL_ACK:
        e.drill = rd.b32()
        e.received_at, e.stopped_at = rd.u64(), rd.u64()
        if e.stopped_at < e.received_at:
            raise DecodeError("DRILL-ACK stopped_at < received_at")
        e.jobs = rd.u32()
        e.canary = rd.u8()
        if e.canary not in (0, 1, 2):
            raise DecodeError(f"DRILL-ACK canary {e.canary}")
    elif kind == ANON_HALT:
        e.period, e.slot = rd.u64(), rd.u32()
        if e.slot >= 16:
            raise DecodeError(f"anonymous halt slot {e.slot} >= 16")
        e.ring = [rd.b32() for _ in range(rd.count(256))]
        if not e.ring:
            raise DecodeError("anonymous halt with an empty ring")
        check_ascending(e.ring, "anonymous halt ring")
        e.reason = rd.text(1, MAX_REASON)
    else:                                 # halt, drill: text(1,1024) reason
        e.reason = rd.text(1, MAX_REASON)
    return e


def decode_entry(content: bytes) -> Entry:
    """Decode entry content (no signature), rejecting trailing bytes."""
    rd = Reader(content)
    e = read_entry(rd)
    rd.end()
    return e


def decode_signed_entry(data: bytes) -> Entry:
    """Decode `entry || signature`: parse the entry exactly, then exactly 64 bytes (SPEC 4.2)."""
    if len(data) > MAX_SIGNED_ENTRY:
        raise DecodeError("signed entry exceeds 196608 bytes")
    rd = Reader(data)
    e = read_entry(rd)
    want = 32 * (len(e.ring) + 1) if e.kind == ANON_HALT else 64     # a ring signature (SPEC 2.5, 4.2)
    if rd.remaining() != want:
        raise DecodeError(f"{rd.remaining()} bytes after the entry, expected a {want}-byte signature")
    e.signature = rd.take(want)
    return e


def entry_valid_for(e: Entry, lab: bytes, genesis_hash: bytes) -> str | None:
    """SPEC 4.2 'valid for a lab' (decoding already done).  Returns a problem or None."""
    if e.kind == ANON_HALT:
        if not ring_verify(e.message(), e.ring, e.author, e.signature, e.genesis, e.period, e.slot):
            return "ring signature does not verify"
    elif not ed25519_verify(e.author, e.message(), e.signature):
        return "signature does not verify"
    if e.lab != lab:
        return "entry for another lab"
    if e.genesis != genesis_hash:
        return "entry for another genesis roster"
    return None


# =============================================================================================
# SPEC 3.4: roster file (strict JSON) and founder signatures
# =============================================================================================

class NotARoster(Exception):
    """The file is not a roster file (the CLI's exit status 2)."""


def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise NotARoster(f"duplicate JSON key {k!r}")
        obj[k] = v
    return obj


def _reject_constant(name):
    raise NotARoster(f"non-JSON constant {name}")


def strict_json(text: str):
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


DURATION = re.compile(r"([0-9]+)(ms|s|m|h|d)")
UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
HEX64 = re.compile(r"[0-9a-fA-F]{64}")
HEX128 = re.compile(r"[0-9a-fA-F]{128}")


def _obj(v, what: str, allowed: set[str], required: set[str] = frozenset()) -> dict:
    if not isinstance(v, dict):
        raise NotARoster(f"{what} is not an object")
    unknown = set(v) - allowed
    if unknown:
        raise NotARoster(f"unknown field(s) {sorted(unknown)} in {what}")
    missing = set(required) - set(v)
    if missing:
        raise NotARoster(f"missing field(s) {sorted(missing)} in {what}")
    return v


def _int(v, what: str, maximum: int) -> int:
    if type(v) is not int or not 0 <= v <= maximum:
        raise NotARoster(f"{what} is not an integer in 0..{maximum}")
    return v


def _duration(v, what: str) -> int:
    m = DURATION.fullmatch(v) if isinstance(v, str) else None
    if m is None:
        raise NotARoster(f"{what}: bad duration {v!r}")
    ms = int(m.group(1)) * UNIT_MS[m.group(2)]
    if ms > U64_MAX:
        raise NotARoster(f"{what}: duration too large")
    return ms


def _ident(v, what: str, star_ok: bool = False) -> bytes:
    if not isinstance(v, str):
        raise NotARoster(f"{what} is not a string")
    try:
        return check_ident(v.encode("ascii"), star_ok)
    except (UnicodeEncodeError, DecodeError):
        raise NotARoster(f"{what}: bad ident {v!r}") from None


def _ident_set(v, what: str) -> list[bytes]:
    """A JSON list of role idents in any order; sorted for the canonical encoding (SPEC 3.4).
    A duplicate, or a "*" outside halt_roles, is kept: it makes the roster inconsistent (the
    consistency check rejects it), it does not make the file "not a roster"."""
    if not isinstance(v, list):
        raise NotARoster(f"{what} is not a list")
    return sorted(_ident(x, what, star_ok=True) for x in v)


def _json_role_minimums(minimums, what: str) -> list[tuple[bytes, int]]:
    """A "role_minimums" object {role: count} (a rule's or freshness's), sorted by role; a "*"
    is kept (it makes the roster inconsistent, like "*" in a role list)."""
    if not isinstance(minimums, dict):
        raise NotARoster(f"{what}.role_minimums is not an object")
    return sorted((_ident(k, f"{what}.role_minimums", star_ok=True),
                   _int(c, f"{what}.role_minimums.{k}", U32_MAX))
                  for k, c in minimums.items())


def _json_rule(v, what: str, default_min_yes: int) -> Rule:
    v = _obj(v, what, {"min_yes", "role_minimums", "veto_roles", "window"})
    return Rule(
        min_yes=_int(v.get("min_yes", default_min_yes), f"{what}.min_yes", U32_MAX),
        role_minimums=_json_role_minimums(v.get("role_minimums", {}), what),
        veto_roles=_ident_set(v.get("veto_roles", []), f"{what}.veto_roles"),
        window_ms=_duration(v.get("window", "7d"), f"{what}.window"))


ROSTER_FILE_FORMATS = {"tiergate-roster-v1": 1, "tiergate-roster-v2": 2,     # SPEC 3.4
                       "tiergate-roster-v3": 3, "tiergate-roster-v4": 4}


def _json_anonymous(v) -> AnonymousPolicy:
    """The `anonymous_halts` object of a "tiergate-roster-v4" policy (SPEC 3.4): both fields optional."""
    d = _obj(v, "anonymous_halts", {"per_period", "period"})
    default = AnonymousPolicy()
    return AnonymousPolicy(
        per_period=_int(d.get("per_period", default.per_period), "anonymous_halts.per_period", U32_MAX),
        period_ms=(_duration(d["period"], "anonymous_halts.period") if "period" in d else default.period_ms))


def _json_drill(v) -> DrillPolicy:
    """The `drill` object of a "tiergate-roster-v3" policy (SPEC 3.4): every field optional,
    with the defaults of SPEC 3.1.  Role and enforcer lists in any order (sorted here; a
    duplicate, an enforcer that is no observer member, or "observer" as a role makes the roster
    inconsistent, not "not a roster"); lapse_on_overdue is a JSON boolean."""
    d = _obj(v, "drill", {"roles", "enforcers", "interval", "deadline", "lapse_on_overdue"})
    default = DrillPolicy()
    flag = d.get("lapse_on_overdue", False)
    if type(flag) is not bool:
        raise NotARoster("drill.lapse_on_overdue is not true or false")
    return DrillPolicy(
        roles=_ident_set(d.get("roles", []), "drill.roles"),
        enforcers=_ident_set(d.get("enforcers", []), "drill.enforcers"),
        interval_ms=(_duration(d["interval"], "drill.interval") if "interval" in d
                     else default.interval_ms),
        deadline_ms=(_duration(d["deadline"], "drill.deadline") if "deadline" in d
                     else default.deadline_ms),
        lapse_on_overdue=int(flag))


def roster_from_json(doc, fmt: int = 2) -> Roster:
    """Decode the "roster" object of a roster file into a Roster of format `fmt` (1 for a
    "tiergate-roster-v1" file, 2 for "tiergate-roster-v2", 3 for "tiergate-roster-v3"; not
    yet checked).  Omitted policy fields take the SPEC 3.4 defaults.  The freshness field is
    `freshness_quorum` (an integer, default 1) in format 1 and `freshness` ({"min_attesters": N,
    "role_minimums": {...}}, default min_attesters 2 when there are at least 2 voters, else 1)
    in formats 2 and 3; format 3 adds the `drill` object (default: the default drill policy).
    Another format's field is an unknown field.  The carrier names the roster format: a v3 file
    is a format-3 roster even when its drill policy is the default."""
    r = _obj(doc, "roster", {"lab", "version", "previous", "base_tier", "max_tier", "members",
                             "policy"},
             {"lab", "version", "previous", "base_tier", "max_tier", "members"})
    members = []
    if not isinstance(r["members"], list):
        raise NotARoster("members is not a list")
    for i, m in enumerate(r["members"]):
        m = _obj(m, f"members[{i}]", {"name", "public_key", "roles"},
                 {"name", "public_key", "roles"})
        if not isinstance(m["public_key"], str) or not HEX64.fullmatch(m["public_key"]):
            raise NotARoster(f"members[{i}].public_key is not 64 hex digits")
        members.append(Member(_ident(m["name"], f"members[{i}].name"),
                              bytes.fromhex(m["public_key"]),
                              _ident_set(m["roles"], f"members[{i}].roles")))
    members.sort(key=lambda m: m.name)
    n = sum(1 for m in members if b"observer" not in m.roles)   # default quorums count voters (SPEC 3.4)
    majority, two_thirds = n // 2 + 1, -(-2 * n // 3)
    fresh_field = "freshness_quorum" if fmt == 1 else "freshness"
    p = _obj(r.get("policy", {}), "policy",
             {"advance", "advance_overrides", "halt_roles", "resume", "amend",
              "amend_cooling_off", "token_ttl", "lapse", "max_skew", fresh_field}
             | ({"drill"} if fmt >= 3 else set()) | ({"anonymous_halts"} if fmt == 4 else set()))
    if fmt == 1:
        min_attesters = _int(p.get("freshness_quorum", 1), "freshness_quorum", U32_MAX)
        fresh_minimums = []
    else:
        f = _obj(p.get("freshness", {"min_attesters": 2 if n >= 2 else 1}), "freshness",
                 {"min_attesters", "role_minimums"}, {"min_attesters"})
        min_attesters = _int(f["min_attesters"], "freshness.min_attesters", U32_MAX)
        fresh_minimums = _json_role_minimums(f.get("role_minimums", {}), "freshness")
    advance = _json_rule(p.get("advance", {}), "advance", majority)
    overrides_obj = p.get("advance_overrides", {})
    if not isinstance(overrides_obj, dict):
        raise NotARoster("advance_overrides is not an object")
    overrides = []
    for k, rule in overrides_obj.items():
        if not re.fullmatch(r"[0-9]+", k) or int(k) > U32_MAX:
            raise NotARoster(f"advance_overrides key {k!r} is not a tier")
        overrides.append((int(k), _json_rule(rule, f"advance_overrides.{k}", majority)))
    if len({t for t, _ in overrides}) != len(overrides):
        raise NotARoster("duplicate advance override tier")
    overrides.sort(key=lambda o: o[0])
    if not isinstance(r["previous"], str) or not HEX64.fullmatch(r["previous"]):
        raise NotARoster("previous is not 64 hex digits")
    return Roster(
        lab=_ident(r["lab"], "lab"),
        version=_int(r["version"], "version", U64_MAX),
        previous=bytes.fromhex(r["previous"]),
        base_tier=_int(r["base_tier"], "base_tier", U32_MAX),
        max_tier=_int(r["max_tier"], "max_tier", U32_MAX),
        members=members,
        advance=advance,
        advance_overrides=overrides,
        halt_roles=_ident_set(p.get("halt_roles", ["*"]), "halt_roles"),
        resume=_json_rule(p.get("resume", {}), "resume", majority),
        amend=_json_rule(p.get("amend", {}), "amend", two_thirds),
        amend_cooling_off_ms=_duration(p.get("amend_cooling_off", "0s"), "amend_cooling_off"),
        token_ttl_ms=_duration(p.get("token_ttl", "10m"), "token_ttl"),
        lapse_ms=_duration(p.get("lapse", "30d"), "lapse"),
        max_skew_ms=_duration(p.get("max_skew", "2m"), "max_skew"),
        min_attesters=min_attesters,
        freshness_role_minimums=fresh_minimums,
        format=fmt,
        drill=_json_drill(p["drill"]) if "drill" in p else DrillPolicy(),
        anonymous=_json_anonymous(p["anonymous_halts"]) if "anonymous_halts" in p else AnonymousPolicy())


@dataclass
class RosterFile:
    roster: Roster
    hash: bytes
    trusted: bool
    problems: list[str]


def load_roster_file(text: str) -> RosterFile:
    """Read a genesis roster file and decide whether it is trusted (SPEC 3.4): every founder
    signed the tagged canonical roster message, there is no other signature, and the roster
    is consistent.  Raises NotARoster when the file is not a roster file at all."""
    try:
        doc = strict_json(text)
    except json.JSONDecodeError as exc:
        raise NotARoster(f"invalid JSON: {exc}") from None
    doc = _obj(doc, "roster file", {"format", "roster", "signatures"}, {"format", "roster"})
    fmt = ROSTER_FILE_FORMATS.get(doc["format"]) if isinstance(doc["format"], str) else None
    if fmt is None:
        raise NotARoster(f"format {doc['format']!r}")
    roster = roster_from_json(doc["roster"], fmt)
    sigs = doc.get("signatures", [])
    if not isinstance(sigs, list):
        raise NotARoster("signatures is not a list")
    parsed = []
    for i, s in enumerate(sigs):
        s = _obj(s, f"signatures[{i}]", {"member", "signature"}, {"member", "signature"})
        if not isinstance(s["signature"], str) or not HEX128.fullmatch(s["signature"]):
            raise NotARoster(f"signatures[{i}].signature is not 128 hex digits")
        parsed.append((_ident(s["member"], f"signatures[{i}].member"),
                       bytes.fromhex(s["signature"])))

    problems = []
    content = encode_roster(roster)
    try:
        decode_roster(content)              # same checks as for any roster content
    except DecodeError as exc:
        problems.append(f"roster is inconsistent: {exc}")
    message = tagged(TAG_ROSTER, content)
    by_name = {m.name: m for m in roster.members}
    signed = set()
    for name, sig in parsed:
        if name not in by_name:
            problems.append(f"signature by non-member {name.decode()}")
        elif name in signed:
            problems.append(f"second signature by {name.decode()}")
        elif not ed25519_verify(by_name[name].public_key, message, sig):
            problems.append(f"invalid signature by {name.decode()}")
        signed.add(name)
    for name in by_name:
        if name not in signed:
            problems.append(f"missing signature by founder {name.decode()}")
    return RosterFile(roster, H(message), not problems, problems)


# =============================================================================================
# SPEC 5: the decision rule
# =============================================================================================

INF = float("inf")


@dataclass
class Version:
    roster: Roster
    hash: bytes
    start: int                     # in force from this time (ms)


@dataclass
class DrillAckReport:
    """One acknowledgement of a drill as SPEC 5.6 / 5.8 report it."""
    id: bytes
    member: str
    key: bytes
    time: int
    received_at: int
    stopped_at: int
    jobs: int
    canary: int
    latency_ms: int                # stopped_at - drill time, 0 when negative
    on_time: bool                  # stopped_at <= the drill's deadline
    expected: bool                 # the acknowledger is one of the drill's enforcers E


@dataclass
class DrillReport:
    """A drill that counts (SPEC 5.8), at the verdict's time."""
    id: bytes
    member: str
    time: int
    deadline: int
    state: str                     # "pending", "succeeded" or "failed"
    missing: list[str]             # enforcers without an on-time acknowledgement, by name
    acks: list[DrillAckReport]     # by member name (then id)


@dataclass
class Verdict:
    authorized_tier: int
    halted: bool
    tier: int
    base_tier: int
    roster_version: int
    active_halts: list[bytes]
    passed: dict[bytes, int]       # proposal id -> pass time (proposals that passed)
    equivocations: list[bytes]     # keys with EVIDENCE against them that are on a roster version
    authorized_since: int | None = None
    lapses_at: int | None = None
    drills: list[DrillReport] = field(default_factory=list)     # oldest first (time, id)
    drill_interval_ms: int = 0     # the schedule (SPEC 5.8) of the roster in force; 0: none
    drill_last_success: int | None = None
    drill_due_at: int | None = None
    drill_overdue: bool = False


class DecisionRule:
    """verdict(G, E, now) of SPEC 5.

    `entries` are valid entries for the lab (SPEC 4.2); `connected` holds the ids of the
    entries whose feed is complete and linked from seq 1 (SPEC 4.3); `equivocators` holds the
    keys with equivocation evidence against them.
    """

    def __init__(self, genesis: Roster, entries: list[Entry], connected: set[bytes],
                 equivocators: set[bytes]):
        self.genesis = genesis
        self.equivocators = equivocators
        unique = {e.id: e for e in entries}
        # SPEC 5.1: proposals and votes count only when connected; halts wherever seen,
        # once per id (SPEC 6.3).
        self.proposals = [e for i, e in unique.items() if e.kind == PROPOSAL and i in connected]
        self.halts = [e for e in unique.values() if e.kind in (HALT, ANON_HALT)]
        # SPEC 5.1: drills count only when connected; DRILL-ACKs wherever seen, one per
        # (drill, acknowledger): the one with the smallest (time, id).
        self.drills = [e for i, e in unique.items() if e.kind == DRILL and i in connected]
        self.acks: dict[bytes, dict[bytes, Entry]] = {}      # drill id -> author -> DRILL-ACK
        for e in unique.values():
            if e.kind == DRILL_ACK:
                mine = self.acks.setdefault(e.drill, {})
                old = mine.get(e.author)
                if old is None or (e.time, e.id) < (old.time, old.id):
                    mine[e.author] = e
        # SPEC 5.1: a member's binding vote on a proposal is its vote with the lowest seq
        # there; later votes on the same proposal are ignored.  It is chosen here, before any
        # counting test (window, horizon, roster version): a binding vote that then does not
        # count is not replaced by a later vote of the same member.
        binding: dict[tuple[bytes, bytes], Entry] = {}
        for e in unique.values():
            if e.kind == VOTE and e.id in connected:
                key = (e.proposal, e.author)
                old = binding.get(key)
                if old is None or (e.seq, e.id) < (old.seq, old.id):
                    binding[key] = e
        self.votes_on: dict[bytes, list[Entry]] = {}
        for (pid, _), vote in binding.items():
            self.votes_on.setdefault(pid, []).append(vote)

    def member_name(self, key: bytes) -> str:
        """A member's name on a roster version of the last verdict's chain (else the key)."""
        for version in reversed(getattr(self, "chain", [Version(self.genesis, b"", 0)])):
            m = version.roster.member_by_key(key)
            if m is not None:
                return m.name.decode()
        return key.hex()

    # -- roster versions (SPEC 5.2) ------------------------------------------------------------
    @staticmethod
    def version_at(chain: list[Version], t: int) -> Version:
        """The version in force at t: the highest version whose start is strictly before t;
        version 1 starts at 0 and at a start instant the previous version is still in force."""
        best = chain[0]
        for v in chain[1:]:
            if v.start < t:
                best = v
        return best

    def fits(self, e: Entry, chain: list[Version]) -> bool:
        """An entry fits when its roster_version is the version in force at its time and its
        author is a member of that version (SPEC 5.2); a proposal whose author is an observer
        in that version does not fit (SPEC 5.1)."""
        v = self.version_at(chain, e.time)
        if v.roster.version != e.roster_version or v.roster.member_by_key(e.author) is None:
            return False
        return not (e.kind == PROPOSAL and v.roster.is_observer(e.author))

    def rule_of(self, p: Entry, roster: Roster) -> Rule:
        if p.action == ADVANCE:
            return roster.advance_rule(p.tier)
        return roster.resume if p.action == RESUME else roster.amend

    # -- passing (SPEC 5.3) --------------------------------------------------------------------
    def pass_time(self, p: Entry, chain: list[Version], horizon: int) -> int | None:
        """When proposal p (fitting, time <= horizon) passes, or None."""
        vi = p.roster_version - 1
        version = chain[vi]
        roster = version.roster
        # start(v+1) if version v+1 exists (while v+1 is being chosen, it does not yet)
        next_start = chain[vi + 1].start if vi + 1 < len(chain) else INF
        rule = self.rule_of(p, roster)
        close = min(p.closes_at, p.time + rule.window_ms)
        counted = []
        for vote in self.votes_on.get(p.id, []):
            if (roster.member_by_key(vote.author) is not None
                    and not roster.is_observer(vote.author)     # SPEC 5.1, 5.3
                    and vote.author not in self.equivocators
                    and vote.roster_version == roster.version
                    and p.time <= vote.time <= close
                    and vote.time <= next_start
                    and vote.time <= horizon
                    and self.fits(vote, chain)):
                counted.append(vote)
        counted.sort(key=lambda v: (v.time, v.author))
        yes: set[bytes] = set()
        for vote in counted:
            roles = roster.member_by_key(vote.author).roles
            if vote.choice == YES:
                yes.add(vote.author)
            elif vote.choice == NO and any(r in rule.veto_roles for r in roles):
                return None                         # vetoed: never passes
            if len(yes) >= rule.min_yes and all(
                    sum(1 for k in yes if role in roster.member_by_key(k).roles) >= n
                    for role, n in rule.role_minimums):
                return vote.time
        return None

    def counts(self, p: Entry, chain: list[Version], horizon: int) -> bool:
        return p.time <= horizon and self.fits(p, chain)

    # -- the verdict ------------------------------------------------------------------------
    def verdict(self, now: int) -> Verdict:
        g = self.genesis
        chain = [Version(g, g.hash(), 0)]
        # SPEC 5.2: build the version chain (versions whose start is <= now).  SPEC 5: the
        # horizon is now + max_skew_ms of the genesis roster while the chain is built and, after
        # each version is added to the chain, of that version -- so in the end of the last
        # version of the chain, even one starting exactly at now (not yet in force).
        while True:
            cur = chain[-1]
            horizon = now + cur.roster.max_skew_ms
            best = None
            for p in self.proposals:
                new = p.roster
                if (p.action != AMEND or p.roster_version != cur.roster.version
                        or not self.counts(p, chain, horizon)
                        or new.version != cur.roster.version + 1
                        or new.previous != cur.hash or new.lab != cur.roster.lab):
                    continue
                t = self.pass_time(p, chain, horizon)
                if t is not None and (best is None or (t, p.id) < best[:2]):
                    best = (t, p.id, p)
            if best is None:
                break
            start = best[0] + cur.roster.amend_cooling_off_ms
            if start >= now:
                break                                       # pending (SPEC 5.2: in force only if < now)
            chain.append(Version(best[2].roster, best[2].roster.hash(), start))
        self.chain = chain
        in_force = self.version_at(chain, now).roster
        horizon = now + chain[-1].roster.max_skew_ms

        # SPEC 5.5: events (time, order, id, payload)
        events = []
        counted_halts = set()
        def halt_counts(h: Entry) -> bool:
            """SPEC 5.4: its author may halt under the version in force at its time and under the version
            it names, which is not later than that one."""
            cur = self.version_at(chain, h.time).roster
            if h.kind == ANON_HALT:
                return anonymous_halt_counts(h, cur, chain)
            if not 1 <= h.roster_version <= cur.version or not cur.may_halt(h.author):
                return False
            return chain[h.roster_version - 1].roster.may_halt(h.author)

        def anonymous_halt_counts(h: Entry, cur: Roster, chain) -> bool:
            """SPEC 5.4, anonymous halts: the named version v is in force by its time (v <= C); v and C
            allow anonymous halts; the slot is below v's per_period and the period is its time's under v;
            the ring is exactly haltset(v), and every key of it is in haltset(C)."""
            if not 1 <= h.roster_version <= cur.version:
                return False
            named = chain[h.roster_version - 1].roster
            a = named.anonymous
            if a.per_period < 1 or cur.anonymous.per_period < 1 or h.slot >= a.per_period:
                return False
            if h.period != h.time // a.period_ms:
                return False
            still = set(cur.halt_set())
            return h.ring == named.halt_set() and all(k in still for k in h.ring)

        for h in self.halts:                                # SPEC 5.4: whatever its date
            if halt_counts(h):
                events.append((min(h.time, horizon), 0, h.id, h))
                counted_halts.add(h.id)
        for v in chain[1:]:                 # order 4: after everything else at that instant
            events.append((v.start, 4, v.hash, v))
        passed = {}
        for p in self.proposals:                # amendments are the activations above
            if p.action != AMEND and self.counts(p, chain, horizon):
                t = self.pass_time(p, chain, horizon)
                if t is None:
                    continue
                passed[p.id] = t
                events.append((t, 2 if p.action == RESUME else 3, p.id, p))
        events.sort(key=lambda ev: ev[:3])

        # SPEC 5.5: replay
        roster = g
        tier, since = g.base_tier, None
        active: dict[bytes, int] = {}
        replayed: set[bytes] = set()
        resolved_ahead: set[bytes] = set()           # named by a resume before their replay time

        def lapse(t: int) -> None:
            nonlocal tier, since
            if tier > roster.base_tier and since is not None and since + roster.lapse_ms <= t:
                tier, since = roster.base_tier, None

        for t, order, _, ev in events:
            lapse(t)
            if order == 4:                                  # activation
                roster = ev.roster
                tier, since = activate(tier, since, roster)
            elif order == 0:                                # halt
                replayed.add(ev.id)
                if ev.id in resolved_ahead:
                    continue
                active[ev.id] = tier
                tier, since = roster.base_tier, None
            elif order == 3:                                # advance to T
                target = ev.tier
                if active:
                    pass
                elif target == tier + 1 and target <= roster.max_tier:
                    tier, since = target, t
                elif target == tier and target > roster.base_tier:
                    since = t                               # re-affirmed
            else:                                           # resume
                struck = [active.pop(h) for h in ev.halts if h in active]
                resolved_ahead.update(h for h in ev.halts
                                      if h in counted_halts and h not in replayed)
                if struck and not active:
                    tier = max(roster.base_tier, min(ev.tier, max(struck), roster.max_tier))
                    since = t if tier > roster.base_tier else None
        lapse(now)
        # The authorised tier is the base of the version in force at now if halted.
        # SPEC 6.4: frames by keys on no roster version are ignored, equivocation included.
        on_roster = sorted(k for k in self.equivocators
                           if any(v.roster.member_by_key(k) for v in chain))
        authorized = in_force.base_tier if active else tier
        since_now = since if authorized > in_force.base_tier else None
        lapses_at = since_now + in_force.lapse_ms if since_now is not None else None
        verdict = Verdict(authorized, bool(active), tier, in_force.base_tier, in_force.version,
                          sorted(active), passed, on_roster, since_now, lapses_at,
                          self.drill_reports(chain, now, horizon))

        # SPEC 5.8 schedule, applied after the replay, with R the roster in force at now.
        policy = in_force.drill
        if policy.interval_ms:
            successes = [d.time for d in verdict.drills if d.state == "succeeded"]
            last = max(successes) if successes else None
            due = last + policy.interval_ms if last is not None else None
            overdue = due is None or now >= due
            verdict.drill_interval_ms = policy.interval_ms
            verdict.drill_last_success, verdict.drill_due_at = last, due
            verdict.drill_overdue = overdue
            if policy.lapse_on_overdue:
                if overdue:            # suspended: R's base tier, no since, no lapse; not halted
                    verdict.authorized_tier = in_force.base_tier
                    verdict.authorized_since = verdict.lapses_at = None
                elif verdict.lapses_at is not None:
                    verdict.lapses_at = min(verdict.lapses_at, due)
        return verdict

    # -- drills (SPEC 5.8) ----------------------------------------------------------------------
    def drill_reports(self, chain: list[Version], now: int, horizon: int) -> list[DrillReport]:
        """Every drill that counts, oldest first, with its acknowledgements and state."""
        out = []
        for d in sorted(self.drills, key=lambda e: (e.time, e.id)):
            # D counts when connected (the constructor), D.time <= horizon, it fits (its
            # roster_version is the version R in force at its time) and its author may start
            # drills under R (never an observer).
            r = self.version_at(chain, d.time).roster
            if d.time > horizon or d.roster_version != r.version or not r.may_drill(d.author):
                continue
            deadline = d.time + r.drill.deadline_ms
            enforcers = r.drill_enforcers()
            enforcer_keys = {m.public_key for m in enforcers}
            acks = []
            for a in self.acks.get(d.id, {}).values():
                # A DRILL-ACK counts when A.time <= horizon and its author is on a roster
                # version (SPEC 6.4: G or a version of the chain).
                if a.time > horizon or not any(v.roster.member_by_key(a.author) for v in chain):
                    continue
                # SPEC 5.8: the name in the newest roster version that names the key.
                acks.append(DrillAckReport(
                    a.id, self.member_name(a.author), a.author, a.time,
                    a.received_at, a.stopped_at, a.jobs, a.canary,
                    latency_ms=max(0, a.stopped_at - d.time),
                    on_time=a.stopped_at <= deadline,
                    expected=a.author in enforcer_keys))
            acks.sort(key=lambda x: (x.member, x.id))
            on_time = {x.key for x in acks if x.on_time}
            missing = [m.name.decode() for m in enforcers if m.public_key not in on_time]
            if enforcers and not missing:
                state = "succeeded"
            elif now >= deadline:
                state = "failed"
            else:
                state = "pending"
            author = r.member_by_key(d.author)
            out.append(DrillReport(d.id, author.name.decode(), d.time, deadline, state,
                                   sorted(missing), acks))
        return out


def activate(tier: int, since: int | None, roster: Roster) -> tuple[int, int | None]:
    """SPEC 5.5 activation of a roster version: at rest (since = none) the lab moves to the new
    base; otherwise the tier is clamped into [base, max]; landing on the base clears since."""
    if since is None:
        tier = roster.base_tier
    else:
        tier = min(max(tier, roster.base_tier), roster.max_tier)
    if tier == roster.base_tier:
        since = None
    return tier, since


# =============================================================================================
# SPEC 6: ledger file
# =============================================================================================

LEDGER_MAGIC = b"TGLEDGER"
HEADER_LEN = 48
FRAME_ENTRY, FRAME_DETACHED, FRAME_EVIDENCE = 1, 2, 3
MAX_FRAME_PAYLOAD = 393224
MAX_FRAME = 1 + 4 + MAX_FRAME_PAYLOAD + 16          # 393245


@dataclass
class Problem:
    frame: int | None              # 0-based frame index; None for the header and genesis
    offset: int                    # byte offset of the frame (or of the header)
    message: str

    def __str__(self) -> str:
        where = "header" if self.frame is None else f"frame {self.frame}"
        return f"{where} at byte {self.offset}: {self.message}"


@dataclass
class LedgerReport:
    problems: list[Problem]
    entries: list[Entry]
    connected: set[bytes]
    equivocators: set[bytes]
    torn_tail: int = 0              # bytes a writer would cut (0 when none)
    gaps: dict[bytes, set[int]] = field(default_factory=dict)   # author -> missing positions

    @property
    def valid(self) -> bool:
        return not self.problems


def read_ledger(data: bytes, genesis: RosterFile) -> LedgerReport:
    """Read and verify a ledger file for genesis roster G (SPEC 6.1-6.4)."""
    rep = LedgerReport([], [], set(), set())
    g = genesis.roster

    def header_problem(msg: str, offset: int = 0) -> None:
        # SPEC 6.4: a header problem has no frame index; its offset is the field's.
        rep.problems.append(Problem(None, offset, msg))

    if not genesis.trusted:
        header_problem("genesis roster is not trusted: " + "; ".join(genesis.problems))
    if len(data) < HEADER_LEN:
        header_problem("file shorter than the 48-byte header")
        return rep
    if data[:8] != LEDGER_MAGIC:
        header_problem("bad magic")
    if int.from_bytes(data[8:12], "big") != 1:
        header_problem("ledger version is not 1", 8)
    if data[12:44] != genesis.hash:
        header_problem("header genesis hash differs from hash(G)", 12)
    if int.from_bytes(data[44:48], "big") != 0:
        header_problem("reserved header field is not 0", 44)

    heads: dict[bytes, Entry] = {}          # author -> head of its feed in this file
    pos, index = HEADER_LEN, 0

    def problem(msg: str) -> None:
        rep.problems.append(Problem(index, pos, msg))

    def valid_entry(raw: bytes) -> Entry | None:
        try:
            e = decode_signed_entry(raw)
        except DecodeError as exc:
            problem(f"entry does not decode: {exc}")
            return None
        why = entry_valid_for(e, g.lab, genesis.hash)
        if why:
            problem(why)
            return None
        return e

    def intact_frame_length(buf: bytes, o: int) -> int | None:
        """SPEC 6.2: the whole length of the frame at o when it is of a known type, within bounds,
        whole, and its checksum holds."""
        if o + 21 > len(buf) or buf[o] not in (FRAME_ENTRY, FRAME_DETACHED, FRAME_EVIDENCE):
            return None
        n = int.from_bytes(buf[o + 1:o + 5], "big")
        if n > MAX_FRAME_PAYLOAD or o + 21 + n > len(buf) or H16(buf[o:o + 5 + n]) != buf[o + 5 + n:o + 21 + n]:
            return None
        return 21 + n

    def intact_to_end(buf: bytes, o: int) -> bool:
        """SPEC 6.3: buf[o:] is a run of intact frames."""
        while o < len(buf):
            size = intact_frame_length(buf, o)
            if size is None:
                return False
            o += size
        return True

    def intact_frame_after(start: int) -> int | None:
        """SPEC 6.3: the first offset after `start` from which intact frames run on to the end."""
        return next((o for o in range(start + 1, len(data) - 20) if intact_to_end(data, o)), None)

    def length_bit_repairs(o: int) -> int | None:
        """SPEC 6.3: the bit whose flip in the declared length makes the frame at o, and what follows,
        intact frames to the end."""
        for bit in range(32):
            repaired = bytearray(data[o:])
            if len(repaired) < 21:
                return None
            repaired[4 - bit // 8] ^= 1 << (bit % 8)
            if intact_to_end(bytes(repaired), 0):
                return bit
        return None

    def no_frame_here(reason: str) -> None:
        """SPEC 6.3: the bytes from pos to the end are a torn tail only when no intact frame follows and they
        are all zeros or at most one maximal frame; anything else is corruption."""
        left = len(data) - pos
        if not any(data[pos:]):
            rep.torn_tail = left
            problem(f"torn tail: {left} zero bytes ({reason})")
        elif left > MAX_FRAME:
            problem(f"corruption: {reason}; more than one frame's worth of data follows")
        elif (bit := length_bit_repairs(pos)) is not None:
            problem(f"corruption: {reason}; with bit {bit} of its length flipped it is an intact frame")
        elif (at := intact_frame_after(pos)) is not None:
            problem(f"corruption: {reason}; an intact frame follows at offset {at}")
        else:
            rep.torn_tail = left
            problem(f"torn tail: {left} bytes ({reason})")

    while pos < len(data):
        left = len(data) - pos
        if left < 5:
            no_frame_here("less than a frame header")
            break
        ftype, length = data[pos], int.from_bytes(data[pos + 1:pos + 5], "big")
        if length > MAX_FRAME_PAYLOAD:
            no_frame_here(f"frame length {length} exceeds {MAX_FRAME_PAYLOAD}")
            break
        size = 5 + length + 16
        if left < size:
            no_frame_here("less than the whole frame")
            break
        payload = data[pos + 5:pos + 5 + length]
        if H16(data[pos:pos + 5 + length]) != data[pos + 5 + length:pos + size]:
            no_frame_here("checksum fails")
            break

        if ftype == FRAME_ENTRY:
            e = valid_entry(payload)
            if e is not None:
                head = heads.get(e.author)
                why = None
                if e.kind in (DRILL_ACK, ANON_HALT):     # SPEC 6.4: in no feed, so never in an ENTRY frame
                    problem("ENTRY frame holds a DRILL-ACK or an anonymous halt (in no feed: a DETACHED frame)")
                elif head is None and e.seq != 1:
                    why = f"first entry of its author has seq {e.seq}, not 1"
                elif head is not None and e.seq != head.seq + 1:
                    why = f"seq {e.seq} does not follow {head.seq}"
                elif head is not None and e.prev != head.id:
                    why = "prev is not the id of the author's previous entry"
                elif head is not None and e.time < head.time:
                    why = "time goes backwards in the author's feed"
                else:
                    heads[e.author] = e
                    rep.entries.append(e)
                    rep.connected.add(e.id)
                if why is not None:
                    problem(why)
                    if e.kind == HALT:      # SPEC 6.4: a validly signed halt that only breaks the feed rule
                        rep.entries.append(e)   # still counts, as if DETACHED
        elif ftype == FRAME_DETACHED:
            e = valid_entry(payload)
            if e is not None:
                if e.kind not in (HALT, ANON_HALT, DRILL_ACK):     # SPEC 6.2, 6.4
                    problem("DETACHED frame holds neither a halt nor a DRILL-ACK")
                else:
                    rep.entries.append(e)
        elif ftype == FRAME_EVIDENCE:
            rd = Reader(payload)
            try:
                first, second = rd.bytes_(MAX_SIGNED_ENTRY), rd.bytes_(MAX_SIGNED_ENTRY)
                rd.end()
            except DecodeError as exc:
                problem(f"EVIDENCE payload does not decode: {exc}")
            else:
                a, b = valid_entry(first), valid_entry(second)
                if a is not None and b is not None:
                    if a.author != b.author or a.seq != b.seq or a.id == b.id:
                        problem("EVIDENCE entries are not same author, same seq, different ids")
                    elif a.kind in (DRILL_ACK, ANON_HALT):
                        # Two DRILL-ACKs of one author share seq 0, but they are in no feed and
                        # never equivocation (SPEC 4.3): such a frame proves nothing.
                        problem("EVIDENCE frame holds DRILL-ACKs, which are never equivocation")
                    else:
                        rep.entries += [a, b]
                        rep.equivocators.add(a.author)
        else:
            problem(f"unknown frame type {ftype}")
        pos += size
        index += 1

    # SPEC 6.4: equivocation, for a verifier, is what EVIDENCE frames prove (above) -- not, say,
    # a DETACHED halt that differs from the ENTRY at its position.  A DETACHED halt beyond its
    # author's connected head (at the end of the file) is a gap: the missing positions, not a
    # violation.
    for e in rep.entries:
        if e.kind == HALT and e.id not in rep.connected:
            head = heads[e.author].seq if e.author in heads else 0
            if e.seq > head:
                rep.gaps.setdefault(e.author, set()).update(range(head + 1, e.seq))
    return rep


# =============================================================================================
# SPEC 12: secure links -- Noise XX (revision 34), 25519 / ChaChaPoly / BLAKE2b
#
# Written from the Noise Protocol Framework specification (sections 4, 5, 7, 12.3) and SPEC 12;
# X25519 and ChaCha20-Poly1305 come from `cryptography`, BLAKE2b and SHA-512 from hashlib, and
# HMAC, HKDF, the symmetric state, the XX message patterns, the Ed25519 -> X25519 conversions and
# the identity payloads are implemented here.
# =============================================================================================

TAG_NOISE = b"tiergate/v1/noise"
TAG_HANDSHAKE = b"tiergate/v1/handshake"
NOISE_PROTOCOL_NAME = b"Noise_XX_25519_ChaChaPoly_BLAKE2b"
NOISE_HASHLEN = 64                 # BLAKE2b-512
NOISE_BLOCKLEN = 128               # BLAKE2b's block, for HMAC (RFC 2104)
NOISE_DHLEN = 32
NOISE_TAGLEN = 16
HANDSHAKE_LENGTHS = {1: 32, 2: 192, 3: 160}     # SPEC 12.2, 12.3
IDENTITY_LEN = 32 + 64                          # Ed25519 key || signature (SPEC 12.2)
MAX_TRANSPORT_PLAINTEXT = 65_519                # 65535 - 16 (SPEC 12.3)
MAX_NONCE = 2**64 - 1                           # reserved (Noise 5.1): a session ends there


class HandshakeError(Exception):
    """The handshake (or a transport message) fails: the connection is closed (SPEC 12.3, 12.4)."""


def noise_hash(data: bytes) -> bytes:
    """HASH: BLAKE2b with a 64-byte output (crypto_generichash), unkeyed (SPEC 12.1)."""
    return hashlib.blake2b(data, digest_size=NOISE_HASHLEN).digest()


def hmac_blake2b(key: bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104) over BLAKE2b-512 with a 128-byte block -- not BLAKE2's keyed mode
    (SPEC 12.1, Noise 4.3)."""
    if len(key) > NOISE_BLOCKLEN:
        key = noise_hash(key)
    key = key.ljust(NOISE_BLOCKLEN, b"\0")
    inner = noise_hash(bytes(b ^ 0x36 for b in key) + data)
    return noise_hash(bytes(b ^ 0x5C for b in key) + inner)


def noise_hkdf(chaining_key: bytes, ikm: bytes, outputs: int) -> tuple[bytes, ...]:
    """HKDF(chaining_key, input_key_material, num_outputs) of Noise 4.3."""
    temp_key = hmac_blake2b(chaining_key, ikm)
    out, prev = [], b""
    for i in range(1, outputs + 1):
        prev = hmac_blake2b(temp_key, prev + bytes([i]))
        out.append(prev)
    return tuple(out)


def x25519_secret_from_ed25519_seed(seed: bytes) -> bytes:
    """crypto_sign_ed25519_sk_to_curve25519: the first 32 bytes of SHA-512(seed), clamped."""
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return bytes(h)


def x25519_public_from_ed25519(public_key: bytes) -> bytes | None:
    """crypto_sign_ed25519_pk_to_curve25519: u = (1 + y) / (1 - y) mod p, for a key that is a
    valid point (SPEC 3.3; libsodium refuses small-order and non-subgroup keys); else None."""
    if not is_valid_point(public_key):
        return None
    y = _y_of(public_key)
    u = (1 + y) * pow(1 - y, -1, P25519) % P25519
    return u.to_bytes(32, "little")


def x25519_public(secret: bytes) -> bytes:
    """X25519(secret, 9)."""
    return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()


def noise_dh(secret: bytes, public: bytes) -> bytes:
    """DH: X25519 (crypto_scalarmult); an all-zero output (small-order public key) fails the
    handshake (SPEC 12.1)."""
    try:
        out = X25519PrivateKey.from_private_bytes(secret).exchange(
            X25519PublicKey.from_public_bytes(public))
    except ValueError:                   # OpenSSL refuses an all-zero shared secret itself
        raise HandshakeError("X25519 output is all zero (small-order public key)") from None
    if out == bytes(32):
        raise HandshakeError("X25519 output is all zero (small-order public key)")
    return out


def noise_nonce(n: int) -> bytes:
    """ChaChaPoly nonce: 4 zero bytes, then the counter as u64 little-endian (Noise 12.3)."""
    return bytes(4) + n.to_bytes(8, "little")


@dataclass
class CipherState:
    """Noise 5.1: a key (or none) and a nonce counter."""
    k: bytes | None = None
    n: int = 0

    def has_key(self) -> bool:
        return self.k is not None

    def encrypt_with_ad(self, ad: bytes, plaintext: bytes) -> bytes:
        if self.k is None:
            return plaintext
        if self.n >= MAX_NONCE:
            raise HandshakeError("nonce exhausted: the session ends")
        out = ChaCha20Poly1305(self.k).encrypt(noise_nonce(self.n), plaintext, ad)
        self.n += 1
        return out

    def decrypt_with_ad(self, ad: bytes, ciphertext: bytes) -> bytes:
        if self.k is None:
            return ciphertext
        if self.n >= MAX_NONCE:
            raise HandshakeError("nonce exhausted: the session ends")
        try:
            out = ChaCha20Poly1305(self.k).decrypt(noise_nonce(self.n), ciphertext, ad)
        except InvalidTag:
            raise HandshakeError("authentication failed") from None
        self.n += 1                       # only after success (Noise 5.1)
        return out


@dataclass
class SymmetricState:
    """Noise 5.2: chaining key, handshake hash and a CipherState."""
    ck: bytes
    h: bytes
    cipher: CipherState = field(default_factory=CipherState)

    @classmethod
    def initialize(cls, protocol_name: bytes) -> "SymmetricState":
        if len(protocol_name) <= NOISE_HASHLEN:
            h = protocol_name.ljust(NOISE_HASHLEN, b"\0")
        else:
            h = noise_hash(protocol_name)
        return cls(ck=h, h=h)

    def mix_hash(self, data: bytes) -> None:
        self.h = noise_hash(self.h + data)

    def mix_key(self, ikm: bytes) -> None:
        self.ck, temp_k = noise_hkdf(self.ck, ikm, 2)
        self.cipher = CipherState(temp_k[:32])            # truncated: HASHLEN 64 > 32

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        ciphertext = self.cipher.encrypt_with_ad(self.h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        plaintext = self.cipher.decrypt_with_ad(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[CipherState, CipherState]:
        k1, k2 = noise_hkdf(self.ck, b"", 2)
        return CipherState(k1[:32]), CipherState(k2[:32])


def noise_prologue(genesis: bytes) -> bytes:
    """prologue = u8(17) || "tiergate/v1/noise" || genesis (SPEC 12.2)."""
    return tagged(TAG_NOISE, genesis)


def identity_payload(seed: bytes, h: bytes) -> bytes:
    """ed25519_public_key || Ed25519 signature over u8(21) || "tiergate/v1/handshake" || h,
    h being the handshake hash just before the payload is encrypted (SPEC 12.2)."""
    return public_key_from_seed(seed) + sign(seed, tagged(TAG_HANDSHAKE, h))


def check_identity(payload: bytes, remote_static: bytes, h: bytes, bound: bool = True) -> bytes:
    """The receiver's checks of SPEC 12.2; returns the proved Ed25519 key. `bound`: the static key must be the
    identity's converted key (the responder's, message 2); an initiator's (message 3) may be a fresh key, proved by
    the signature alone (an agent-held key, SPEC 7.4)."""
    if len(payload) != IDENTITY_LEN:
        raise HandshakeError(f"identity payload of {len(payload)} bytes")
    key, signature = payload[:32], payload[32:]
    if not is_valid_point(key):
        raise HandshakeError("identity key is not a valid Ed25519 point")
    if bound and x25519_public_from_ed25519(key) != remote_static:
        raise HandshakeError("identity key does not convert to the static key received")
    if not ed25519_verify(key, tagged(TAG_HANDSHAKE, h), signature):
        raise HandshakeError("identity signature does not verify")
    return key


def wire(body: bytes) -> bytes:
    """u16 length (big-endian) || body (SPEC 12.3)."""
    if len(body) > 0xFFFF:
        raise HandshakeError("message longer than 65535 bytes")
    return len(body).to_bytes(2, "big") + body


def unwire(data: bytes, expected: int | None = None) -> bytes:
    """One wire message: the length prefix, which during the handshake MUST be exactly the
    message's length (SPEC 12.3), and then exactly that many bytes."""
    if len(data) < 2:
        raise HandshakeError("short message")
    length = int.from_bytes(data[:2], "big")
    if expected is not None and length != expected:
        raise HandshakeError(f"handshake message length {length}, expected {expected}")
    if len(data) - 2 != length:
        raise HandshakeError(f"length prefix {length} but {len(data) - 2} bytes follow")
    return data[2:]


@dataclass
class HandshakeState:
    """One side of the XX handshake of SPEC 12.2 (Noise 5.3, 7.5):

        -> e
        <- e, ee, s, es
        -> s, se

    `sign_identity(h)` builds the identity payload; it defaults to the honest one and is
    replaced by tests to send forged identities."""
    initiator: bool
    seed: bytes                        # Ed25519 roster key seed (the static key is its X25519)
    ephemeral_secret: bytes
    genesis: bytes
    sign_identity: Callable[[bytes], bytes] | None = None
    sym: SymmetricState = field(init=False)
    s_secret: bytes = field(init=False)
    s_public: bytes = field(init=False)
    e_public: bytes = field(init=False)
    re: bytes | None = None            # remote ephemeral
    rs: bytes | None = None            # remote static (X25519)
    remote_key: bytes | None = None    # the Ed25519 key the peer proved
    step: int = 1                      # the next message number
    sent_identity: bytes = b""         # for the vector checks: the identity payload sent
    received_identity: bytes = b""     # ... and the one received (after its checks passed)

    def __post_init__(self) -> None:
        self.s_secret = x25519_secret_from_ed25519_seed(self.seed)
        self.s_public = x25519_public_from_ed25519(public_key_from_seed(self.seed))
        self.e_public = x25519_public(self.ephemeral_secret)
        self.sym = SymmetricState.initialize(NOISE_PROTOCOL_NAME)
        self.sym.mix_hash(noise_prologue(self.genesis))
        if self.sign_identity is None:
            self.sign_identity = lambda h: identity_payload(self.seed, h)

    def _expect(self, step: int, writing: bool) -> None:
        mine = (step % 2 == 1) == self.initiator
        if self.step != step or mine != writing:
            raise HandshakeError(f"message {step} out of turn")
        self.step += 1

    # -- initiator --------------------------------------------------------------------------
    def write_message_1(self) -> bytes:
        self._expect(1, True)
        self.sym.mix_hash(self.e_public)                               # e
        body = self.e_public + self.sym.encrypt_and_hash(b"")          # empty payload
        return wire(body)

    def read_message_2(self, data: bytes) -> None:
        self._expect(2, False)
        body = unwire(data, HANDSHAKE_LENGTHS[2])
        self.re = body[:32]
        self.sym.mix_hash(self.re)                                     # e
        self.sym.mix_key(noise_dh(self.ephemeral_secret, self.re))     # ee
        self.rs = self.sym.decrypt_and_hash(body[32:80])               # s
        self.sym.mix_key(noise_dh(self.ephemeral_secret, self.rs))     # es
        h = self.sym.h
        payload = self.sym.decrypt_and_hash(body[80:])
        self.remote_key = check_identity(payload, self.rs, h)
        self.received_identity = payload

    def write_message_3(self) -> bytes:
        self._expect(3, True)
        body = self.sym.encrypt_and_hash(self.s_public)                # s
        self.sym.mix_key(noise_dh(self.s_secret, self.re))             # se
        self.sent_identity = self.sign_identity(self.sym.h)
        body += self.sym.encrypt_and_hash(self.sent_identity)
        return wire(body)

    # -- responder --------------------------------------------------------------------------
    def read_message_1(self, data: bytes) -> None:
        self._expect(1, False)
        body = unwire(data, HANDSHAKE_LENGTHS[1])
        self.re = body[:32]
        self.sym.mix_hash(self.re)                                     # e
        if self.sym.decrypt_and_hash(body[32:]) != b"":                # empty payload
            raise HandshakeError("message 1 carries a payload")

    def write_message_2(self) -> bytes:
        self._expect(2, True)
        self.sym.mix_hash(self.e_public)                               # e
        body = self.e_public
        self.sym.mix_key(noise_dh(self.ephemeral_secret, self.re))     # ee
        body += self.sym.encrypt_and_hash(self.s_public)               # s
        self.sym.mix_key(noise_dh(self.s_secret, self.re))             # es
        self.sent_identity = self.sign_identity(self.sym.h)
        body += self.sym.encrypt_and_hash(self.sent_identity)
        return wire(body)

    def read_message_3(self, data: bytes) -> None:
        self._expect(3, False)
        body = unwire(data, HANDSHAKE_LENGTHS[3])
        self.rs = self.sym.decrypt_and_hash(body[:48])                 # s
        self.sym.mix_key(noise_dh(self.ephemeral_secret, self.rs))     # se
        h = self.sym.h
        payload = self.sym.decrypt_and_hash(body[48:])
        self.remote_key = check_identity(payload, self.rs, h, bound=False)
        self.received_identity = payload

    # -- after message 3 ----------------------------------------------------------------------
    def session(self) -> "Session":
        """Split (Noise 5.2): the first key encrypts initiator -> responder, the second
        responder -> initiator (SPEC 12.2)."""
        if self.step != 4:
            raise HandshakeError("handshake not complete")
        c1, c2 = self.sym.split()
        send, recv = (c1, c2) if self.initiator else (c2, c1)
        return Session(send, recv, self.sym.h, self.remote_key)


def cacophony_xx(v: dict) -> tuple[list[bytes], bytes]:
    """Runs a generic XX (Noise 7.5) with the vector's prologue, static and ephemeral X25519
    keys and payloads; returns every message as sent (handshake, then transport messages that
    alternate initiator, responder, ...) and the handshake hash.  Each side decrypts what the
    other sent, so a disagreement raises."""
    x = lambda k: bytes.fromhex(v[k])
    side = {}
    for who in ("init", "resp"):
        st = SymmetricState.initialize(v["protocol_name"].encode())
        st.mix_hash(x(f"{who}_prologue"))
        side[who] = {"sym": st, "s": x(f"{who}_static"), "e": x(f"{who}_ephemeral")}
    i, r = side["init"], side["resp"]
    pub = x25519_public
    out = []
    msgs = [bytes.fromhex(m["payload"]) for m in v["messages"]]
    # -> e
    i["sym"].mix_hash(pub(i["e"]))
    m = pub(i["e"]) + i["sym"].encrypt_and_hash(msgs[0])
    r["re"] = m[:32]; r["sym"].mix_hash(r["re"]); assert r["sym"].decrypt_and_hash(m[32:]) == msgs[0]
    out.append(m)
    # <- e, ee, s, es
    r["sym"].mix_hash(pub(r["e"]))
    m = pub(r["e"])
    r["sym"].mix_key(noise_dh(r["e"], r["re"]))
    m += r["sym"].encrypt_and_hash(pub(r["s"]))
    r["sym"].mix_key(noise_dh(r["s"], r["re"]))
    m += r["sym"].encrypt_and_hash(msgs[1])
    i["re"] = m[:32]; i["sym"].mix_hash(i["re"]); i["sym"].mix_key(noise_dh(i["e"], i["re"]))
    i["rs"] = i["sym"].decrypt_and_hash(m[32:80]); i["sym"].mix_key(noise_dh(i["e"], i["rs"]))
    assert i["sym"].decrypt_and_hash(m[80:]) == msgs[1]
    out.append(m)
    # -> s, se
    m = i["sym"].encrypt_and_hash(pub(i["s"]))
    i["sym"].mix_key(noise_dh(i["s"], i["re"]))
    m += i["sym"].encrypt_and_hash(msgs[2])
    r["rs"] = r["sym"].decrypt_and_hash(m[:48]); r["sym"].mix_key(noise_dh(r["e"], r["rs"]))
    assert r["sym"].decrypt_and_hash(m[48:]) == msgs[2]
    out.append(m)
    assert i["sym"].h == r["sym"].h
    i1, i2 = i["sym"].split()
    r1, r2 = r["sym"].split()
    for n, payload in enumerate(msgs[3:]):
        send, recv = (r2, i2) if n % 2 == 0 else (i1, r1)
        c = send.encrypt_with_ad(b"", payload)
        assert recv.decrypt_with_ad(b"", c) == payload
        out.append(c)
    return out, i["sym"].h


@dataclass
class Session:
    """The transport phase (SPEC 12.3): ChaCha20-Poly1305, empty associated data, per-direction
    counters from 0; any failure ends the session."""
    send: CipherState
    recv: CipherState
    handshake_hash: bytes
    remote_key: bytes | None

    def seal(self, plaintext: bytes) -> bytes:
        if len(plaintext) > MAX_TRANSPORT_PLAINTEXT:
            raise HandshakeError("transport plaintext longer than 65519 bytes")
        return wire(self.send.encrypt_with_ad(b"", plaintext))

    def open(self, data: bytes) -> bytes:
        body = unwire(data)
        if len(body) < NOISE_TAGLEN:
            raise HandshakeError("transport message shorter than a tag")
        return self.recv.decrypt_with_ad(b"", body)


def noise_handshake(i_seed: bytes, i_eph: bytes, r_seed: bytes, r_eph: bytes, genesis: bytes,
                    r_genesis: bytes | None = None
                    ) -> tuple[list[bytes], HandshakeState, HandshakeState]:
    """Run a whole handshake between two of our own parties; returns the three wire messages."""
    i = HandshakeState(True, i_seed, i_eph, genesis)
    r = HandshakeState(False, r_seed, r_eph, genesis if r_genesis is None else r_genesis)
    m1 = i.write_message_1()
    r.read_message_1(m1)
    m2 = r.write_message_2()
    i.read_message_2(m2)
    m3 = i.write_message_3()
    r.read_message_3(m3)
    return [m1, m2, m3], i, r


# =============================================================================================
# Vector checks
# =============================================================================================

class Results:
    def __init__(self, verbose: bool):
        self.passed = 0
        self.failed = 0
        self.verbose = verbose

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        if ok:
            self.passed += 1
            if self.verbose:
                print(f"ok    {name}")
        else:
            self.failed += 1
            print(f"FAIL  {name}" + (f": {detail}" if detail else ""))


def load_json(path: Path, res: Results):
    """A vector file's JSON; a missing or unreadable file counts as a failed case."""
    if not path.is_file():
        res.check(f"{path.relative_to(VECTORS.parent)}", False, "vector file missing")
        return None
    try:
        return strict_json(path.read_text(encoding="utf-8"))
    except (ValueError, NotARoster) as exc:
        res.check(f"{path.relative_to(VECTORS.parent)}", False, f"unreadable: {exc}")
        return None


def for_each_case(path: Path, res: Results, check_case) -> None:
    """Run check_case on every case of a vector file; a malformed case is a failure."""
    cases = load_json(path, res)
    if cases is None:
        return
    if not isinstance(cases, list) or not cases:
        res.check(f"{path.relative_to(VECTORS.parent)}", False, "expected a non-empty array")
        return
    for i, case in enumerate(cases):
        try:
            check_case(case)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            name = case.get("name", case.get("file", i)) if isinstance(case, dict) else i
            res.check(f"{path.stem}/{name}", False, f"malformed case: {exc!r}")


def check_signatures(res: Results) -> None:
    """signatures.json: Ed25519 verification (SPEC 2.3) agrees with `expected`."""
    def one(case) -> None:
        got = ed25519_verify(bytes.fromhex(case["public_key_hex"]),
                             bytes.fromhex(case["message_hex"]),
                             bytes.fromhex(case["signature_hex"]))
        if case["expected"] not in ("valid", "invalid"):
            raise ValueError(f"expected = {case['expected']!r}")
        want = case["expected"] == "valid"
        res.check(f"signatures/{case['name']}", got == want,
                  f"expected {case['expected']}, got {'valid' if got else 'invalid'}")
    for_each_case(VECTORS / "signatures.json", res, one)


def split_tag(message: bytes) -> tuple[bytes, bytes]:
    n = message[0]
    return message[1:1 + n], message[1 + n:]


def check_entries(res: Results) -> None:
    """entries.json: BLAKE2b-256(bytes) = id, and the tagged content decodes canonically
    and re-encodes to the same bytes (SPEC 2.1, 3.1, 4.1)."""
    def one(case) -> None:
        name = f"entries/{case['name']}"
        data = bytes.fromhex(case["bytes_hex"])
        res.check(f"{name} (id)",
                  case["hash"] == "blake2b-256" and H(data).hex() == case["id_hex"].lower(),
                  f"H(bytes) = {H(data).hex()}, vector says {case['id_hex']} ({case['hash']})")
        tag, content = split_tag(data)
        try:
            if tag == TAG_ENTRY:
                again = encode_entry(decode_entry(content))
            elif tag == TAG_ROSTER:
                again = encode_roster(decode_roster(content))
            else:
                raise DecodeError(f"unknown tag {tag!r}")
        except DecodeError as exc:
            res.check(f"{name} (decode)", False, f"rejected: {exc}")
            return
        res.check(f"{name} (decode)", again == content, "re-encoding differs")
    for_each_case(VECTORS / "entries.json", res, one)


def check_rejects(res: Results) -> None:
    """encoding-rejects.json: every case MUST be rejected by the canonical decoders."""
    # SPEC 10 (Vectors): the bytes are *content* (no domain tag, no signature).
    decoders = {"entry": decode_entry, "roster": decode_roster}

    def one(case) -> None:
        decode = decoders[case["object"]]
        try:
            decode(bytes.fromhex(case["bytes_hex"]))
        except DecodeError:
            res.check(f"encoding-rejects/{case['name']}", True)
        else:
            res.check(f"encoding-rejects/{case['name']}", False,
                      f"accepted (expected error: {case.get('error')})")
    for_each_case(VECTORS / "encoding-rejects.json", res, one)


def check_keys(res: Results) -> None:
    """keys.json: public key from the seed (RFC 8032) and fingerprint (SPEC 2.4)."""
    def one(case) -> None:
        pk = public_key_from_seed(bytes.fromhex(case["seed_hex"]))
        res.check(f"keys/{case['name']} (public key)", pk.hex() == case["public_key_hex"].lower(),
                  f"derived {pk.hex()}")
        fp = fingerprint(pk)
        res.check(f"keys/{case['name']} (fingerprint)", fp == case["fingerprint"],
                  f"derived {fp}")
        line = openssh_line(pk)
        res.check(f"keys/{case['name']} (OpenSSH public key line)", line == case["openssh_public_key"],
                  f"derived {line}")
        res.check(f"keys/{case['name']} (OpenSSH public key line parses back)",
                  parse_openssh_line(case["openssh_public_key"]) == pk)
        ofp = openssh_fingerprint(pk)
        res.check(f"keys/{case['name']} (OpenSSH SHA256 fingerprint)", ofp == case["openssh_fingerprint"],
                  f"derived {ofp}")
    for_each_case(VECTORS / "keys.json", res, one)
    # A FIDO key, another type, a short key and trailing bytes are not ed25519 roster keys (SPEC 2.4, 7.4).
    pk = public_key_from_seed(bytes(32))
    bad = {
        "sk-ssh-ed25519": "sk-ssh-ed25519@openssh.com " + base64.b64encode(
            ssh_string(b"sk-ssh-ed25519@openssh.com") + ssh_string(pk) + ssh_string(b"ssh:")).decode(),
        "type word and blob disagree": "ssh-ed25519 " + base64.b64encode(
            ssh_string(b"ssh-rsa") + ssh_string(b"\x01\x00\x01")).decode(),
        "31-byte key": "ssh-ed25519 " + base64.b64encode(ssh_string(b"ssh-ed25519") + ssh_string(pk[:31])).decode(),
        "trailing bytes": "ssh-ed25519 " + base64.b64encode(ssh_string(b"ssh-ed25519") + ssh_string(pk) + b"\0").decode(),
    }
    for name, line in bad.items():
        res.check(f"keys/OpenSSH line refused: {name}", parse_openssh_line(line) is None)


def check_ring(res: Results) -> None:
    """ring.json (SPEC 2.5): hash points and key images recomputed, every case verified in pure Python, and each
    valid case re-signed from its signer's seed and nonce seed to the same bytes; from_uniform cases."""
    path = VECTORS / "ring.json"
    doc = json.loads(path.read_text())
    keys = {k["name"]: bytes.fromhex(k["seed_hex"]) for k in json.loads((VECTORS / "keys.json").read_text())}
    for m in doc["hash_to_point"]:
        got = map_to_point(bytes.fromhex(m["input_hex"]))
        res.check(f"ring/from_uniform({m['input_hex'][:16]}…)", got.hex() == m["point_hex"], f"computed {got.hex()}")
    for c in doc["cases"]:
        name = f"ring/{c['name']}"
        g, period, slot = bytes.fromhex(c["genesis_hex"]), c["period"], c["slot"]
        ring = [bytes.fromhex(k) for k in c["ring_hex"]]
        points = [ring_hash_point(k, g, period, slot) for k in ring]
        res.check(f"{name} (hash points)", [p.hex() for p in points] == c["hash_points_hex"])
        message, image, sig = (bytes.fromhex(c[k]) for k in ("message_hex", "key_image_hex", "signature_hex"))
        ok = ring_verify(message, ring, image, sig, g, period, slot)
        res.check(f"{name} (verifies: {c['expected']})", ok == (c["expected"] == "valid"))
        if c["expected"] == "valid" and c.get("nonce_seed_hex"):
            seed = keys[c["signer"]]
            res.check(f"{name} (signer at its position)", ring.index(public_key_from_seed(seed)) == c["signer_position"])
            img, again = ring_sign(message, ring, seed, g, period, slot, bytes.fromhex(c["nonce_seed_hex"]))
            res.check(f"{name} (key image = x * H_pi)", img == image, f"computed {img.hex()}")
            res.check(f"{name} (re-signed to the same bytes)", again == sig)


def key_image_reuse(entries: list[Entry]) -> list[dict]:
    """SPEC 4.3: anonymous halts sharing a key image (their `author`), by key image; ids ascending."""
    by_image: dict[bytes, set[bytes]] = {}
    for e in entries:
        if e.kind == ANON_HALT:
            by_image.setdefault(e.author, set()).add(e.id)
    return [{"key_image": k.hex(), "entries": sorted(i.hex() for i in ids)}
            for k, ids in sorted(by_image.items()) if len(ids) >= 2]


def check_ledgers(res: Results) -> None:
    """ledgers/manifest.json: for each ledger file, validity and the frames named as problems
    (SPEC 6.4), then the verdict at `at_ms` (SPEC 5): authorised tier (the drill schedule's
    lapse_on_overdue included), halted, roster version in force, the members with equivocation
    evidence, the drills (SPEC 5.8: id, state, missing enforcers and each acknowledgement's
    member, latency_ms, on_time and expected, compared exactly and in order: drills oldest first,
    acknowledgements by member) and drill_overdue.  For an invalid ledger the verdict is
    computed from the frames without problems (SPEC 6.4)."""
    base = VECTORS / "ledgers"

    def one(case) -> None:
        name = f"ledgers/{case['file']}"
        try:
            genesis = load_roster_file((base / case["roster"]).read_text(encoding="utf-8"))
            data = (base / case["file"]).read_bytes()
        except (OSError, NotARoster) as exc:
            res.check(name, False, f"unreadable: {exc}")
            return
        res.check(f"{name} (genesis trusted)", genesis.trusted or not case["valid"],
                  "; ".join(genesis.problems))
        rep = read_ledger(data, genesis)
        res.check(f"{name} (valid)", rep.valid == case["valid"],
                  f"expected valid={case['valid']}, got {rep.valid}: "
                  + "; ".join(map(str, rep.problems)))
        if "problems" in case:
            def key(frame, offset):  # header problems (no frame) first
                return (-1 if frame is None else frame, offset)
            want = sorted(key(p.get("frame"), p.get("offset")) for p in case["problems"])
            got = sorted(key(p.frame, p.offset) for p in rep.problems)
            res.check(f"{name} (problems)", got == want,
                      f"expected (frame, offset) {want}, got {got}: "
                      + "; ".join(map(str, rep.problems)))
        rule = DecisionRule(genesis.roster, rep.entries, rep.connected, rep.equivocators)
        v = rule.verdict(case["at_ms"])
        drills = [{"id": d.id.hex(), "state": d.state, "missing": d.missing,
                   "acks": [{"member": a.member, "latency_ms": a.latency_ms,
                             "on_time": a.on_time, "expected": a.expected} for a in d.acks]}
                  for d in v.drills]
        for key, got in [("authorized_tier", v.authorized_tier), ("halted", v.halted),
                         ("roster_version", v.roster_version),
                         ("equivocations", sorted(rule.member_name(k)
                                                  for k in v.equivocations)),
                         ("drills", drills), ("drill_overdue", v.drill_overdue),
                         ("active_halts", sorted(h.hex() for h in v.active_halts)),
                         ("key_image_reuse", key_image_reuse(rep.entries))]:
            if key in case:
                want = sorted(case[key]) if key == "equivocations" else case[key]
                res.check(f"{name} ({key})", got == want, f"expected {want}, got {got}")
    for_each_case(base / "manifest.json", res, one)


def check_noise(res: Results) -> None:
    """noise.json (SPEC 11, 12): one handshake between the vector keys alice (initiator) and
    bob (responder) with fixed ephemeral secrets, recomputed byte for byte from the seeds in
    keys.json, the vector's genesis and its ephemeral secrets; then negative cases on the
    vector's own bytes (altered messages, another genesis, a replayed message 3, wrong lengths,
    replayed / reordered / misdirected transport messages)."""
    doc = load_json(VECTORS / "noise.json", res)
    key_list = load_json(VECTORS / "keys.json", res)
    if doc is None or key_list is None:
        return
    try:
        _check_noise(doc, {k["name"]: k for k in key_list}, res)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, HandshakeError) as exc:
        res.check("noise", False, f"malformed vector or unexpected failure: {exc!r}")


def _check_noise(doc: dict, keys: dict, res: Results) -> None:
    ok = res.check
    hx = bytes.fromhex
    ok("noise/protocol name", doc["protocol_name"] == NOISE_PROTOCOL_NAME.decode(),
       doc["protocol_name"])
    genesis = hx(doc["genesis_hex"])
    ok("noise/prologue = u8(17) || tiergate/v1/noise || genesis",
       len(genesis) == 32 and noise_prologue(genesis) == hx(doc["prologue_hex"]),
       f"computed {noise_prologue(genesis).hex()}")

    # The parties: the vector keys alice and bob, their converted static keys, the ephemerals.
    seeds = {}
    for role, name in [("initiator", "alice"), ("responder", "bob")]:
        party, key = doc[role], keys[name]
        seed, pk = hx(key["seed_hex"]), hx(key["public_key_hex"])
        seeds[role] = seed
        ok(f"noise/{role} is keys.json {name}", party["name"] == name
           and hx(party["ed25519_seed_hex"]) == seed
           and hx(party["ed25519_public_key_hex"]) == pk == public_key_from_seed(seed))
        secret = x25519_secret_from_ed25519_seed(seed)
        ok(f"noise/{role} X25519 static secret (SHA-512(seed)[:32], clamped)",
           secret == hx(party["x25519_static_secret_hex"]), f"computed {secret.hex()}")
        public = x25519_public_from_ed25519(pk)
        ok(f"noise/{role} X25519 static public ((1+y)/(1-y) mod p)",
           public == hx(party["x25519_static_public_hex"]) == x25519_public(secret),
           f"computed {public.hex() if public else None}, X25519(secret, 9) = "
           f"{x25519_public(secret).hex()}")
        eph = hx(party["ephemeral_secret_hex"])
        ok(f"noise/{role} ephemeral public = X25519(secret, 9)",
           x25519_public(eph) == hx(party["ephemeral_public_hex"]))
    i_eph = hx(doc["initiator"]["ephemeral_secret_hex"])
    r_eph = hx(doc["responder"]["ephemeral_secret_hex"])

    def initiator(g: bytes = genesis) -> HandshakeState:
        return HandshakeState(True, seeds["initiator"], i_eph, g)

    def responder(g: bytes = genesis, eph: bytes = r_eph) -> HandshakeState:
        return HandshakeState(False, seeds["responder"], eph, g)

    msgs = sorted(doc["handshake"], key=lambda m: m["message"])
    if [m["message"] for m in msgs] != [1, 2, 3]:
        raise ValueError("handshake messages are not 1, 2, 3")
    vec = [hx(m["wire_hex"]) for m in msgs]
    for m, w in zip(msgs, vec):
        n = m["message"]
        body = hx(m["body_hex"])
        want_dir = "initiator->responder" if n % 2 else "responder->initiator"
        ok(f"noise/message {n} wire = u16 length || body, length {HANDSHAKE_LENGTHS[n]}",
           w == wire(body) and len(body) == HANDSHAKE_LENGTHS[n]
           and m.get("direction", want_dir) == want_dir, f"{len(body)} bytes")

    # Recompute each message, and have the other side read the vector's bytes.
    i, r = initiator(), responder()
    m1 = i.write_message_1()
    ok("noise/message 1 recomputed (-> e)", m1 == vec[0], f"computed {m1.hex()}")
    r.read_message_1(vec[0])
    m2 = r.write_message_2()
    ok("noise/message 2 recomputed (<- e, ee, s, es)", m2 == vec[1], f"computed {m2.hex()}")
    try:
        i.read_message_2(vec[1])
        ok("noise/initiator accepts message 2 and proves bob's key",
           i.remote_key == hx(keys["bob"]["public_key_hex"]))
    except HandshakeError as exc:
        ok("noise/initiator accepts message 2 and proves bob's key", False, str(exc))
        return
    m3 = i.write_message_3()
    ok("noise/message 3 recomputed (-> s, se)", m3 == vec[2], f"computed {m3.hex()}")
    try:
        r.read_message_3(vec[2])
        ok("noise/responder accepts message 3 and proves alice's key",
           r.remote_key == hx(keys["alice"]["public_key_hex"]))
    except HandshakeError as exc:
        ok("noise/responder accepts message 3 and proves alice's key", False, str(exc))
        return
    # The identity payloads inside the vector's messages: Ed25519 is deterministic, so the
    # payload decrypted from the vector equals the one recomputed, and it verifies (above).
    for who, got, sent, key in [("bob (message 2)", i.received_identity, r.sent_identity, "bob"),
                                ("alice (message 3)", r.received_identity, i.sent_identity,
                                 "alice")]:
        ok(f"noise/identity payload of {who}: key || recomputed signature",
           got == sent and len(got) == IDENTITY_LEN
           and got[:32] == hx(keys[key]["public_key_hex"]), f"received {got.hex()}")
    ok("noise/handshake hash", i.sym.h == r.sym.h == hx(doc["handshake_hash_hex"]),
       f"computed {i.sym.h.hex()}")
    si, sr = i.session(), r.session()
    for field_name, cipher in [("transport_key_initiator_to_responder_hex", si.send),
                               ("transport_key_responder_to_initiator_hex", sr.send)]:
        if field_name in doc:
            ok(f"noise/{field_name[:-4]} (Split)", cipher.k == hx(doc[field_name]),
               f"computed {cipher.k.hex()}")

    # Transport, both directions, counters from 0 per direction.
    sides = {"initiator->responder": (si, sr), "responder->initiator": (sr, si)}
    counters = {d: 0 for d in sides}
    for t in doc["transport"]:
        d = t["direction"]
        sender, receiver = sides[d]
        plain = hx(t["plaintext_hex"])
        name = f"noise/transport {d} #{t['nonce']}"
        ok(f"{name} nonce counts from 0", t["nonce"] == counters[d] == sender.send.n)
        counters[d] += 1
        if "plaintext" in t:
            ok(f"{name} plaintext_hex is the plaintext", plain == t["plaintext"].encode())
        w = sender.seal(plain)
        ok(f"{name} recomputed", w == hx(t["wire_hex"]), f"computed {w.hex()}")
        try:
            ok(f"{name} decrypts", receiver.open(hx(t["wire_hex"])) == plain)
        except HandshakeError as exc:
            ok(f"{name} decrypts", False, str(exc))

    # -- negative cases ---------------------------------------------------------------------
    def fails(run) -> str | None:
        """None when run() raises HandshakeError, else a description of the success."""
        try:
            run()
        except HandshakeError:
            return None
        return "accepted"

    def initiator_reading(m2: bytes, g: bytes = genesis) -> None:
        st = initiator(g)
        st.write_message_1()
        st.read_message_2(m2)

    def responder_reading(m3: bytes, g: bytes = genesis, eph: bytes = r_eph) -> None:
        st = responder(g, eph)
        st.read_message_1(vec[0])
        st.write_message_2()
        st.read_message_3(m3)

    def flips(data: bytes) -> list[bytes]:
        out = []
        for pos in range(len(data)):
            for bit in (0x01, 0x80):
                b = bytearray(data)
                b[pos] ^= bit
                out.append(bytes(b))
        return out

    ok("noise/control: the vector's messages are accepted by fresh parties",
       fails(lambda: initiator_reading(vec[1])) == "accepted"
       and fails(lambda: responder_reading(vec[2])) == "accepted")
    bad = [k for k, m in enumerate(flips(vec[1])) if fails(lambda m=m: initiator_reading(m))]
    ok("noise/every bit flip (0x01, 0x80 of each byte) in message 2 fails at the initiator",
       not bad, f"accepted: flips {bad[:10]}")
    bad = [k for k, m in enumerate(flips(vec[2])) if fails(lambda m=m: responder_reading(m))]
    ok("noise/every bit flip (0x01, 0x80 of each byte) in message 3 fails at the responder",
       not bad, f"accepted: flips {bad[:10]}")
    other = H(b"another lab") if H(b"another lab") != genesis else H(b"yet another lab")
    ok("noise/an initiator bound to another genesis rejects message 2",
       fails(lambda: initiator_reading(vec[1], other)) is None)
    ok("noise/a responder bound to another genesis rejects message 3",
       fails(lambda: responder_reading(vec[2], other)) is None)
    st = responder(other)
    st.read_message_1(vec[0])
    ok("noise/a responder bound to another genesis: the initiator rejects its message 2",
       fails(lambda: initiator_reading(st.write_message_2())) is None)
    fresh = H(b"a fresh responder ephemeral")
    ok("noise/a replayed message 3 fails (fresh responder ephemeral)",
       fails(lambda: responder_reading(vec[2], eph=fresh)) is None)
    body2 = vec[1][2:]
    ok("noise/handshake lengths are exact (message 2 of 191 or 193 bytes fails)",
       fails(lambda: initiator_reading(wire(body2[:-1]))) is None
       and fails(lambda: initiator_reading(wire(body2 + b"\0"))) is None
       and fails(lambda: responder(genesis).read_message_1(wire(vec[0][2:] + b"\0"))) is None)

    # An initiator whose key is held by an agent (SPEC 7.4, 12.2): a fresh static key, proved by the signature alone.
    u = doc.get("unbound_initiator")
    ok("noise/unbound initiator: the vector is present", u is not None)
    if u is not None:
        secret = H(b"tiergate/v1/vector-unbound-static")
        ok("noise/unbound initiator: static key derivation", secret == hx(u["x25519_static_secret_hex"])
           and x25519_public(secret) == hx(u["x25519_static_public_hex"])
           and x25519_public(secret) != x25519_public_from_ed25519(public_key_from_seed(seeds["initiator"])))

        def unbound_initiator(g: bytes = genesis) -> HandshakeState:
            st = initiator(g)
            st.s_secret, st.s_public = secret, x25519_public(secret)
            return st
        a = unbound_initiator()
        ok("noise/unbound initiator: message 1 as the main vector's", a.write_message_1() == vec[0])
        a.read_message_2(vec[1])
        m3 = a.write_message_3()
        ok("noise/unbound initiator: message 3 recomputed", m3 == hx(u["message_3_wire_hex"])
           and m3[2:] == hx(u["message_3_body_hex"]), f"computed {m3.hex()}")
        ok("noise/unbound initiator: the signed message is the handshake tag and h",
           a.sent_identity[32:] == sign(seeds["initiator"], hx(u["signed_message_hex"])))
        b = responder()
        b.read_message_1(vec[0])
        b.write_message_2()
        try:
            b.read_message_3(hx(u["message_3_wire_hex"]))
            ok("noise/unbound initiator: the responder accepts it and learns alice's key",
               b.remote_key == public_key_from_seed(seeds["initiator"]) and b.sym.h == hx(u["handshake_hash_hex"]))
        except HandshakeError as exc:
            ok("noise/unbound initiator: the responder accepts it and learns alice's key", False, str(exc))
        bad = [k for k, m in enumerate(flips(hx(u["message_3_wire_hex"]))) if fails(lambda m=m: responder_reading(m))]
        ok("noise/unbound initiator: every bit flip in its message 3 fails at the responder", not bad, f"accepted: {bad[:10]}")
        # A responder's static key stays bound to its identity: an initiator refuses an unbound one.
        r = responder()
        r.s_secret, r.s_public = secret, x25519_public(secret)
        r.read_message_1(vec[0])
        ok("noise/an unbound responder static key is refused by the initiator",
           fails(lambda: initiator_reading(r.write_message_2())) is None)

    def session_pair() -> tuple[Session, Session]:
        a, b = initiator(), responder()
        b.read_message_1(a.write_message_1())
        a.read_message_2(b.write_message_2())
        b.read_message_3(a.write_message_3())
        return a.session(), b.session()

    i_to_r = [hx(t["wire_hex"]) for t in doc["transport"]
              if t["direction"] == "initiator->responder"]
    r_to_i = [hx(t["wire_hex"]) for t in doc["transport"]
              if t["direction"] == "responder->initiator"]
    if len(i_to_r) >= 2 and r_to_i:
        a, b = session_pair()

        def replay() -> None:
            b.open(i_to_r[0])
            b.open(i_to_r[0])
        ok("noise/transport: a replayed message fails", fails(replay) is None)
        a, b = session_pair()
        ok("noise/transport: a message out of order fails", fails(lambda: b.open(i_to_r[1]))
           is None)
        a, b = session_pair()
        ok("noise/transport: a message sent back to its sender fails (per-direction keys)",
           fails(lambda: b.open(r_to_i[0])) is None)
        a, b = session_pair()
        tampered = bytearray(i_to_r[0])
        tampered[-1] ^= 1
        ok("noise/transport: an altered tag fails, and the counter does not move",
           fails(lambda: b.open(bytes(tampered))) is None and b.recv.n == 0
           and b.open(i_to_r[0]) == hx(doc["transport"][0]["plaintext_hex"]))


def not_a_roster(text: str) -> bool:
    """For the self-checks: whether a roster file is refused as no roster at all (SPEC 3.4: unknown format)."""
    try:
        load_roster_file(text)
    except NotARoster:
        return True
    return False


def feed_signer(keys: list[bytes], seeds: list[bytes], gh):
    """For the self-checks: mk(who, kind, time, rv, **body) signs the next entry of member `who`'s feed (seq and
    prev follow its previous entry) in the lab "acme" of genesis hash `gh`; `feeds` (by key) may be cleared to start
    the feeds afresh. `gh` may be a function giving the genesis hash at signing time (a check that switches rosters)."""
    genesis = gh if callable(gh) else (lambda: gh)
    feeds: dict[bytes, list[Entry]] = {k: [] for k in keys}

    def mk(who: int, kind: int, time: int, rv: int = 1, **body) -> Entry:
        feed = feeds[keys[who]]
        e = Entry(kind, b"acme", genesis(), rv, keys[who], len(feed) + 1,
                  feed[-1].id if feed else ZERO32, time, **body)
        e.signature = sign(seeds[who], e.message())
        feed.append(e)
        return e
    return mk, feeds


def self_checks_noise(res: Results) -> None:
    """SPEC 12 pieces checked against other sources and against each other, independent of
    noise.json: HMAC against the standard library, HKDF's chaining, the two Ed25519 -> X25519
    conversions against each other, a handshake between two of our own parties, forged
    identities and small-order ephemerals."""
    ok = res.check
    import hmac as std_hmac
    for key in (b"", b"k", bytes(range(64)), bytes(200)):
        data = b"tiergate hmac self-check" * 3
        ok(f"self/noise: HMAC-BLAKE2b-512 = stdlib hmac (key {len(key)} bytes)",
           hmac_blake2b(key, data) == std_hmac.new(key, data, hashlib.blake2b).digest())
    ck, ikm = noise_hash(b"ck"), b"ikm"
    t = hmac_blake2b(ck, ikm)
    o1 = hmac_blake2b(t, b"\x01")
    o2 = hmac_blake2b(t, o1 + b"\x02")
    ok("self/noise: HKDF outputs chain (Noise 4.3)", noise_hkdf(ck, ikm, 3)
       == (o1, o2, hmac_blake2b(t, o2 + b"\x03")))
    ok("self/noise: protocol name padded to HASHLEN as h and ck",
       SymmetricState.initialize(NOISE_PROTOCOL_NAME).h
       == NOISE_PROTOCOL_NAME + bytes(64 - len(NOISE_PROTOCOL_NAME)))
    seeds = [bytes([i]) * 32 for i in range(1, 6)]
    ok("self/noise: X25519(converted secret) = converted Ed25519 public key",
       all(x25519_public(x25519_secret_from_ed25519_seed(s))
           == x25519_public_from_ed25519(public_key_from_seed(s)) for s in seeds))
    ok("self/noise: nonce = 4 zero bytes || u64 little-endian",
       noise_nonce(0x0102) == bytes(4) + bytes([2, 1]) + bytes(6))

    genesis = H(b"self-check genesis")
    e1, e2 = H(b"e1"), H(b"e2")
    msgs, i, r = noise_handshake(seeds[0], e1, seeds[1], e2, genesis)
    si, sr = i.session(), r.session()
    ok("self/noise: handshake between our parties (lengths, keys proved, hashes, keys)",
       [len(m) for m in msgs] == [34, 194, 162] and i.remote_key == public_key_from_seed(seeds[1])
       and r.remote_key == public_key_from_seed(seeds[0]) and si.handshake_hash == sr.handshake_hash
       and si.send.k == sr.recv.k and si.recv.k == sr.send.k and si.send.k != si.recv.k)
    ok("self/noise: transport both ways",
       sr.open(si.seal(b"a")) == b"a" and si.open(sr.seal(b"b")) == b"b"
       and sr.open(si.seal(b"")) == b"" and si.send.n == 2 and si.recv.n == 1)
    try:
        si.seal(bytes(MAX_TRANSPORT_PLAINTEXT + 1))
        ok("self/noise: transport plaintext at most 65519 bytes", False)
    except HandshakeError:
        ok("self/noise: transport plaintext at most 65519 bytes",
           len(si.seal(bytes(MAX_TRANSPORT_PLAINTEXT))) == 2 + 65535)
    exhausted = CipherState(bytes(32), MAX_NONCE)
    try:
        exhausted.encrypt_with_ad(b"", b"x")
        ok("self/noise: nonce 2^64-1 ends the session", False)
    except HandshakeError:
        ok("self/noise: nonce 2^64-1 ends the session", True)

    def responder_with(sign_identity) -> str:
        """Handshake where the responder (seeds[1]) sends a forged identity; the initiator's
        error, or "accepted"."""
        i = HandshakeState(True, seeds[0], e1, genesis)
        r = HandshakeState(False, seeds[1], e2, genesis, sign_identity)
        r.read_message_1(i.write_message_1())
        try:
            i.read_message_2(r.write_message_2())
        except HandshakeError as exc:
            return str(exc)
        return "accepted"

    carol = seeds[2]
    ok("self/noise: an honest identity is accepted",
       responder_with(lambda h: identity_payload(seeds[1], h)) == "accepted")
    ok("self/noise: another member's identity over bob's static key fails",
       "does not convert" in responder_with(lambda h: identity_payload(carol, h)))
    ok("self/noise: an identity signed over another h fails",
       "signature" in responder_with(lambda h: identity_payload(seeds[1], noise_hash(h))))
    ok("self/noise: an identity signature without the handshake tag fails",
       "signature" in responder_with(
           lambda h: public_key_from_seed(seeds[1]) + sign(seeds[1], h)))
    y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022
    ok("self/noise: a small-order identity key fails",
       "valid Ed25519 point" in responder_with(
           lambda h: y8.to_bytes(32, "little") + bytes(64)))
    ok("self/noise: a short identity fails (message 2 of 191 bytes)",
       "length 191" in responder_with(lambda h: identity_payload(seeds[1], h)[:-1]))

    # A small-order ephemeral key in message 2: the ee DH is all zero and fails.
    small = [bytes(32), (1).to_bytes(32, "little"),
             bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")]
    errors = []
    for u in small:
        st = HandshakeState(True, seeds[0], e1, genesis)
        st.write_message_1()
        try:
            st.read_message_2(wire(u + bytes(160)))
            errors.append("accepted")
        except HandshakeError as exc:
            errors.append(str(exc))
    ok("self/noise: a small-order ephemeral key makes the DH fail",
       all("all zero" in e for e in errors), "; ".join(errors))

    # The Wycheproof X25519 and ChaCha20-Poly1305 files copied into protocol-spec/vectors/third-party,
    # through the DH wrapper (an all-zero output must fail) and the AEAD used here.  Missing files fail.
    shared = VECTORS / "third-party"
    path = shared / "wycheproof-x25519_test.json"
    ok(f"self/noise: {path.name} is in the repository", path.is_file(), "missing")
    if path.is_file():
        bad = []
        groups = json.loads(path.read_text(encoding="utf-8"))["testGroups"]
        cases = [t for g in groups for t in g["tests"]]
        for t in cases:
            want = bytes.fromhex(t["shared"])
            try:
                got = noise_dh(bytes.fromhex(t["private"]), bytes.fromhex(t["public"]))
            except HandshakeError:
                got = None
            if want == bytes(32):
                good = got is None                     # SPEC 12.1: all zero fails
            elif t["result"] == "invalid":
                good = got is None or got != want
            else:
                good = got == want
            if not good:
                bad.append(t["tcId"])
        ok(f"self/noise: Wycheproof X25519 ({len(cases)} cases)", not bad, f"tcIds {bad[:20]}")
    path = shared / "wycheproof-chacha20_poly1305_test.json"
    ok(f"self/noise: {path.name} is in the repository", path.is_file(), "missing")
    if path.is_file():
        bad = []
        groups = json.loads(path.read_text(encoding="utf-8"))["testGroups"]
        cases = [t for g in groups if g["ivSize"] == 96 and g["keySize"] == 256
                 for t in g["tests"]]
        for t in cases:
            key, iv, aad, msg, ct, tag = (bytes.fromhex(t[k]) for k in
                                          ("key", "iv", "aad", "msg", "ct", "tag"))
            try:
                plain = ChaCha20Poly1305(key).decrypt(iv, ct + tag, aad)
                good = t["result"] != "invalid" and plain == msg \
                    and ChaCha20Poly1305(key).encrypt(iv, msg, aad) == ct + tag
            except InvalidTag:
                good = t["result"] == "invalid"
            if not good:
                bad.append(t["tcId"])
        ok(f"self/noise: Wycheproof ChaCha20-Poly1305 IETF ({len(cases)} cases)", not bad,
           f"tcIds {bad[:20]}")

    # The published cacophony vector for Noise_XX_25519_ChaChaPoly_BLAKE2b: another party's prologue,
    # keys and payloads through the same SymmetricState, CipherState and DH as the handshake.
    path = shared / "cacophony-XX_25519_ChaChaPoly_BLAKE2b.json"
    ok(f"self/noise: {path.name} is in the repository", path.is_file(), "missing")
    if path.is_file():
        v = json.loads(path.read_text(encoding="utf-8"))["vectors"][0]
        got = cacophony_xx(v)
        want = [bytes.fromhex(m["ciphertext"]) for m in v["messages"]]
        ok("self/noise: cacophony Noise_XX_25519_ChaChaPoly_BLAKE2b messages",
           got[0] == want, f"{[a == b for a, b in zip(got[0], want)]}")
        ok("self/noise: cacophony handshake hash", got[1] == bytes.fromhex(v["handshake_hash"]), got[1].hex())


# =============================================================================================
# Self-checks: build data by hand from the spec and make sure the pieces agree
# =============================================================================================

def self_checks(res: Results) -> None:
    ok = res.check
    # SPEC 2.2 example: the entry prefix.
    ok("self/entry prefix", tagged(TAG_ENTRY, b"").hex(" ")
       == "11 74 69 65 72 67 61 74 65 2f 76 31 2f 65 6e 74 72 79")
    # SPEC 2.3: small-order detection (identity, order-2, order-4 and an order-8 point).
    y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022
    small = [1, P25519 - 1, 0, y8, P25519 - y8, P25519, P25519 + 1]
    ok("self/small order", all(has_small_order(y.to_bytes(32, "little")) for y in small)
       and not has_small_order(public_key_from_seed(bytes(32))))

    seeds = [bytes([i]) * 32 for i in range(1, 5)]
    keys = [public_key_from_seed(s) for s in seeds]
    names = [b"alice", b"bob", b"carol", b"dave"]
    roles = [[b"leader"], [b"safety"], [b"auditor"], [b"eng"]]
    rule = lambda n: Rule(n, [], [], 7 * 86_400_000)  # noqa: E731
    g = Roster(b"acme", 1, ZERO32, 2, 4,
               [Member(n, k, r) for n, k, r in zip(names, keys, roles)],
               Rule(2, [(b"safety", 1)], [b"auditor"], 7 * 86_400_000), [], [STAR],
               rule(3), rule(3), 0, 600_000, 30 * 86_400_000, 120_000, 1)
    content = encode_roster(g)
    ok("self/roster round trip", encode_roster(decode_roster(content)) == content)
    msg = tagged(TAG_ROSTER, content)
    doc = {"format": "tiergate-roster-v2", "roster": {
        "lab": "acme", "version": 1, "previous": "00" * 32, "base_tier": 2, "max_tier": 4,
        "members": [{"name": n.decode(), "public_key": k.hex(), "roles": [x.decode() for x in r]}
                    for n, k, r in reversed(list(zip(names, keys, roles)))],
        "policy": {"advance": {"min_yes": 2, "role_minimums": {"safety": 1},
                               "veto_roles": ["auditor"], "window": "7d"},
                   "resume": {"min_yes": 3}, "amend": {"min_yes": 3},
                   "halt_roles": ["*"], "token_ttl": "10m", "lapse": "30d",
                   "freshness": {"min_attesters": 1}}},
        "signatures": [{"member": n.decode(), "signature": sign(s, msg).hex()}
                       for n, s in zip(names, seeds)]}
    rf = load_roster_file(json.dumps(doc))
    ok("self/roster file trusted", rf.trusted and rf.hash == H(msg), "; ".join(rf.problems))
    doc["signatures"].pop()
    ok("self/roster file missing signature", not load_roster_file(json.dumps(doc)).trusted)
    try:
        load_roster_file('{"format": "tiergate-roster-v2", "format": "x", "roster": {}}')
        ok("self/duplicate JSON key", False)
    except NotARoster:
        ok("self/duplicate JSON key", True)

    gh = rf.hash
    mk, feeds = feed_signer(keys, seeds, gh)

    day = 86_400_000
    p1 = mk(0, PROPOSAL, 1000, action=ADVANCE, tier=3, title=b"Go to tier 3",
            evidence=[(b"eval.pdf", H(b"eval"))], closes_at=1000 + day)
    v1 = mk(0, VOTE, 2000, proposal=p1.id, choice=YES, reason=b"")
    v2 = mk(1, VOTE, 3000, proposal=p1.id, choice=YES, reason="ok ✓".encode())
    for e in (p1, v1, v2):
        signed = e.content() + e.signature
        d = decode_signed_entry(signed)
        ok(f"self/entry round trip seq {e.seq}", d.content() == e.content() and d.id == e.id
           and entry_valid_for(d, b"acme", gh) is None)
    ok("self/entry rejects trailing byte", _rejects(decode_signed_entry,
                                                    p1.content() + p1.signature + b"\0"))
    ok("self/entry rejects control char", _rejects(decode_entry, encode_entry(
        Entry(HALT, b"acme", gh, 1, keys[0], 1, ZERO32, 5, reason=b"a\x07"))))

    def frame(ftype: int, payload: bytes) -> bytes:
        head = enc_u8(ftype) + enc_u32(len(payload)) + payload
        return head + H16(head)

    def ledger(*frames: bytes) -> bytes:
        return LEDGER_MAGIC + enc_u32(1) + gh + enc_u32(0) + b"".join(frames)

    def entry_frame(e: Entry) -> bytes:
        return frame(FRAME_ENTRY, e.content() + e.signature)

    base = [entry_frame(e) for e in (p1, v1, v2)]
    rep = read_ledger(ledger(*base), rf)
    verdict = DecisionRule(g, rep.entries, rep.connected, rep.equivocators).verdict
    partial = read_ledger(ledger(*base[:2]), rf)
    ok("self/advance passes", rep.valid and verdict(10_000).authorized_tier == 3
       and DecisionRule(g, partial.entries, partial.connected, set()).verdict(10_000)
       .authorized_tier == 2, "; ".join(map(str, rep.problems)))
    # SPEC 5: the vote at 3000 is within max_skew_ms (2 min) of now = 2500, so it counts.
    ok("self/skew", verdict(2_500).authorized_tier == 3)
    ok("self/lapse", verdict(3000 + 30 * day).authorized_tier == 2
       and verdict(3000 + 30 * day - 1).authorized_tier == 3)
    h1 = mk(3, HALT, 5000, reason=b"stop")
    rep = read_ledger(ledger(*base, frame(FRAME_DETACHED, h1.content() + h1.signature)), rf)
    v = DecisionRule(g, rep.entries, rep.connected, rep.equivocators).verdict(10_000)
    ok("self/detached halt", rep.valid and v.halted and v.authorized_tier == 2)
    r1 = mk(0, PROPOSAL, 6000, action=RESUME, tier=4, title=b"resume", closes_at=day,
            halts=[h1.id])
    votes = [mk(i, VOTE, 7000 + i, proposal=r1.id, choice=YES, reason=b"") for i in (1, 2, 3)]
    frames = base + [entry_frame(e) for e in [h1, r1] + votes]
    rep = read_ledger(ledger(*frames), rf)
    v = DecisionRule(g, rep.entries, rep.connected, rep.equivocators).verdict(10_000)
    ok("self/resume restores ceiling", rep.valid and not v.halted and v.authorized_tier == 3,
       f"{rep.problems} {v}")
    torn = ledger(*frames)[:-3]
    ok("self/torn tail", not read_ledger(torn, rf).valid and read_ledger(torn, rf).torn_tail)
    bad = bytearray(ledger(*frames))
    bad[HEADER_LEN + 10] ^= 1
    ok("self/corruption", any("corruption" in p.message
                              for p in read_ledger(bytes(bad), rf).problems))
    forged = p1.content() + bytes([p1.signature[0] ^ 1]) + p1.signature[1:]
    probs = read_ledger(ledger(frame(FRAME_ENTRY, forged), *base[1:]), rf).problems
    ok("self/bad signature in a well-formed frame",
       [(p.frame, p.offset, p.message) for p in probs][:1]
       == [(0, HEADER_LEN, "signature does not verify")], "; ".join(map(str, probs)))

    def run(entries: list[Entry], now: int, extra: tuple[bytes, ...] = ()) -> Verdict:
        rep = read_ledger(ledger(*[entry_frame(e) for e in entries], *extra), rf)
        assert rep.valid, rep.problems
        return DecisionRule(g, rep.entries, rep.connected, rep.equivocators).verdict(now)

    # Veto (SPEC 5.3): carol (auditor) votes no first; the advance never passes.
    for f in feeds.values():
        f.clear()
    p = mk(0, PROPOSAL, 1000, action=ADVANCE, tier=3, title=b"t", closes_at=day)
    es = [p, mk(2, VOTE, 1500, proposal=p.id, choice=NO, reason=b""),
          mk(0, VOTE, 2000, proposal=p.id, choice=YES, reason=b""),
          mk(1, VOTE, 3000, proposal=p.id, choice=YES, reason=b"")]
    ok("self/veto", run(es, 10_000).authorized_tier == 2)
    # A second vote by bob is not binding; bob's first vote (abstain) is.
    for f in feeds.values():
        f.clear()
    p = mk(0, PROPOSAL, 1000, action=ADVANCE, tier=3, title=b"t", closes_at=day)
    es = [p, mk(1, VOTE, 1500, proposal=p.id, choice=ABSTAIN, reason=b""),
          mk(0, VOTE, 2000, proposal=p.id, choice=YES, reason=b""),
          mk(1, VOTE, 3000, proposal=p.id, choice=YES, reason=b"")]
    ok("self/binding vote", run(es, 10_000).authorized_tier == 2)
    # Equivocation evidence against bob voids his votes (SPEC 4.3, 5.3).
    for f in feeds.values():
        f.clear()
    p = mk(0, PROPOSAL, 1000, action=ADVANCE, tier=3, title=b"t", closes_at=day)
    es = [p, mk(0, VOTE, 2000, proposal=p.id, choice=YES, reason=b""),
          mk(1, VOTE, 3000, proposal=p.id, choice=YES, reason=b"")]
    twin = mk(1, HALT, 3000, reason=b"twin")
    twin.seq, twin.prev = 1, ZERO32
    twin.__dict__.pop("_id", None)
    twin.signature = sign(seeds[1], twin.message())
    evidence = frame(FRAME_EVIDENCE, enc_bytes(es[2].content() + es[2].signature)
                     + enc_bytes(twin.content() + twin.signature))
    ok("self/no evidence", run(es, 10_000).authorized_tier == 3)
    v = run(es, 10_000, (evidence,))
    ok("self/equivocation", v.authorized_tier == 2 and v.halted)   # the twin halt counts

    # Amendment (SPEC 5.2): version 2 lets one yes vote advance; cooling-off 1000 ms.
    for f in feeds.values():
        f.clear()
    g2 = decode_roster(content)
    g2.version, g2.previous = 2, gh
    g2.advance = rule(1)
    am = mk(0, PROPOSAL, 1000, action=AMEND, title=b"amend", closes_at=day,
            roster_bytes=encode_roster(g2), roster=g2)
    es = [am] + [mk(i, VOTE, 2000 + i, proposal=am.id, choice=YES, reason=b"") for i in (1, 2, 3)]
    p = mk(0, PROPOSAL, 5000, rv=2, action=ADVANCE, tier=3, title=b"t", closes_at=day)
    old = mk(1, PROPOSAL, 5000, rv=1, action=ADVANCE, tier=4, title=b"t", closes_at=day)
    es += [p, old, mk(0, VOTE, 6000, rv=2, proposal=p.id, choice=YES, reason=b"")]
    v = run(es, 10_000)
    ok("self/amendment", v.roster_version == 2 and v.authorized_tier == 3, str(v))

    # ------------------------------------------------------------------------------------------
    # SPEC 3.3: member keys are valid Ed25519 points (libsodium is_valid_point).
    def enc_y(y: int) -> bytes:
        return y.to_bytes(32, "little")

    off_curve = next(y for y in range(2, 1000) if _recover_x(y) is None)
    canon_y = next(y for y in range(2, 19) if _recover_x(y) is not None)
    torsion = _decode_point(enc_y(y8))                       # a point of order 8
    mixed = _encode_point(_edwards_add(_decode_point(keys[0]), torsion))
    ok("self/valid point: keys from seeds", all(is_valid_point(k) for k in keys))
    ok("self/valid point: small order", not any(is_valid_point(enc_y(y)) for y in small))
    ok("self/valid point: off the curve", not is_valid_point(enc_y(off_curve)))
    ok("self/valid point: non-canonical y", not is_valid_point(enc_y(canon_y + P25519)))
    ok("self/valid point: mixed order (libsodium's subgroup check)",
       not has_small_order(mixed) and _decode_point(mixed) is not None
       and not is_valid_point(mixed))

    def bad_roster(mutate) -> bytes:
        r = copy.deepcopy(g)
        mutate(r)
        return encode_roster(r)

    for label, key in [("off curve", enc_y(off_curve)), ("small order", enc_y(y8)),
                       ("non-canonical", enc_y(canon_y + P25519)), ("mixed order", mixed)]:
        ok(f"self/roster rejects {label} member key", _rejects(decode_roster, bad_roster(
            lambda r, key=key: setattr(r.members[3], "public_key", key))))

    # SPEC 2.1, 3.3: "*" only in halt_roles.
    ok("self/roster accepts * in halt_roles", decode_roster(content).halt_roles == [STAR])
    ok("self/roster rejects * as member role",
       _rejects(decode_roster, bad_roster(lambda r: setattr(r.members[0], "roles", [STAR]))))
    ok("self/roster rejects * in veto roles",
       _rejects(decode_roster, bad_roster(lambda r: setattr(r.advance, "veto_roles", [STAR]))))
    ok("self/roster rejects * in role minimums", _rejects(decode_roster, bad_roster(
        lambda r: setattr(r.amend, "role_minimums", [(STAR, 1)]))))

    # SPEC 3.4: JSON lists in any order, duplicates inconsistent, hex in either case, defaults.
    def roster_json(policy=None, upper=False, roles=None, fmt: int = 2) -> str:
        members = [{"name": n.decode(), "public_key": k.hex(),
                    "roles": [x.decode() for x in (roles or {}).get(n, r)]}
                   for n, k, r in zip(names, keys, roles_of)]
        obj = {"lab": "acme", "version": 1, "previous": "00" * 32, "base_tier": 2,
               "max_tier": 4, "members": members}
        if policy is not None:
            obj["policy"] = policy
        message = tagged(TAG_ROSTER, encode_roster(roster_from_json(copy.deepcopy(obj), fmt)))
        doc = {"format": f"tiergate-roster-v{fmt}", "roster": obj,
               "signatures": [{"member": n.decode(), "signature": sign(s, message).hex()}
                              for n, s in zip(names, seeds)]}
        text = json.dumps(doc)
        if upper:
            for k in keys:
                text = text.replace(k.hex(), k.hex().upper())
            for sig in doc["signatures"]:
                text = text.replace(sig["signature"], sig["signature"].upper())
        return text

    roles_of = [[b"leader"], [b"safety", b"eng"], [b"auditor"], [b"eng"]]
    pol = {"advance": {"min_yes": 2, "veto_roles": ["leader", "auditor"]},
           "halt_roles": ["safety", "auditor"]}
    a = load_roster_file(roster_json(pol))
    pol_sorted = {"advance": {"min_yes": 2, "veto_roles": ["auditor", "leader"]},
                  "halt_roles": ["auditor", "safety"]}
    b = load_roster_file(roster_json(pol_sorted, upper=True,
                                     roles={b"bob": [b"eng", b"safety"]}))
    ok("self/roster file: list order and hex case do not matter",
       a.trusted and b.trusted and a.hash == b.hash
       and a.roster.members[1].roles == [b"eng", b"safety"]
       and a.roster.halt_roles == [b"auditor", b"safety"], "; ".join(a.problems + b.problems))
    for label, text in [
            ("duplicate member role", lambda: roster_json(roles={b"alice": [b"leader"] * 2})),
            ("duplicate halt role", lambda: roster_json({"halt_roles": ["safety", "safety"]})),
            ("duplicate veto role",
             lambda: roster_json({"resume": {"veto_roles": ["eng", "eng"]}})),
            ("* as member role", lambda: roster_json(roles={b"alice": [b"*"]})),
            ("* in veto roles", lambda: roster_json({"amend": {"veto_roles": ["*"]}})),
            ("* in role minimums",
             lambda: roster_json({"advance": {"role_minimums": {"*": 1}}}))]:
        try:
            rf_bad = load_roster_file(text())
            ok(f"self/roster file: {label} makes it inconsistent", not rf_bad.trusted
               and any("inconsistent" in p for p in rf_bad.problems), str(rf_bad.problems))
        except NotARoster as exc:
            ok(f"self/roster file: {label} makes it inconsistent", False, f"not a roster: {exc}")
    # SPEC 3.1: window, lapse and amend_cooling_off are at most 10 years (3650 days); one day more is rejected.
    for label, pol_over, pol_at in [
            ("window", {"advance": {"window": "3651d"}}, {"advance": {"window": "3650d"}}),
            ("lapse", {"lapse": "3651d"}, {"lapse": "3650d"}),
            ("amend_cooling_off", {"amend_cooling_off": "3651d"}, {"amend_cooling_off": "3650d"})]:
        try:
            over = load_roster_file(roster_json(pol_over))
            over_ok = not over.trusted
        except NotARoster:
            over_ok = True
        at_limit = load_roster_file(roster_json(pol_at))
        ok(f"self/roster file: {label} of 3651 days is rejected, 3650 days accepted",
           over_ok and at_limit.trusted, "; ".join(at_limit.problems))
    d = load_roster_file(roster_json())                     # no policy object at all
    week = 7 * day
    want = Roster(b"acme", 1, ZERO32, 2, 4, d.roster.members, Rule(3, [], [], week), [],
                  [STAR], Rule(3, [], [], week), Rule(3, [], [], week), 0, 600_000, 30 * day,
                  120_000, 2)
    e = load_roster_file(roster_json({"amend": {"window": "1h"}, "lapse": "2d"}))
    ok("self/roster file: policy defaults", d.trusted and d.roster == want
       and e.roster.amend == Rule(3, [], [], 3_600_000) and e.roster.lapse_ms == 2 * day
       and e.roster.resume == Rule(3, [], [], week), str(d.roster))
    d1 = load_roster_file(roster_json(fmt=1))
    want1 = copy.deepcopy(want)
    want1.min_attesters, want1.format = 1, 1
    ok("self/roster file: policy defaults (tiergate-roster-v1: freshness_quorum 1)",
       d1.trusted and d1.roster == want1, str(d1.roster))
    five = json.loads(roster_json())["roster"]
    five["members"].append({"name": "erin", "roles": ["staff"],
                            "public_key": public_key_from_seed(bytes([5]) * 32).hex()})
    r5 = roster_from_json(five)
    ok("self/roster file: default quorums (5 members: majority 3, two thirds 4)",
       (r5.advance.min_yes, r5.resume.min_yes, r5.amend.min_yes) == (3, 3, 4))
    ok("self/roster file: invalid member key makes it inconsistent", not load_roster_file(
        roster_json().replace(keys[3].hex(), mixed.hex())).trusted)

    # SPEC 4.1: the proposal-action combinations.
    g2 = copy.deepcopy(g)
    g2.version, g2.previous = 2, gh
    bad2 = copy.deepcopy(g2)
    bad2.previous = ZERO32                                   # inconsistent: version 2, zero prev
    fake_halt = H(b"halt")

    def proposal(action: int, tier: int = 3, halts=(), roster: bytes = b"",
                 evidence=()) -> bytes:
        return encode_entry(Entry(PROPOSAL, b"acme", gh, 1, keys[0], 1, ZERO32, 1000,
                                  action=action, tier=tier, title=b"t", evidence=list(evidence),
                                  closes_at=2000, halts=list(halts), roster_bytes=roster))

    for label, data in [
            ("advance with halts", proposal(ADVANCE, halts=[fake_halt])),
            ("advance with roster", proposal(ADVANCE, roster=encode_roster(g2))),
            ("resume without halts", proposal(RESUME)),
            ("resume with roster", proposal(RESUME, halts=[fake_halt],
                                            roster=encode_roster(g2))),
            ("amend with tier", proposal(AMEND, tier=1, roster=encode_roster(g2))),
            ("amend with halts", proposal(AMEND, 0, [fake_halt], encode_roster(g2))),
            ("amend without roster", proposal(AMEND, 0)),
            ("amend with inconsistent roster", proposal(AMEND, 0, roster=encode_roster(bad2))),
            ("amend with invalid member key", proposal(AMEND, 0, roster=bad_roster(
                lambda r: (setattr(r, "version", 2), setattr(r, "previous", gh),
                           setattr(r.members[0], "public_key", mixed)))))]:
        ok(f"self/entry rejects {label}", _rejects(decode_entry, data))
    try:
        decode_entry(proposal(ADVANCE, evidence=[(b"z", H(b"z")), (b"a", H(b"a"))]))
        decode_entry(proposal(RESUME, halts=[fake_halt]))
        decode_entry(proposal(AMEND, 0, roster=encode_roster(g2)))
        ok("self/entry accepts the allowed combinations (evidence in author's order)", True)
    except DecodeError as exc:
        ok("self/entry accepts the allowed combinations (evidence in author's order)", False,
           str(exc))

    # SPEC 5.5: the activation rule, step by step.
    r2 = copy.deepcopy(g2)
    r2.base_tier, r2.max_tier = 1, 3
    r3 = copy.deepcopy(g2)
    r3.base_tier = 3
    ok("self/activation rule",
       activate(2, None, r2) == (1, None)          # at rest: the new base, even if lower
       and activate(3, None, r3) == (3, None)
       and activate(3, 77, r2) == (3, 77)           # authorised above base: clamp, keep since
       and activate(4, 77, r2) == (3, 77)
       and activate(3, 77, r3) == (3, None)         # lands on the base: since = none
       and activate(2, 77, r3) == (3, None))

    def clear() -> None:
        for f in feeds.values():
            f.clear()

    def amend_to(r: Roster) -> list[Entry]:
        """alice proposes r at 1000; bob, carol, dave vote yes at 2001..2003 (passes at 2003,
        cooling-off 0, so start(v2) = 2003)."""
        am = mk(0, PROPOSAL, 1000, action=AMEND, title=b"amend", closes_at=day,
                roster_bytes=encode_roster(r), roster=r)
        return [am] + [mk(i, VOTE, 2000 + i, proposal=am.id, choice=YES, reason=b"")
                       for i in (1, 2, 3)]

    # SPEC 5.5: at rest, an activation lowering the base takes the lab down to it.
    clear()
    low = copy.deepcopy(g2)
    low.base_tier = 1
    v = run(amend_to(low), 10_000)
    ok("self/activation at rest moves to the new base", v.roster_version == 2
       and v.authorized_tier == 1, str(v))

    # SPEC 5.5: activation is order 4.  An advance to 4 passing at start(v2) = 2003 is applied
    # first, under version 1 (tier 2: not one step, no effect), then v2 (base 3) activates.
    # With activation first the lab would be at 3 and the advance would take it to 4.
    clear()
    up = copy.deepcopy(g2)
    up.base_tier = 3
    es = amend_to(up)
    p4 = mk(2, PROPOSAL, 2002, action=ADVANCE, tier=4, title=b"t", closes_at=day)
    es += [p4, mk(1, VOTE, 2002, proposal=p4.id, choice=YES, reason=b""),
           mk(0, VOTE, 2003, proposal=p4.id, choice=YES, reason=b"")]
    v = run(es, 10_000)
    ok("self/activation after everything else at its instant", v.roster_version == 2
       and v.passed.get(p4.id) == 2003 and v.authorized_tier == 3, str(v))

    # SPEC 5, 5.2: a version starting exactly at now is pending, not in the chain: the horizon keeps
    # version 1's max_skew_ms, and a proposal naming version 2 does not fit (v2 starts at 2003 = now).
    clear()
    skew = copy.deepcopy(g2)
    skew.max_skew_ms, skew.advance = 3_600_000, rule(1)
    es = amend_to(skew)
    p = mk(0, PROPOSAL, 2003 + 600_000, rv=2, action=ADVANCE, tier=3, title=b"t",
           closes_at=day)
    es += [p, mk(0, VOTE, 2003 + 660_000, rv=2, proposal=p.id, choice=YES, reason=b"")]
    v = run(es, 2003)
    ok("self/a version starting exactly at now is pending", v.roster_version == 1
       and v.authorized_tier == 2, str(v))      # version 1 stays in force; its proposal under v2 does not fit

    # SPEC 5.1: the binding vote is chosen first.  bob's first vote is dated before the
    # proposal (outside its window): it does not count, and his later vote does not replace it.
    clear()
    p = mk(0, PROPOSAL, 1000, action=ADVANCE, tier=3, title=b"t", closes_at=day)
    early = mk(1, VOTE, 900, proposal=p.id, choice=YES, reason=b"")
    es = [p, early, mk(0, VOTE, 2000, proposal=p.id, choice=YES, reason=b""),
          mk(3, VOTE, 2500, proposal=p.id, choice=YES, reason=b""),
          mk(1, VOTE, 3000, proposal=p.id, choice=YES, reason=b"")]
    ok("self/binding vote chosen before counting", run(es, 10_000).authorized_tier == 2)
    clear()                                  # control: the same votes without the early one
    p = mk(0, PROPOSAL, 1000, action=ADVANCE, tier=3, title=b"t", closes_at=day)
    es = [p, mk(0, VOTE, 2000, proposal=p.id, choice=YES, reason=b""),
          mk(3, VOTE, 2500, proposal=p.id, choice=YES, reason=b""),
          mk(1, VOTE, 3000, proposal=p.id, choice=YES, reason=b"")]
    ok("self/binding vote: control passes", run(es, 10_000).authorized_tier == 3)

    # ------------------------------------------------------------------------------------------
    # SPEC 6.4
    clear()
    outsider_seed = bytes([9]) * 32
    outsider = public_key_from_seed(outsider_seed)

    def signed(seed: bytes, e: Entry) -> Entry:
        e.signature = sign(seed, e.message())
        return e

    def raw(e: Entry) -> bytes:
        return e.content() + e.signature

    oh = signed(outsider_seed, Entry(HALT, b"acme", gh, 1, outsider, 1, ZERO32, 500,
                                     reason=b"not a member"))
    oh2 = signed(outsider_seed, Entry(HALT, b"acme", gh, 1, outsider, 1, ZERO32, 600,
                                      reason=b"twin"))
    out_ev = frame(FRAME_EVIDENCE, enc_bytes(raw(oh)) + enc_bytes(raw(oh2)))
    rep = read_ledger(ledger(*base, entry_frame(oh), out_ev), rf)
    rule_ = DecisionRule(g, rep.entries, rep.connected, rep.equivocators)
    v = rule_.verdict(10_000)
    ok("self/ledger: frames by non-roster keys are checked, then ignored", rep.valid
       and not v.halted and v.authorized_tier == 3 and v.equivocations == []
       and outsider in rep.equivocators, f"{rep.problems} {v}")
    forged_out = raw(oh)[:-64] + bytes([oh.signature[0] ^ 1]) + oh.signature[1:]
    probs = read_ledger(ledger(*base, frame(FRAME_ENTRY, forged_out)), rf).problems
    ok("self/ledger: a non-roster key's bad signature is a problem",
       [(p.frame, p.message) for p in probs] == [(3, "signature does not verify")],
       "; ".join(map(str, probs)))

    # An ENTRY frame with a problem does not advance its author's feed; the verdict of the
    # invalid ledger comes from the frames without problems (here: bob's vote only).
    rep = read_ledger(ledger(frame(FRAME_ENTRY, forged), *base[1:]), rf)
    v = DecisionRule(g, rep.entries, rep.connected, rep.equivocators).verdict(10_000)
    ok("self/ledger: a bad ENTRY does not advance its feed",
       [(p.frame, p.offset) for p in rep.problems]
       == [(0, HEADER_LEN), (1, HEADER_LEN + len(base[0]))]
       and [e.id for e in rep.entries] == [v2.id] and v.authorized_tier == 2,
       "; ".join(map(str, rep.problems)))
    # A validly signed halt in an ENTRY frame that only breaks the feed rule (seq 7 where 2 is
    # next) is a problem, and still counts, as if DETACHED (SPEC 6.4).
    stray = signed(seeds[1], Entry(HALT, b"acme", gh, 1, keys[1], 7, bytes([1]) * 32, 5000,
                                   reason=b"out of order"))
    rep = read_ledger(ledger(*base, entry_frame(stray)), rf)
    v = DecisionRule(g, rep.entries, rep.connected, rep.equivocators).verdict(10_000)
    ok("self/ledger: a halt breaking only the feed rule still counts",
       not rep.valid and [p.frame for p in rep.problems] == [3] and v.halted,
       f"{'; '.join(map(str, rep.problems))} {v}")
    rep = read_ledger(ledger(*base, frame(9, b"?")), rf)
    v = DecisionRule(g, rep.entries, rep.connected, rep.equivocators).verdict(10_000)
    ok("self/ledger: verdict of an invalid ledger from its good frames",
       not rep.valid and [p.frame for p in rep.problems] == [3] and v.authorized_tier == 3)

    # Equivocation, for a verifier, is what EVIDENCE frames prove: a DETACHED halt by bob at
    # the position of his vote counts as a halt but is not equivocation.
    bh = signed(seeds[1], Entry(HALT, b"acme", gh, 1, keys[1], 1, ZERO32, 4000,
                                reason=b"other seq 1"))
    rep = read_ledger(ledger(*base, frame(FRAME_DETACHED, raw(bh))), rf)
    v = DecisionRule(g, rep.entries, rep.connected, rep.equivocators).verdict(10_000)
    ok("self/ledger: equivocation only from EVIDENCE frames", rep.valid and v.halted
       and not rep.equivocators and v.equivocations == [], f"{rep.problems} {v}")
    # A DETACHED halt beyond its author's connected head is a gap, not a violation.
    dh = signed(seeds[3], Entry(HALT, b"acme", gh, 1, keys[3], 3, H(b"x"), 4000,
                                reason=b"far ahead"))
    rep = read_ledger(ledger(*base, frame(FRAME_DETACHED, raw(dh))), rf)
    ok("self/ledger: detached halt beyond the head is a gap", rep.valid
       and rep.gaps == {keys[3]: {1, 2}}, f"{rep.problems} {rep.gaps}")


def self_checks_observer(res: Results) -> None:
    """SPEC 3.2, 3.3, 5.1, 5.3: the reserved role `observer`.  A roster of four voters and one
    observer (erin); every verdict test runs the same entries under a control roster where erin
    is an ordinary member ("eng"), so each rule is shown to be what makes the difference."""
    ok = res.check
    day = 86_400_000
    seeds = [bytes([i]) * 32 for i in range(1, 6)]
    keys = [public_key_from_seed(s) for s in seeds]
    names = [b"alice", b"bob", b"carol", b"dave", b"erin"]
    roles = [[b"leader"], [b"safety"], [b"auditor"], [b"eng"], [OBSERVER]]
    ALICE, BOB, CAROL, DAVE, ERIN = range(5)

    def rule(n: int, minimums=(), veto=()) -> Rule:
        return Rule(n, list(minimums), list(veto), 7 * day)

    def roster(erin_roles: list[bytes] = (OBSERVER,), **changes) -> Roster:
        r = Roster(b"acme", 1, ZERO32, 2, 4,
                   [Member(n, k, list(erin_roles) if n == b"erin" else list(rs))
                    for n, k, rs in zip(names, keys, roles)],
                   rule(2, [(b"safety", 1)], [b"auditor"]), [], [STAR], rule(3), rule(3),
                   0, 600_000, 30 * day, 120_000, 1)
        for k, v in changes.items():
            setattr(r, k, v)
        return r

    g = roster()
    control = roster([b"eng"])                     # erin as an ordinary member
    gh = g.hash()

    # -- SPEC 3.3: consistency --------------------------------------------------------------
    def consistent(r: Roster) -> bool:
        return not _rejects(decode_roster, encode_roster(r))

    ok("self/observer: roster with an observer is consistent", consistent(g)
       and g.voters() == 4 and g.is_observer(keys[ERIN]) and not g.may_halt(keys[ERIN]))
    ok("self/observer: min_yes = v (non-observers) is consistent",
       consistent(roster(amend=rule(4))) and consistent(roster(min_attesters=4)))
    for label, r in [
            ("observer holding another role", roster([b"eng", OBSERVER])),
            ("observer in a role minimum", roster(advance=rule(2, [(OBSERVER, 1),
                                                                   (b"safety", 1)]))),
            ("observer in a veto list", roster(resume=rule(3, veto=[b"auditor", OBSERVER]))),
            ("observer in an override's veto list",
             roster(advance_overrides=[(4, rule(2, veto=[OBSERVER]))])),
            ("min_yes > v (= member count, counting the observer)", roster(amend=rule(5))),
            ("min_attesters > v (= member count, counting the observer)",
             roster(min_attesters=5)),
            ("only an observer may halt", roster(halt_roles=[OBSERVER])),
            ("observer in a freshness role minimum",
             roster(freshness_role_minimums=[(OBSERVER, 1)]))]:
        ok(f"self/observer: roster rejects {label}", not consistent(r))
    ok("self/observer: observer in halt_roles beside a voter's role is consistent",
       consistent(roster(halt_roles=[OBSERVER, b"safety"])))

    # The roster file: observers are founders too (SPEC 3.2 last sentence, 3.4).
    msg = tagged(TAG_ROSTER, encode_roster(g))
    doc = {"format": "tiergate-roster-v2", "roster": {
        "lab": "acme", "version": 1, "previous": "00" * 32, "base_tier": 2, "max_tier": 4,
        "members": [{"name": n.decode(), "public_key": k.hex(), "roles": [x.decode() for x in r]}
                    for n, k, r in zip(names, keys, roles)],
        "policy": {"advance": {"min_yes": 2, "role_minimums": {"safety": 1},
                               "veto_roles": ["auditor"]},
                   "resume": {"min_yes": 3}, "amend": {"min_yes": 3},
                   "freshness": {"min_attesters": 1}}},
        "signatures": [{"member": n.decode(), "signature": sign(s, msg).hex()}
                       for n, s in zip(names, seeds)]}
    rf = load_roster_file(json.dumps(doc))
    ok("self/observer: roster file with an observer founder is trusted",
       rf.trusted and rf.hash == gh, "; ".join(rf.problems))
    # SPEC 3.4 defaults: n counts the members that are not observers.
    defaults = copy.deepcopy(doc["roster"])
    del defaults["policy"]
    defaults["members"] = [m for m in defaults["members"] if m["name"] != "dave"]
    r4 = roster_from_json(defaults)
    ok("self/observer: default quorums count voters only (4 members, 3 voters: majority 2, two thirds 2)",
       (r4.advance.min_yes, r4.resume.min_yes, r4.amend.min_yes) == (2, 2, 2)
       and r4.voters() == 3 and consistent(r4))
    solo = copy.deepcopy(defaults)
    solo["members"] = [m for m in solo["members"] if m["name"] in ("alice", "erin")]
    r2 = roster_from_json(solo)
    ok("self/observer: default freshness counts voters only (1 voter + 1 observer: 1)",
       r2.freshness() == (1, []) and r2.voters() == 1 and consistent(r2), str(r2.freshness()))
    doc["signatures"] = [s for s in doc["signatures"] if s["member"] != "erin"]
    ok("self/observer: the observer's founder signature is required",
       load_roster_file(json.dumps(doc)).problems == ["missing signature by founder erin"])

    # -- SPEC 5: the verdict ----------------------------------------------------------------
    mk, feeds = feed_signer(keys, seeds, gh)

    def yes(who: int, p: Entry, time: int, rv: int = 1) -> Entry:
        return mk(who, VOTE, time, rv, proposal=p.id, choice=YES, reason=b"")

    def advance(who: int, time: int, tier: int = 3, rv: int = 1) -> Entry:
        return mk(who, PROPOSAL, time, rv, action=ADVANCE, tier=tier, title=b"t",
                  closes_at=time + day)

    def both(es: list[Entry], now: int = 100_000) -> tuple[Verdict, Verdict]:
        """The verdict under the observer roster and under the control roster."""
        ids = {e.id for e in es}
        return (DecisionRule(g, es, ids, set()).verdict(now),
                DecisionRule(control, es, ids, set()).verdict(now))

    def clear() -> None:
        for f in feeds.values():
            f.clear()

    # An observer's yes vote would reach min_yes = 2 (with bob's, the safety minimum met).
    clear()
    p = advance(ALICE, 1000)
    es = [p, yes(BOB, p, 2000), yes(ERIN, p, 3000)]
    obs, ctl = both(es)
    ok("self/observer: an observer's yes vote does not reach the quorum",
       obs.authorized_tier == 2 and p.id not in obs.passed
       and ctl.authorized_tier == 3 and ctl.passed.get(p.id) == 3000, f"{obs} / {ctl}")
    es.append(yes(DAVE, p, 4000))
    obs, _ = both(es)
    ok("self/observer: a voter's vote then passes it", obs.passed.get(p.id) == 4000
       and obs.authorized_tier == 3, str(obs))

    # An observer's proposal does not fit (SPEC 5.1, 5.2).
    clear()
    p = advance(ERIN, 1000)
    es = [p, yes(ALICE, p, 2000), yes(BOB, p, 3000)]
    obs, ctl = both(es)
    ok("self/observer: an observer's proposal does not fit",
       obs.authorized_tier == 2 and not obs.passed and ctl.authorized_tier == 3, f"{obs} / {ctl}")

    # An observer's halt has no authority, even with halt_roles = ["*"] (SPEC 3.2, 5.4).
    clear()
    p = advance(ALICE, 1000)
    es = [p, yes(ALICE, p, 2000), yes(BOB, p, 3000), mk(ERIN, HALT, 5000, reason=b"stop")]
    obs, ctl = both(es)
    ok("self/observer: an observer's halt does not halt (halt_roles = [*])",
       g.halt_roles == [STAR] and not obs.halted and obs.authorized_tier == 3
       and ctl.halted and ctl.authorized_tier == 2, f"{obs} / {ctl}")
    # ... nor a detached one, nor one inside equivocation evidence (halts count anywhere).
    twin = Entry(HALT, b"acme", gh, 1, keys[ERIN], 1, ZERO32, 6000, reason=b"twin")
    twin.signature = sign(seeds[ERIN], twin.message())
    ids = {e.id for e in es[:3]}
    v = DecisionRule(g, es + [twin], ids, {keys[ERIN]}).verdict(100_000)
    ok("self/observer: an observer's unconnected halts do not halt", not v.halted
       and v.authorized_tier == 3, str(v))

    # An observer's amendment does not fit, so no version 2 (SPEC 5.2).
    clear()
    g2 = copy.deepcopy(g)
    g2.version, g2.previous = 2, gh
    c2 = copy.deepcopy(g2)
    c2.previous = control.hash()
    am = mk(ERIN, PROPOSAL, 1000, action=AMEND, title=b"amend", closes_at=day,
            roster_bytes=encode_roster(g2), roster=g2)
    es = [am] + [yes(i, am, 2000 + i) for i in (ALICE, BOB, CAROL)]
    v = DecisionRule(g, es, {e.id for e in es}, set()).verdict(100_000)
    clear()
    am_c = mk(ERIN, PROPOSAL, 1000, action=AMEND, title=b"amend", closes_at=day,
              roster_bytes=encode_roster(c2), roster=c2)
    es_c = [am_c] + [yes(i, am_c, 2000 + i) for i in (ALICE, BOB, CAROL)]
    vc = DecisionRule(control, es_c, {e.id for e in es_c}, set()).verdict(100_000)
    ok("self/observer: an observer's amendment does not fit",
       v.roster_version == 1 and vc.roster_version == 2, f"{v} / {vc}")

    # Observer status is read in the version in force: version 2 makes dave an observer (and
    # lets 2 yes votes advance, no role minimum).  dave's vote and halt under version 2 do
    # not count; his halt under version 1 does.
    def amend_v2(dave_roles: list[bytes]) -> tuple[Roster, list[Entry]]:
        r = copy.deepcopy(g)
        r.version, r.previous = 2, gh
        r.members[DAVE].roles = dave_roles
        r.advance = rule(2)
        a = mk(ALICE, PROPOSAL, 1000, action=AMEND, title=b"v2", closes_at=day,
               roster_bytes=encode_roster(r), roster=r)
        return r, [a] + [yes(i, a, 2000 + i) for i in (ALICE, BOB, CAROL)]   # start 2002

    results = []
    for dave_roles in ([OBSERVER], [b"eng"]):
        clear()
        _, es = amend_v2(dave_roles)
        p = advance(ALICE, 5000, rv=2)
        es += [p, yes(ALICE, p, 6000, rv=2), yes(DAVE, p, 7000, rv=2)]
        after = es + [mk(DAVE, HALT, 8000, rv=2, reason=b"v2 halt")]
        ids = {e.id for e in after}
        results.append((DecisionRule(g, es, ids, set()).verdict(100_000),
                        DecisionRule(g, after, ids, set()).verdict(100_000)))
    (obs, obs_h), (ctl, ctl_h) = results
    ok("self/observer: a member made observer by an amendment no longer votes",
       obs.roster_version == 2 and obs.authorized_tier == 2
       and ctl.roster_version == 2 and ctl.authorized_tier == 3, f"{obs} / {ctl}")
    ok("self/observer: ... nor halts", not obs_h.halted and ctl_h.halted, f"{obs_h} / {ctl_h}")
    clear()
    _, es = amend_v2([OBSERVER])
    es.append(mk(DAVE, HALT, 1500, reason=b"v1 halt"))              # before start(v2)
    v = DecisionRule(g, es, {e.id for e in es}, set()).verdict(100_000)
    ok("self/observer: ... but his halt under version 1 stands", v.halted
       and v.roster_version == 2, str(v))

    # A ledger holding an observer's entries is valid (they are valid entries that do not
    # count, SPEC 6.4), and its verdict ignores them.
    clear()
    p = advance(ALICE, 1000)
    es = [p, yes(BOB, p, 2000), yes(ERIN, p, 3000), mk(ERIN, HALT, 4000, reason=b"x")]

    def frame(ftype: int, payload: bytes) -> bytes:
        head = enc_u8(ftype) + enc_u32(len(payload)) + payload
        return head + H16(head)

    data = LEDGER_MAGIC + enc_u32(1) + gh + enc_u32(0) + b"".join(
        frame(FRAME_ENTRY, e.content() + e.signature) for e in es)
    rep = read_ledger(data, RosterFile(g, gh, True, []))
    v = DecisionRule(g, rep.entries, rep.connected, rep.equivocators).verdict(100_000)
    ok("self/observer: a ledger with an observer's entries is valid, they do not count",
       rep.valid and len(rep.entries) == 4 and not v.halted and v.authorized_tier == 2,
       f"{rep.problems} {v}")


def self_checks_freshness(res: Results) -> None:
    """SPEC 3.1, 3.3, 3.4: roster formats 1 and 2 and the freshness policy.  Format 1 rosters
    (freshness_quorum alone) are still read and re-encoded byte for byte; format 2 carries
    min_attesters and role minimums among the attesters."""
    ok = res.check
    day = 86_400_000
    seeds = [bytes([i]) * 32 for i in range(1, 6)]
    keys = [public_key_from_seed(s) for s in seeds]
    names = [b"alice", b"bob", b"carol", b"dave", b"erin"]
    roles = [[b"leader"], [b"eng", b"safety"], [b"auditor"], [b"eng"], [OBSERVER]]

    def rule(n: int) -> Rule:
        return Rule(n, [], [], 7 * day)

    def roster(min_attesters: int = 2, minimums=(), fmt: int = 2) -> Roster:
        """Four voters (bob and dave hold eng, bob safety) and an observer, erin."""
        return Roster(b"acme", 1, ZERO32, 2, 4,
                      [Member(n, k, list(r)) for n, k, r in zip(names, keys, roles)],
                      rule(3), [], [STAR], rule(3), rule(3), 0, 600_000, 30 * day, 120_000,
                      min_attesters, list(minimums), fmt)       # the JSON defaults for 4 voters

    def why(data: bytes) -> str | None:
        """The decoder's reason for rejecting the roster content, or None when it is accepted."""
        try:
            decode_roster(data)
        except DecodeError as exc:
            return str(exc)
        return None

    def why_roster(r: Roster) -> str | None:
        """Why the in-memory roster is rejected: by the consistency check, else by the decoder."""
        try:
            check_roster_consistency(r)
            return why(encode_roster(r))
        except DecodeError as exc:
            return str(exc)

    # -- SPEC 3.1: both formats round-trip byte for byte ------------------------------------
    r1 = roster(3, fmt=1)
    c1 = encode_roster(r1)
    d1 = decode_roster(c1)
    ok("self/freshness: a format-1 roster decodes and re-encodes byte-identically",
       c1[0] == 1 and c1.endswith(enc_u32(3)) and encode_roster(d1) == c1
       and d1.format == 1 and d1.hash() == H(tagged(TAG_ROSTER, c1)))
    ok("self/freshness: a format-1 roster's freshness is (freshness_quorum, [])",
       d1.freshness() == (3, []), str(d1.freshness()))
    r2 = roster(3, [(b"eng", 2), (b"safety", 1)])
    c2 = encode_roster(r2)
    d2 = decode_roster(c2)
    ok("self/freshness: a format-2 roster with role minimums round-trips",
       c2[0] == 2 and encode_roster(d2) == c2 and d2.format == 2
       and d2.freshness() == (3, [(b"eng", 2), (b"safety", 1)])
       and c2.endswith(enc_u32(3) + enc_u32(2) + enc_bytes(b"eng") + enc_u32(2)
                       + enc_bytes(b"safety") + enc_u32(1)), str(d2.freshness()))
    c2_plain = encode_roster(roster(3))
    ok("self/freshness: format 2 without role minimums is format 1's bytes + an empty list",
       c2_plain == b"\x02" + c1[1:] + enc_u32(0) and decode_roster(c2_plain).freshness()
       == (3, []) and decode_roster(c2_plain).hash() != d1.hash())

    # -- SPEC 3.1, 3.3: rejects --------------------------------------------------------------
    for fmt in (0, 5, 255):
        ok(f"self/freshness: roster rejects format {fmt}",
           "roster format" in (why(bytes([fmt]) + c2[1:]) or ""), why(bytes([fmt]) + c2[1:]))
    ok("self/freshness: format-2 bytes labelled format 3 are rejected (no drill policy)",
       why(b"\x03" + c2[1:]) is not None)
    ok("self/freshness: format-2 bytes labelled format 4 are rejected (no drill or anonymous policy)",
       why(b"\x04" + c2[1:]) is not None)
    ok("self/freshness: format-1 bytes labelled format 2 are rejected",
       why(b"\x02" + c1[1:]) is not None)
    ok("self/freshness: format-2 bytes labelled format 1 are rejected (trailing bytes)",
       why(b"\x01" + c2[1:]) is not None)
    for label, minimums, needle in [
            ("not ascending", [(b"safety", 1), (b"eng", 1)], "ascending"),
            ("duplicated", [(b"eng", 1), (b"eng", 1)], "ascending"),
            ("count 0", [(b"eng", 0)], "count < 1")]:
        reason = why(encode_roster(roster(2, minimums)))
        ok(f"self/freshness: roster rejects freshness role minimums {label}",
           needle in (reason or "")
           and _rejects(check_roster_consistency, roster(2, minimums)), reason)
    ok("self/freshness: roster rejects a freshness role minimum for observer",
       "'observer'" in (why_roster(roster(2, [(OBSERVER, 1)])) or ""),
       why_roster(roster(2, [(OBSERVER, 1)])))
    ok("self/freshness: roster rejects a freshness role minimum for *",
       why(encode_roster(roster(2, [(STAR, 1)]))) is not None
       and "'*'" in (why_roster(roster(2, [(STAR, 1)])) or "")
       and _rejects(check_roster_consistency, roster(2, [(STAR, 1)])))
    for label, minimums in [("more holders than exist", [(b"safety", 2)]),
                            ("a role nobody holds", [(b"legal", 1)]),
                            ("the observer's role (observers never count)", [(OBSERVER, 1)])]:
        ok(f"self/freshness: roster rejects a role minimum no member can meet: {label}",
           _rejects(decode_roster, encode_roster(roster(2, minimums)))
           and _rejects(check_roster_consistency, roster(2, minimums)))
    ok("self/freshness: role minimums every holder can meet are consistent",
       why(encode_roster(roster(4, [(b"eng", 2), (b"safety", 1)]))) is None)
    for fmt in (1, 2):
        ok(f"self/freshness: format {fmt}: min_attesters 0 and v+1 rejected, 1 and v accepted",
           "min_attesters" in (why(encode_roster(roster(0, fmt=fmt))) or "")
           and "min_attesters" in (why(encode_roster(roster(5, fmt=fmt))) or "")  # v = 4
           and why(encode_roster(roster(1, fmt=fmt))) is None
           and why(encode_roster(roster(4, fmt=fmt))) is None)
    ok("self/freshness: a format-1 roster can carry no role minimums",
       _rejects(check_roster_consistency, roster(2, [(b"eng", 1)], fmt=1))
       and _rejects(encode_roster, roster(2, [(b"eng", 1)], fmt=1)))
    ok("self/freshness: an in-memory roster of format 5 is inconsistent",
       _rejects(check_roster_consistency, roster(2, fmt=5)))

    # -- SPEC 3.4: the JSON carrier ----------------------------------------------------------
    def roster_obj(policy=None, voters: int = 4) -> dict:
        """The "roster" object: the first `voters` voters and the observer erin."""
        members = [{"name": n.decode(), "public_key": k.hex(), "roles": [x.decode() for x in r]}
                   for i, (n, k, r) in enumerate(zip(names, keys, roles))
                   if i < voters or r == [OBSERVER]]
        obj = {"lab": "acme", "version": 1, "previous": "00" * 32, "base_tier": 2,
               "max_tier": 4, "members": members}
        if policy is not None:
            obj["policy"] = policy
        return obj

    def signed_file(obj: dict, file_format: str, content: bytes) -> str:
        message = tagged(TAG_ROSTER, content)
        return json.dumps({"format": file_format, "roster": obj,
                           "signatures": [{"member": m["name"],
                                           "signature": sign(seeds[names.index(
                                               m["name"].encode())], message).hex()}
                                          for m in obj["members"]]})

    # A v2 file with role minimums is trusted when signed over the hand-built format-2 bytes,
    # a v1 file over the hand-built format-1 bytes.
    pol2 = {"freshness": {"role_minimums": {"safety": 1, "eng": 2}, "min_attesters": 3}}
    f2 = load_roster_file(signed_file(roster_obj(pol2), "tiergate-roster-v2", c2))
    ok("self/freshness: roster file v2 with freshness role minimums is trusted",
       f2.trusted and f2.hash == r2.hash() and f2.roster.format == 2
       and f2.roster.freshness() == (3, [(b"eng", 2), (b"safety", 1)]), "; ".join(f2.problems))
    f1 = load_roster_file(signed_file(roster_obj({"freshness_quorum": 3}), "tiergate-roster-v1",
                                      c1))
    ok("self/freshness: roster file v1 (freshness_quorum) is a format-1 roster, trusted",
       f1.trusted and f1.hash == r1.hash() and f1.roster.format == 1
       and f1.roster.freshness() == (3, []), "; ".join(f1.problems))

    # Defaults: v2 min_attesters 2 for >= 2 voters, 1 for a single voter; v1 always 1.
    for voters, want in [(4, 2), (2, 2), (1, 1)]:
        r = roster_from_json(roster_obj(voters=voters), 2)
        ok(f"self/freshness: v2 default freshness with {voters} voter(s) is ({want}, [])",
           r.freshness() == (want, []) and r.format == 2
           and not _rejects(check_roster_consistency, r), str(r.freshness()))
        r = roster_from_json(roster_obj(voters=voters), 1)
        ok(f"self/freshness: v1 default freshness_quorum with {voters} voter(s) is 1",
           r.freshness() == (1, []) and r.format == 1, str(r.freshness()))
    ok("self/freshness: v2 freshness object without role_minimums",
       roster_from_json(roster_obj({"freshness": {"min_attesters": 4}}), 2).freshness()
       == (4, []))

    # Fields of the other format, and malformed freshness objects, are not a roster.
    ok("self/freshness: freshness_quorum in a v2 file is rejected",
       not_a_roster(signed_file(roster_obj({"freshness_quorum": 2}), "tiergate-roster-v2", c2)))
    ok("self/freshness: freshness in a v1 file is rejected",
       not_a_roster(signed_file(roster_obj({"freshness": {"min_attesters": 2}}),
                                "tiergate-roster-v1", c1)))
    for label, fresh in [("without min_attesters", {"role_minimums": {"eng": 1}}),
                         ("with an unknown key", {"min_attesters": 2, "quorum": 2}),
                         ("not an object", 2),
                         ("with role_minimums not an object", {"min_attesters": 2,
                                                               "role_minimums": ["eng"]}),
                         ("with a negative count", {"min_attesters": 2,
                                                    "role_minimums": {"eng": -1}}),
                         ("with a bad role ident", {"min_attesters": 2,
                                                    "role_minimums": {"Eng": 1}})]:
        ok(f"self/freshness: v2 freshness {label} is not a roster",
           not_a_roster(signed_file(roster_obj({"freshness": fresh}), "tiergate-roster-v2", c2)))
    dup = signed_file(roster_obj({"freshness": {"min_attesters": 2}}), "tiergate-roster-v2", c2)
    ok("self/freshness: duplicate key in the freshness object is not a roster",
       not_a_roster(dup.replace('"min_attesters": 2', '"min_attesters": 2, "min_attesters": 3')))
    ok("self/freshness: duplicate role in freshness role_minimums is not a roster",
       not_a_roster(dup.replace('"min_attesters": 2',
                                '"min_attesters": 2, "role_minimums": {"eng": 1, "eng": 2}')))
    for file_format in ("tiergate-roster-v5", "tiergate-roster", "", None, 2):
        ok(f"self/freshness: file format {file_format!r} is not a roster",
           not_a_roster(signed_file(roster_obj(), file_format, c2)))

    # Inconsistent (not "not a roster"): the signature check passes, consistency does not.
    for label, fresh in [("role minimum for observer", {"min_attesters": 2,
                                                        "role_minimums": {"observer": 1}}),
                         ("role minimum for *", {"min_attesters": 2, "role_minimums": {"*": 1}}),
                         ("role minimum no member can meet", {"min_attesters": 2,
                                                              "role_minimums": {"safety": 2}}),
                         ("min_attesters 0", {"min_attesters": 0}),
                         ("min_attesters > v", {"min_attesters": 5})]:
        obj = roster_obj({"freshness": fresh})
        content = encode_roster(roster_from_json(copy.deepcopy(obj), 2))
        try:
            bad = load_roster_file(signed_file(obj, "tiergate-roster-v2", content))
            ok(f"self/freshness: roster file v2 with {label} is inconsistent", not bad.trusted
               and bad.problems and all("inconsistent" in p for p in bad.problems),
               str(bad.problems))
        except NotARoster as exc:
            ok(f"self/freshness: roster file v2 with {label} is inconsistent", False,
               f"not a roster: {exc}")
    obj = roster_obj({"freshness_quorum": 0})
    bad = load_roster_file(signed_file(obj, "tiergate-roster-v1",
                                       encode_roster(roster_from_json(copy.deepcopy(obj), 1))))
    ok("self/freshness: roster file v1 with freshness_quorum 0 is inconsistent",
       not bad.trusted and all("inconsistent" in p for p in bad.problems), str(bad.problems))


def self_checks_drills(res: Results) -> None:
    """SPEC 3.1, 3.3, 3.4, 4.1, 5.8, 6.2-6.4: roster format 3 (the drill policy), drills and
    DRILL-ACKs, their ledger frames, and the drill part of the verdict, on data built here."""
    ok = res.check
    day = 86_400_000
    seeds = [bytes([i]) * 32 for i in range(11, 18)]
    keys = [public_key_from_seed(s) for s in seeds]
    names = [b"alice", b"bob", b"carol", b"dave", b"gate-a", b"gate-b", b"slurm"]
    roles = [[b"leader"], [b"safety"], [b"board"], [b"auditor"], [OBSERVER], [OBSERVER],
             [OBSERVER]]
    ALICE, BOB, CAROL, DAVE, GATE_A, GATE_B, SLURM = range(7)

    def rule(n: int) -> Rule:
        return Rule(n, [], [], 7 * day)

    def roster(drill: DrillPolicy | None = None, fmt: int = 3, members=None) -> Roster:
        """Four voters and three observers; base 0, max 2; advances by 2 yes votes."""
        ms = [Member(n, k, list(r)) for n, k, r in zip(names, keys, roles)]
        if members is not None:
            ms = [m for m in ms if m.name in members]
        return Roster(b"acme", 1, ZERO32, 0, 2, ms, rule(2), [], [STAR], rule(2), rule(3), 0,
                      600_000, 30 * day, 120_000, 2, [], fmt,
                      drill if drill is not None else DrillPolicy())

    def why(r: Roster) -> str | None:
        """Why the roster is rejected (consistency check, else its encoding's decoding)."""
        try:
            check_roster_consistency(r)
            decode_roster(encode_roster(r))
        except DecodeError as exc:
            return str(exc)
        return None

    policy = DrillPolicy([b"safety"], [b"gate-a", b"gate-b"], 7 * day, 30_000, 1)

    # -- SPEC 3.1: format 3 is format 2 followed by `drill` ------------------------------------
    g = roster(policy)
    c3 = encode_roster(g)
    c2 = encode_roster(roster(fmt=2))
    tail = (enc_list([b"safety"], enc_bytes) + enc_list([b"gate-a", b"gate-b"], enc_bytes)
            + enc_u64(7 * day) + enc_u64(30_000) + enc_u8(1))
    d3 = decode_roster(c3)
    ok("self/drills: a format-3 roster is format 2's bytes followed by the drill policy",
       c3 == b"\x03" + c2[1:] + tail and encode_roster(d3) == c3 and d3.format == 3
       and d3.drill == policy)
    default3 = roster(DrillPolicy(), fmt=3)
    ok("self/drills: a format-3 roster with the default drill policy is still read",
       why(default3) is None and decode_roster(encode_roster(default3)).drill.is_default()
       and default3.hash() != roster(fmt=2).hash())
    ok("self/drills: formats 1 and 2 have the default drill policy",
       decode_roster(c2).drill == DrillPolicy(roles=[], enforcers=[], interval_ms=0,
                                              deadline_ms=60_000, lapse_on_overdue=0)
       and _rejects(check_roster_consistency, roster(policy, fmt=2))
       and _rejects(encode_roster, roster(policy, fmt=2))
       and _rejects(encode_roster, roster(policy, fmt=1)))
    ok("self/drills: format-3 bytes labelled format 2 are rejected (trailing bytes)",
       _rejects(decode_roster, b"\x02" + c3[1:]))

    # -- SPEC 3.3: consistency of the drill policy -------------------------------------------
    def pol(**changes) -> DrillPolicy:
        p = copy.deepcopy(policy)
        for k, v in changes.items():
            setattr(p, k, v)
        return p

    for label, drill, members, needle in [
            ("an enforcer that is not an observer", pol(enforcers=[b"alice", b"gate-a"]), None,
             "not an observer"),
            ("an enforcer that is no member", pol(enforcers=[b"gate-a", b"gate-z"]), None,
             "not a member"),
            ("enforcers not ascending", pol(enforcers=[b"gate-b", b"gate-a"]), None,
             "ascending"),
            ("duplicate enforcers", pol(enforcers=[b"gate-a", b"gate-a"]), None, "ascending"),
            ("'observer' as a drill role", pol(roles=[OBSERVER, b"safety"]), None, "observer"),
            ("drill roles nobody holds", pol(roles=[b"legal"]), None, "no member may"),
            ("drill roles not ascending", pol(roles=[b"safety", b"board"]), None, "ascending"),
            ("interval 59999 ms", pol(interval_ms=59_999), None, "interval"),
            ("interval above 10 years", pol(interval_ms=MAX_DURATION_MS + 1), None, "interval"),
            ("deadline 999 ms", pol(deadline_ms=999), None, "deadline"),
            ("deadline above 24 h", pol(deadline_ms=86_400_001, interval_ms=7 * day), None,
             "deadline"),
            ("deadline equal to the interval", pol(interval_ms=60_000, deadline_ms=60_000), None,
             "deadline"),
            ("lapse_on_overdue 2", pol(lapse_on_overdue=2), None, "lapse_on_overdue"),
            ("lapse_on_overdue without an interval", pol(interval_ms=0), None,
             "without an interval"),
            ("lapse_on_overdue without any enforcer (no observer)", pol(enforcers=[]),
             [b"alice", b"bob", b"carol", b"dave"], "without an enforcer")]:
        reason = why(roster(drill, members=members))
        ok(f"self/drills: roster rejects {label}", needle in (reason or ""), reason)
    for label, drill in [("'*' as a drill role", pol(roles=[STAR])),
                         ("'*' beside another drill role", pol(roles=[STAR, b"safety"])),
                         ("no drill roles (the halt roles)", pol(roles=[])),
                         ("no enforcers named (every observer)", pol(enforcers=[])),
                         ("no schedule, no lapse", pol(interval_ms=0, lapse_on_overdue=0)),
                         ("the longest deadline below the interval",
                          pol(interval_ms=86_400_001, deadline_ms=86_400_000)),
                         ("interval 1 minute, deadline 59999 ms",
                          pol(interval_ms=60_000, deadline_ms=59_999)),
                         ("interval of 10 years", pol(interval_ms=MAX_DURATION_MS))]:
        ok(f"self/drills: roster accepts {label}", why(roster(drill)) is None,
           why(roster(drill)))
    bad_flag = bytearray(c3)
    bad_flag[-1] = 2
    ok("self/drills: a lapse_on_overdue byte of 2 does not decode",
       _rejects(decode_roster, bytes(bad_flag)))
    ok("self/drills: may start a drill: the drill roles, '*' every voter, else the halt roles",
       [g.may_drill(k) for k in keys] == [False, True, False, False, False, False, False]
       and [roster(pol(roles=[STAR])).may_drill(k) for k in keys] == [True] * 4 + [False] * 3
       and [roster(pol(roles=[])).may_drill(k) for k in keys] == [True] * 4 + [False] * 3
       and [m.name for m in roster(pol(enforcers=[])).drill_enforcers()]
       == [b"gate-a", b"gate-b", b"slurm"])

    # -- SPEC 3.4: the v3 carrier ---------------------------------------------------------------
    def members_json() -> list[dict]:
        return [{"name": n.decode(), "public_key": k.hex(), "roles": [x.decode() for x in r]}
                for n, k, r in zip(names, keys, roles)]

    def roster_doc(pol_obj: dict, file_format: str = "tiergate-roster-v3", content=None) -> str:
        obj = {"lab": "acme", "version": 1, "previous": "00" * 32, "base_tier": 0, "max_tier": 2,
               "members": list(reversed(members_json())), "policy": pol_obj}
        if content is None:
            content = encode_roster(roster_from_json(copy.deepcopy(obj),
                                                     ROSTER_FILE_FORMATS.get(file_format, 3)))
        message = tagged(TAG_ROSTER, content)
        return json.dumps({"format": file_format, "roster": obj,
                           "signatures": [{"member": n.decode(), "signature": sign(s, message).hex()}
                                          for n, s in zip(names, seeds)]})

    base_policy = {"advance": {"min_yes": 2}, "resume": {"min_yes": 2}, "amend": {"min_yes": 3},
                   "freshness": {"min_attesters": 2}}
    drill_obj = {"roles": ["safety"], "enforcers": ["gate-b", "gate-a"], "interval": "7d",
                 "deadline": "30s", "lapse_on_overdue": True}
    rf = load_roster_file(roster_doc({**base_policy, "drill": drill_obj}, content=c3))
    ok("self/drills: roster file v3 with a drill object is the format-3 roster, trusted",
       rf.trusted and rf.hash == g.hash() and rf.roster.drill == policy, "; ".join(rf.problems))
    r = roster_from_json({"lab": "acme", "version": 1, "previous": "00" * 32, "base_tier": 0,
                          "max_tier": 2, "members": members_json(),
                          "policy": {"drill": {}}}, 3)
    ok("self/drills: v3 drill object fields default as SPEC 3.1 says",
       r.format == 3 and r.drill.is_default() and why(r) is None)
    r = roster_from_json({"lab": "acme", "version": 1, "previous": "00" * 32, "base_tier": 0,
                          "max_tier": 2, "members": members_json()}, 3)
    ok("self/drills: a v3 file without a drill object is a format-3 roster (default policy)",
       r.format == 3 and r.drill.is_default())
    ok("self/drills: a drill object in a v2 file is an unknown field",
       not_a_roster(roster_doc({**base_policy, "drill": drill_obj}, "tiergate-roster-v2",
                               content=c2)))
    ok("self/drills: freshness_quorum in a v3 file is an unknown field",
       not_a_roster(roster_doc({"freshness_quorum": 2}, content=c3)))
    for label, d in [("lapse_on_overdue 1 (not a boolean)", {**drill_obj, "lapse_on_overdue": 1}),
                     ("an unknown key", {**drill_obj, "grace": "1s"}),
                     ("a bad interval", {**drill_obj, "interval": "7 days"}),
                     ("roles not a list", {**drill_obj, "roles": "safety"}),
                     ("a bad enforcer ident", {**drill_obj, "enforcers": ["Gate-A"]}),
                     ("not an object", ["safety"])]:
        ok(f"self/drills: v3 drill object with {label} is not a roster",
           not_a_roster(roster_doc({**base_policy, "drill": d}, content=c3)))
    for label, d in [("a duplicate enforcer", {**drill_obj, "enforcers": ["gate-a", "gate-a"]}),
                     ("an enforcer that is not an observer", {**drill_obj, "enforcers": ["bob"]}),
                     ("lapse_on_overdue and no interval", {**drill_obj, "interval": "0s"})]:
        bad = load_roster_file(roster_doc({**base_policy, "drill": d}))
        ok(f"self/drills: v3 roster file with {label} is inconsistent",
           not bad.trusted and bad.problems and all("inconsistent" in p for p in bad.problems),
           str(bad.problems))

    # -- SPEC 4.1: drill and DRILL-ACK entries --------------------------------------------------
    gh = rf.hash
    mk, feeds = feed_signer(keys, seeds, lambda: gh)   # gh switches rosters below

    def ack(who: int, drill: Entry, stopped: int, time: int | None = None, received=None,
            seed: bytes | None = None, author: bytes | None = None, **body) -> Entry:
        """A DRILL-ACK (seq 0, prev zero) of `drill` by member `who`."""
        received = drill.time + 5 if received is None else received
        e = Entry(DRILL_ACK, b"acme", gh, 1, author or keys[who], 0, ZERO32,
                  stopped + 1 if time is None else time, drill=drill.id, received_at=received,
                  stopped_at=stopped, jobs=body.pop("jobs", 3), canary=body.pop("canary", 0))
        e.signature = sign(seed or seeds[who], e.message())
        return e

    def clear() -> None:
        for f in feeds.values():
            f.clear()

    d0 = mk(BOB, DRILL, 5000, reason=b"quarterly halt drill")
    a0 = ack(GATE_A, d0, 5120, canary=1)
    for e in (d0, a0):
        again = decode_signed_entry(e.content() + e.signature)
        ok(f"self/drills: kind {e.kind} entry round trip", again.content() == e.content()
           and again.id == e.id and entry_valid_for(again, b"acme", gh) is None)
    ok("self/drills: a DRILL-ACK body is drill || received_at || stopped_at || jobs || canary",
       a0.content().endswith(d0.id + enc_u64(5005) + enc_u64(5120) + enc_u32(3) + enc_u8(1))
       and a0.content()[1] == 5 and d0.content()[1] == 4)

    def variant(e: Entry, **changes) -> bytes:
        e = copy.deepcopy(e)
        e.__dict__.pop("_id", None)
        for k, v in changes.items():
            setattr(e, k, v)
        return encode_entry(e)

    for label, data in [("a DRILL-ACK with seq 1", variant(a0, seq=1)),
                        ("a DRILL-ACK with a non-zero prev", variant(a0, prev=d0.id)),
                        ("a DRILL-ACK with seq 2 and a prev", variant(a0, seq=2, prev=d0.id)),
                        ("a DRILL-ACK stopped before it was received",
                         variant(a0, received_at=5121)),
                        ("a DRILL-ACK with canary 3", variant(a0, canary=3)),
                        ("a DRILL-ACK with roster_version 0", variant(a0, roster_version=0)),
                        ("a drill with seq 0", variant(d0, seq=0)),
                        ("a drill with an empty reason", variant(d0, reason=b"")),
                        ("a drill with a control character", variant(d0, reason=b"a\x1b")),
                        ("a drill with a 1025-byte reason", variant(d0, reason=b"x" * 1025)),
                        ("a halt with seq 0", variant(d0, kind=HALT, seq=0)),
                        ("entry kind 6", variant(d0, kind=6)),
                        ("a DRILL-ACK with a trailing byte", encode_entry(a0) + b"\0"),
                        ("a truncated DRILL-ACK", encode_entry(a0)[:-1])]:
        ok(f"self/drills: entry decoder rejects {label}", _rejects(decode_entry, data))
    ok("self/drills: a DRILL-ACK with stopped_at = received_at and canary 2 decodes",
       not _rejects(decode_entry, variant(a0, received_at=5120, canary=2)))

    # -- SPEC 5.8: the verdict ---------------------------------------------------------------------
    def frame(ftype: int, payload: bytes) -> bytes:
        head = enc_u8(ftype) + enc_u32(len(payload)) + payload
        return head + H16(head)

    def raw(e: Entry) -> bytes:
        return e.content() + e.signature

    def ledger(entries: list[Entry], acks: list[Entry] = (), extra: tuple[bytes, ...] = ()) -> bytes:
        return (LEDGER_MAGIC + enc_u32(1) + gh + enc_u32(0)
                + b"".join(frame(FRAME_ENTRY, raw(e)) for e in entries)
                + b"".join(frame(FRAME_DETACHED, raw(a)) for a in acks) + b"".join(extra))

    def run(entries, acks=(), now: int = 0, extra=(), genesis: RosterFile = rf) -> Verdict:
        rep = read_ledger(ledger(entries, acks, extra), genesis)
        assert rep.valid, "; ".join(map(str, rep.problems))
        return DecisionRule(genesis.roster, rep.entries, rep.connected,
                            rep.equivocators).verdict(now)

    def summary(v: Verdict) -> list:
        return [(d.state, d.missing, [(a.member, a.latency_ms, a.on_time, a.expected)
                                      for a in d.acks]) for d in v.drills]

    T = 1_000_000

    def fresh_passing() -> list[Entry]:
        """New feeds: alice proposes tier 1 at T; alice and bob vote yes (passes at T + 2)."""
        clear()
        adv = mk(ALICE, PROPOSAL, T, action=ADVANCE, tier=1, title=b"tier 1", closes_at=T + day)
        return [adv, mk(ALICE, VOTE, T + 1, proposal=adv.id, choice=YES, reason=b""),
                mk(BOB, VOTE, T + 2, proposal=adv.id, choice=YES, reason=b"")]

    passing = fresh_passing()
    D = T + 10_000
    drill = mk(BOB, DRILL, D, reason=b"drill")
    deadline = D + 30_000
    acks = [ack(GATE_A, drill, D + 120, time=D + 200), ack(GATE_B, drill, D + 60)]
    entries = passing + [drill]
    later = T + 3_600_000
    v = run(entries, acks, later)
    ok("self/drills: every enforcer on time: succeeded, tier kept, lapses_at = min(lapse, due)",
       summary(v) == [("succeeded", [], [("gate-a", 120, True, True), ("gate-b", 60, True, True)])]
       and v.drills[0].deadline == deadline and v.drills[0].member == "bob"
       and v.authorized_tier == 1 and not v.drill_overdue and v.drill_last_success == D
       and v.drill_due_at == D + 7 * day and v.authorized_since == T + 2
       and v.lapses_at == D + 7 * day, f"{summary(v)} {v}")
    v = run(entries, acks, D + 7 * day)
    ok("self/drills: at the due time the drill is overdue: base tier, not halted, no lapse",
       v.drill_overdue and v.authorized_tier == 0 and not v.halted and v.tier == 1
       and v.authorized_since is None and v.lapses_at is None, str(v))
    ok("self/drills: one ms before the due time the tier stands",
       run(entries, acks, D + 7 * day - 1).authorized_tier == 1)
    v = run(passing, (), later)
    ok("self/drills: no drill ever succeeded: overdue, base tier (lapse_on_overdue)",
       v.drills == [] and v.drill_overdue and v.authorized_tier == 0 and v.drill_due_at is None)
    v = run(entries, acks[:1], later)
    ok("self/drills: an enforcer without acknowledgement: failed after the deadline, missing",
       summary(v) == [("failed", ["gate-b"], [("gate-a", 120, True, True)])]
       and v.drill_overdue and v.authorized_tier == 0, str(summary(v)))
    v = run(entries, acks[:1], deadline - 1)
    ok("self/drills: before the deadline the drill is pending (and still overdue: none succeeded)",
       summary(v) == [("pending", ["gate-b"], [("gate-a", 120, True, True)])]
       and v.drill_overdue and v.authorized_tier == 0, str(summary(v)))
    v = run(entries, acks[:1], deadline)
    ok("self/drills: at the deadline instant the drill has failed", summary(v)[0][0] == "failed")
    v = run(entries, [acks[0], ack(GATE_B, drill, deadline)], later)
    ok("self/drills: stopped_at = the deadline is on time",
       summary(v)[0][0] == "succeeded" and v.drills[0].acks[1].latency_ms == 30_000)
    v = run(entries, [acks[0], ack(GATE_B, drill, deadline + 1)], later)
    ok("self/drills: stopped_at after the deadline is late: failed, missing",
       summary(v) == [("failed", ["gate-b"], [("gate-a", 120, True, True),
                                              ("gate-b", 30_001, False, True)])], str(summary(v)))
    early = ack(GATE_B, drill, D - 50, time=D - 40, received=D - 60)
    v = run(entries, [acks[0], early], later)
    ok("self/drills: a stop dated before the drill (clocks differ) has latency 0",
       summary(v) == [("succeeded", [], [("gate-a", 120, True, True), ("gate-b", 0, True, True)])],
       str(summary(v)))
    late_first = ack(GATE_B, drill, deadline + 5, time=D + 100)
    on_time_later = ack(GATE_B, drill, D + 70, time=D + 300)
    v = run(entries, [acks[0], late_first, on_time_later], later)
    ok("self/drills: one DRILL-ACK per acknowledger, the smallest (time, id): the late one",
       summary(v)[0][:2] == ("failed", ["gate-b"]) and len(v.drills[0].acks) == 2
       and v.drills[0].acks[1].id == late_first.id, str(summary(v)))
    v = run(entries, [acks[0], on_time_later, ack(GATE_B, drill, deadline + 5, time=D + 400)],
            later)
    ok("self/drills: ... and the earlier on-time one when it comes first",
       summary(v)[0][0] == "succeeded" and v.drills[0].acks[1].id == on_time_later.id)
    same_time = [ack(GATE_B, drill, D + 70, time=D + 500, jobs=j) for j in (1, 2)]
    first = min(same_time, key=lambda a: a.id)
    v = run(entries, [acks[0]] + same_time, later)
    ok("self/drills: equal times: the smaller id is taken",
       [a.id for a in v.drills[0].acks if a.member == "gate-b"] == [first.id])
    v = run(entries, acks + [ack(SLURM, drill, D + 900), ack(CAROL, drill, D + 10)], later)
    ok("self/drills: acknowledgements by others are reported, not expected, and count for nothing",
       summary(v) == [("succeeded", [], [("carol", 10, True, False), ("gate-a", 120, True, True),
                                         ("gate-b", 60, True, True), ("slurm", 900, True, False)])],
       str(summary(v)))
    outsider_seed = bytes([99]) * 32
    outsider = public_key_from_seed(outsider_seed)
    v = run(entries, acks + [ack(0, drill, D + 10, seed=outsider_seed, author=outsider)], later)
    ok("self/drills: a DRILL-ACK by a key on no roster version is ignored",
       summary(v) == [("succeeded", [], [("gate-a", 120, True, True), ("gate-b", 60, True, True)])])
    ahead = ack(GATE_B, drill, D + 60, time=D + 130_001)
    v = run(entries, [acks[0], ahead], D + 10_001)          # horizon = D + 130_001 (skew 2 min)
    ok("self/drills: a DRILL-ACK dated at the horizon counts",
       [a.member for a in v.drills[0].acks] == ["gate-a", "gate-b"])
    v = run(entries, [acks[0], ahead], D + 10_000)
    ok("self/drills: a DRILL-ACK dated after the horizon is not counted yet",
       [a.member for a in v.drills[0].acks] == ["gate-a"] and v.drills[0].state == "pending")
    v = run(passing, [ack(GATE_A, passing[0], T + 5)], later)
    ok("self/drills: a DRILL-ACK naming no drill that counts changes nothing",
       v.drills == [] and v.authorized_tier == 0)

    # Which drills count.
    passing = fresh_passing()
    by_alice = mk(ALICE, DRILL, D, reason=b"not a drill role")
    by_gate = mk(GATE_A, DRILL, D, reason=b"observer")
    by_bob_v2 = mk(BOB, DRILL, D, rv=2, reason=b"names version 2")
    by_bob_ahead = mk(BOB, DRILL, later + 130_000, reason=b"dated ahead")
    es = passing + [by_alice, by_gate, by_bob_v2, by_bob_ahead]
    all_acks = [ack(w, d, D + 50 if d.time == D else d.time + 50, time=d.time + 60)
                for d in es[3:] for w in (GATE_A, GATE_B)]
    v = run(es, all_acks, later)
    ok("self/drills: drills without authority, by observers, of another version or dated ahead "
       "do not count", v.drills == [] and v.drill_overdue and v.authorized_tier == 0, str(v))
    v = run(es, all_acks, later + 60_000)
    ok("self/drills: a drill dated ahead counts once within the horizon",
       [d.id for d in v.drills] == [by_bob_ahead.id] and v.drills[0].state == "succeeded"
       and v.authorized_tier == 1, str(summary(v)))
    clear()
    gap_drill = Entry(DRILL, b"acme", gh, 1, keys[BOB], 5, H(b"x"), D, reason=b"beyond a gap")
    gap_drill.signature = sign(seeds[BOB], gap_drill.message())
    rule_ = DecisionRule(g, [gap_drill, ack(GATE_A, gap_drill, D + 1),
                             ack(GATE_B, gap_drill, D + 1)], set(), set())
    ok("self/drills: a drill that is not connected does not count",
       rule_.verdict(later).drills == [])
    rule_ = DecisionRule(g, [gap_drill, ack(GATE_A, gap_drill, D + 1),
                             ack(GATE_B, gap_drill, D + 1)], {gap_drill.id}, set())
    ok("self/drills: ... and counts once connected", [d.state for d in rule_.verdict(later).drills]
       == ["succeeded"])

    # The schedule follows the roster in force at now; without lapse_on_overdue nothing changes.
    for label, drill_policy, tier, overdue in [
            ("overdue without lapse_on_overdue keeps the tier", pol(lapse_on_overdue=0), 1, True),
            ("no interval: no schedule, never overdue", pol(interval_ms=0, lapse_on_overdue=0),
             1, False)]:
        gx = roster(drill_policy)
        gfile = RosterFile(gx, gx.hash(), True, [])
        gh_saved, gh = gh, gfile.hash
        clear()
        px = mk(ALICE, PROPOSAL, T, action=ADVANCE, tier=1, title=b"t", closes_at=T + day)
        vx = run([px, mk(ALICE, VOTE, T + 1, proposal=px.id, choice=YES, reason=b""),
                  mk(BOB, VOTE, T + 2, proposal=px.id, choice=YES, reason=b"")], (), later, (),
                 gfile)
        gh = gh_saved
        ok(f"self/drills: {label}", vx.authorized_tier == tier and vx.drill_overdue == overdue
           and vx.lapses_at == T + 2 + 30 * day, str(vx))
    passing = fresh_passing()
    drill2 = mk(BOB, DRILL, D, reason=b"drill")
    acks2 = [ack(GATE_A, drill2, D + 120, time=D + 200), ack(GATE_B, drill2, D + 60)]
    halt = mk(DAVE, HALT, D + 60_000, reason=b"stop")
    v = run(passing + [drill2, halt], acks2, later)
    ok("self/drills: a drill is not a halt, and a halt is not undone by a drill",
       v.halted and v.authorized_tier == 0 and not v.drill_overdue and v.lapses_at is None
       and run(passing + [drill2], acks2, later).authorized_tier == 1)

    # -- SPEC 6.2-6.4: frames ----------------------------------------------------------------
    good = ledger(passing + [drill2], acks2)
    rep = read_ledger(good, rf)
    ok("self/drills: DETACHED frames hold DRILL-ACKs; they make no gap",
       rep.valid and rep.gaps == {} and len(rep.entries) == 6, "; ".join(map(str, rep.problems)))
    offset = len(ledger(passing + [drill2]))
    rep = read_ledger(ledger(passing + [drill2], (), (frame(FRAME_ENTRY, raw(acks2[0])),)), rf)
    ok("self/drills: an ENTRY frame holding a DRILL-ACK is a violation, and it does not count",
       [(p.frame, p.offset) for p in rep.problems] == [(4, offset)]
       and all(e.kind != DRILL_ACK for e in rep.entries), "; ".join(map(str, rep.problems)))
    rep = read_ledger(ledger(passing, (), (frame(FRAME_DETACHED, raw(drill2)),)), rf)
    ok("self/drills: a DETACHED frame holding a drill is a violation",
       [(p.frame, p.offset) for p in rep.problems] == [(3, len(ledger(passing)))],
       "; ".join(map(str, rep.problems)))
    twin = ack(GATE_B, drill2, D + 61)
    evidence = frame(FRAME_EVIDENCE, enc_bytes(raw(acks2[1])) + enc_bytes(raw(twin)))
    rep = read_ledger(ledger(passing + [drill2], acks2, (evidence,)), rf)
    ok("self/drills: two DRILL-ACKs of one author are never equivocation",
       [p.frame for p in rep.problems] == [6] and not rep.equivocators,
       "; ".join(map(str, rep.problems)))
    rep = read_ledger(ledger(passing + [drill2], acks2 + [twin]), rf)
    v = DecisionRule(g, rep.entries, rep.connected, rep.equivocators).verdict(later)
    ok("self/drills: a second DRILL-ACK of one author in a DETACHED frame is no problem",
       rep.valid and v.equivocations == [] and summary(v)[0][0] == "succeeded")
    rep = read_ledger(ledger(passing + [drill2], acks2 + acks2), rf)
    v = DecisionRule(g, rep.entries, rep.connected, rep.equivocators).verdict(later)
    ok("self/drills: a DRILL-ACK held twice counts once",
       rep.valid and len(v.drills[0].acks) == 2)


def _rejects(decode, data: bytes) -> bool:
    try:
        decode(data)
    except DecodeError:
        return True
    return False


def main(argv: list[str]) -> int:
    res = Results(verbose="-v" in argv)
    try:
        self_checks(res)
    except Exception as exc:            # a crash is a failure, and the summary still prints
        res.check("self-checks", False, f"crashed: {exc!r}")
    try:
        self_checks_observer(res)
    except Exception as exc:
        res.check("self-checks (observer)", False, f"crashed: {exc!r}")
    try:
        self_checks_freshness(res)
    except Exception as exc:
        res.check("self-checks (freshness)", False, f"crashed: {exc!r}")
    try:
        self_checks_drills(res)
    except Exception as exc:
        res.check("self-checks (drills)", False, f"crashed: {exc!r}")
    try:
        self_checks_noise(res)
    except Exception as exc:
        res.check("self-checks (noise)", False, f"crashed: {exc!r}")
    check_signatures(res)
    check_entries(res)
    check_rejects(res)
    check_keys(res)
    check_ledgers(res)
    check_noise(res)
    check_ring(res)
    print(f"{res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
