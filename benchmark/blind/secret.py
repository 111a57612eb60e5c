"""A round's secret: what every draw derives from, what its commitment hashes, and its sealing key.

The operator keeps the secret in a file outside the repository while the round is open. From it
come, by HMAC-SHA256 with a label per use, every random choice of the round (so a revealed secret
lets anyone redraw the round) and the AES-256-GCM key (derived with HKDF) that seals what must
survive a restart: nothing of an open round is written to the repository in clear. The cipher is
`cryptography`'s AESGCM, whose authentication tag also tells a wrong secret from a damaged file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_PATTERN = re.compile(r"[0-9a-f]{64}")
NONCE_BYTES = 12


class SecretError(ValueError):
    """A secret file that is missing, malformed, or not the one a round was opened with."""


def new_secret() -> str:
    """256 random bits as 64 hex digits: enough that its published sha256 reveals nothing."""
    return secrets.token_hex(32)


@dataclass(frozen=True)
class Secret:
    text: str

    @classmethod
    def read(cls, path: Path) -> "Secret":
        path = Path(path)
        if not path.is_file():
            raise SecretError(f"{path}: no such secret file; create one with `willitmerge blind secret --out {path}` "
                              "and keep it outside the repository")
        text = path.read_text().strip()
        if not SECRET_PATTERN.fullmatch(text):
            raise SecretError(f"{path}: a secret is 64 lowercase hex digits (256 random bits) on one line; make one "
                              "with `willitmerge blind secret --out FILE`")
        return cls(text)

    @property
    def sha256(self) -> str:
        """The commitment to the secret (its 64 hex digits, hashed as text)."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    def token(self, *label: object) -> str:
        """A hex string determined by the secret and the label, unpredictable without the secret."""
        return hmac.new(bytes.fromhex(self.text), ":".join(map(str, label)).encode(), hashlib.sha256).hexdigest()

    def seed(self, *label: object) -> int:
        return int(self.token(*label)[:16], 16)

    def _cipher(self, round_name: str) -> AESGCM:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"willitmerge-blind-round",
                   info=round_name.encode()).derive(bytes.fromhex(self.text))
        return AESGCM(key)

    def seal(self, round_name: str, label: str, plaintext: bytes) -> bytes:
        """Encrypt and authenticate `plaintext`; the label is bound in, so a sealed file cannot be swapped
        for another unit's."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._cipher(round_name).encrypt(nonce, plaintext, label.encode())

    def unseal(self, round_name: str, label: str, sealed: bytes, where: Path) -> bytes:
        try:
            return self._cipher(round_name).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], label.encode())
        except InvalidTag:
            raise SecretError(f"{where}: cannot be opened with this secret (a different secret, or the file was "
                              "changed)") from None
