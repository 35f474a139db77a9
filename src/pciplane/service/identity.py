"""Keystone-style tokens: password authentication of the users in the settings, and signed
tokens with an expiry that any API process sharing the settings can check.

A token is ``pk1.<claims>.<signature>``: the claims (user, project, role, issued, expires,
an audit id) as base64url JSON, signed with HMAC-SHA256 under ``token_key`` (or, when unset,
a key derived from ``admin_token``). Nothing is stored, so every API process sharing the
database (which must share those settings anyway) accepts a token any of them issued, with
no write per login and no table to expire (Keystone's Fernet tokens make the same choice).
What a signature cannot say is checked on every call: the expiry, and that the user still
has that role on that project in the settings, so removing a user or a role takes effect at
once. A token cannot be revoked before it expires otherwise; keep ``token_expiration`` short.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from pciplane.core.errors import AuthError
from pciplane.service.settings import KeystoneRole, Settings

PREFIX = "pk1."
#: The only Keystone domain: every user and project of the settings is in it.
DOMAIN_ID = "default"
DOMAIN_NAME = "Default"
_KEY_LABEL = b"pciplane keystone token key v1"


@dataclass(frozen=True, kw_only=True, slots=True)
class Token:
    """A project-scoped token, as issued or as read back from its text."""

    id: str
    user: str
    project: str
    role: KeystoneRole
    issued_at: int
    expires_at: int
    audit_id: str

    @property
    def is_admin(self) -> bool:
        return self.role is KeystoneRole.ADMIN


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key(settings: Settings) -> bytes:
    """``token_key``; else a key derived from ``admin_token``; else one for this process."""
    if settings.token_key is not None:
        return settings.token_key.get_secret_value().encode()
    if settings.admin_token:
        return hmac.new(settings.admin_token.encode(), _KEY_LABEL, hashlib.sha256).digest()
    return secrets.token_bytes(32)


def in_domain(name: str | None, domain_id: str | None) -> bool:
    """Whether a user or project reference names pciplane's one domain (or none at all)."""
    if name is not None and name != DOMAIN_NAME:
        return False
    return domain_id is None or domain_id == DOMAIN_ID


class IdentityService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._key = signing_key(settings)

    def _role(self, user: str, project: str) -> KeystoneRole | None:
        known = self.settings.keystone_users.get(user)
        return None if known is None else known.roles.get(project)

    def authenticate(self, *, user: str, password: str, project: str, now: float) -> Token:
        """A token for ``user`` on ``project``; AuthError (naming neither which part was
        wrong, as Keystone) for an unknown user, a wrong password or no role there."""
        known = self.settings.keystone_users.get(user)
        if known is None or not hmac.compare_digest(
            password.encode(), known.password.get_secret_value().encode()
        ):
            raise AuthError("the user name or the password is wrong")
        role = known.roles.get(project)
        if role is None:
            raise AuthError(f"user {user!r} has no role on project {project!r}")
        issued = int(now)
        claims = {
            "u": user,
            "p": project,
            "r": str(role),
            "iat": issued,
            "exp": issued + self.settings.token_expiration,
            "a": _b64(secrets.token_bytes(16)),
        }
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        text = f"{PREFIX}{body}.{self._sign(body)}"
        return self._token(text, claims)

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, (PREFIX + body).encode(), hashlib.sha256).digest())

    @staticmethod
    def looks_like_token(text: str) -> bool:
        return text.startswith(PREFIX)

    def verify(self, text: str, *, now: float) -> Token:
        """The token ``text`` is, if its signature holds, it has not expired and its user
        still has its role on its project; AuthError saying which check failed."""
        body, _, signature = text.removeprefix(PREFIX).partition(".")
        if not body or not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            raise AuthError("the token is not valid (not one this service signed)")
        try:
            claims = json.loads(_unb64(body))
            token = self._token(text, claims)
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise AuthError("the token is not valid (its claims do not parse)") from None
        if now >= token.expires_at:
            raise AuthError(f"the token expired at {iso_time(token.expires_at)}")
        if self._role(token.user, token.project) is not token.role:
            raise AuthError(
                f"the token's user {token.user!r} no longer has the role {token.role} on "
                f"project {token.project!r}"
            )
        return token

    @staticmethod
    def _token(text: str, claims: dict[str, object]) -> Token:
        return Token(
            id=text,
            user=str(claims["u"]),
            project=str(claims["p"]),
            role=KeystoneRole(str(claims["r"])),
            issued_at=int(claims["iat"]),  # type: ignore[call-overload]
            expires_at=int(claims["exp"]),  # type: ignore[call-overload]
            audit_id=str(claims["a"]),
        )


def iso_time(epoch: float, *, micro: bool = True) -> str:
    """``2030-01-01T00:00:00.000000Z``, the time format of Keystone's tokens."""
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
