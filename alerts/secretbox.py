"""Webhook secrets sealed at rest: encrypted with a key from the settings (Fernet).

Why encrypted and not hashed: signing a delivery (HMAC-SHA256, Standard Webhooks) needs the
secret itself, so a hash could never sign. The secret is generated here (``whsec_`` + 24 random
bytes, base64, the Standard Webhooks format), shown to the owner once at creation, and stored
only as a Fernet token (AES-128-CBC + HMAC-SHA256, from the ``cryptography`` package, the
field's standard): whoever reads the ``subscriptions`` index without the key
(``TRACER_ALERT_SECRET_KEY``) cannot sign a forged delivery. A token made with another key
fails to open with :class:`~alerts.errors.AlertError`, never a crash.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken

from alerts.errors import AlertError

__all__ = ["SecretBox", "new_key", "new_webhook_secret"]


def new_key() -> str:
    """A fresh key for ``TRACER_ALERT_SECRET_KEY``."""
    return Fernet.generate_key().decode()


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret (``whsec_`` + base64 of 24 random bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class SecretBox:
    """Seals and opens webhook secrets with one key.

    Args:
        key: A Fernet key (urlsafe base64 of 32 bytes).

    Raises:
        AlertError: The key is not a Fernet key.
    """

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise AlertError(
                "alert secret key: not a Fernet key (tracer subscriptions key)"
            ) from exc

    def seal(self, secret: str) -> str:
        """Encrypt ``secret``."""
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, token: str) -> str:
        """Decrypt a sealed secret.

        Raises:
            AlertError: The token was sealed with another key, or is damaged.
        """
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError) as exc:
            raise AlertError("webhook secret: cannot be opened with this key") from exc
