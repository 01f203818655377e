"""CURVE key pairs and their certificate files, in the shape of the LedgerX SDK's ``KeyPair``.

A :class:`KeyPair` holds a z85-encoded public key and, when known, the private (secret) key.
Certificates use ZeroMQ's text format (the one ``zmq.auth`` and czmq read and write)::

    #   ****  Generated on 2025-01-01 12:00:00 by recorder  ****
    #   ZeroMQ CURVE **Secret** Certificate
    #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

    metadata
    curve
        public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"

:meth:`KeyPair.save_certificate` writes ``path`` (public certificate, shareable) and, for a pair
with a private key, ``path`` + ``_secret`` (both keys, created with mode 0600), as
``zmq.auth.create_certificates`` does. :meth:`KeyPair.load_certificate` reads either file; given
the public file it also picks up the secret file next to it if there is one.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.utils import z85

from recorder.errors import CertificateError

SECRET_SUFFIX = "_secret"
"""The secret certificate's file name is the public one's plus this suffix."""

_BANNER = """#   ****  Generated on {when} by recorder  ****
#   ZeroMQ CURVE {kind} Certificate
#   {warning}

"""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A CurveZMQ key pair: ``public`` and ``private`` as z85 bytes (``private`` may be None)."""

    public: bytes
    private: bytes | None = None

    def __post_init__(self) -> None:
        for name, key in (("public", self.public), ("secret", self.private)):
            if key is None:
                continue
            shown = f" {key[:48]!r}" if name == "public" else ""  # a secret is never echoed
            if len(key) != 40:
                raise CertificateError(
                    f"a z85 CURVE {name} key is 40 characters, not {len(key)}{shown}"
                )
            try:
                z85.decode(key)
            except (KeyError, ValueError, TypeError) as exc:
                raise CertificateError(
                    f"the {name} key{shown} is not z85 text (the 85 characters ZeroMQ keys are "
                    "written in)"
                ) from exc
        if self.private is not None and zmq.curve_public(self.private) != self.public:
            raise CertificateError(
                f"the secret key does not belong to the public key {self.public_text}: the pair "
                "was edited or mixed up; generate a new one (recorder keys generate)"
            )

    @classmethod
    def generate(cls) -> KeyPair:
        """A new random key pair."""
        public, private = zmq.curve_keypair()
        return cls(public, private)

    @property
    def public_text(self) -> str:
        """The public key as text (also the ZAP User-Id of a client using this pair)."""
        return self.public.decode("ascii")

    def secret_path(self, path: Path | str) -> Path:
        """Where :meth:`save_certificate` puts the secret certificate for ``path``."""
        return Path(f"{path}{SECRET_SUFFIX}")

    def save_certificate(self, path: Path | str, *, overwrite: bool = False) -> Path:
        """Write the public certificate to ``path`` and, with a private key, the secret one.

        The secret file is created with mode 0600. Returns the path of the secret file (or of
        the public one for a public-only pair). Refuses to replace existing files unless
        ``overwrite``.
        """
        public_path = Path(path)
        secret_path = self.secret_path(public_path)
        targets = [public_path] + ([secret_path] if self.private is not None else [])
        if not overwrite:
            for target in targets:
                if target.exists():
                    raise CertificateError(
                        f"{target} exists; remove it or pass overwrite=True (--force) to replace it"
                    )
        try:
            folder = public_path.parent
            if not folder.exists():  # it holds secrets: the owner's alone, whatever the umask
                folder.mkdir(parents=True, mode=0o700)
                folder.chmod(0o700)
            _write(public_path, self._text(secret=False), 0o644)
            if self.private is not None:
                _write(secret_path, self._text(secret=True), 0o600)
            elif overwrite:  # or load_certificate would still read the old pair from it
                secret_path.unlink(missing_ok=True)
        except OSError as exc:
            raise CertificateError(
                f"cannot write certificate {exc.filename}: {exc.strerror}"
            ) from exc
        return secret_path if self.private is not None else public_path

    @classmethod
    def load_certificate(cls, path: Path | str) -> KeyPair:
        """Read a certificate: a secret one, or a public one (plus its ``_secret`` sibling)."""
        path = Path(path)
        candidates = [path]
        if not path.name.endswith(SECRET_SUFFIX):
            sibling = Path(f"{path}{SECRET_SUFFIX}")
            if sibling.exists():
                candidates.insert(0, sibling)
        source = candidates[0]
        public, private = _read(source)
        if public is None:
            raise CertificateError(f"{source} holds no public-key")
        try:
            return cls(public, private)
        except CertificateError as exc:
            raise CertificateError(f"{source}: {exc}") from exc

    def _text(self, *, secret: bool) -> str:
        when = datetime.datetime.now().isoformat(sep=" ", timespec="seconds")
        if secret:
            banner = _BANNER.format(
                when=when,
                kind="**Secret**",
                warning="DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.",
            )
        else:
            banner = _BANNER.format(
                when=when,
                kind="Public",
                warning="Exchange securely, or use a secure mechanism to verify the contents",
            )
        lines = [banner, "metadata\n", "curve\n", f'    public-key = "{self.public_text}"\n']
        if secret and self.private is not None:
            lines.append(f'    secret-key = "{self.private.decode("ascii")}"\n')
        return "".join(lines)


def _read(path: Path) -> tuple[bytes | None, bytes | None]:
    """``(public, secret)`` of a certificate file, or a :class:`CertificateError` naming it."""
    if not path.exists():
        raise CertificateError(
            f"certificate {path} does not exist; create it with 'recorder keys generate' (or "
            "point the configuration at the right file)"
        )
    try:
        return zmq.auth.load_certificate(path)
    except OSError as exc:
        raise CertificateError(f"cannot read certificate {path}: {exc.strerror or exc}") from exc
    except (ValueError, IndexError) as exc:  # zmq.auth's parser: a line it cannot split
        raise CertificateError(f"{path} is not a ZeroMQ CURVE certificate: {exc}") from exc


def _write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):  # a leftover (or a planted link): never followed
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def public_keys_in(directory: Path | str, *, exclude: Path | str | None = None) -> list[KeyPair]:
    """Every public certificate (``*.key``) in ``directory``, but ``exclude``; sorted by name."""
    directory = Path(directory)
    skip = Path(exclude).resolve() if exclude is not None else None
    found: list[KeyPair] = []
    for path in sorted(directory.glob("*.key")):
        if skip is not None and path.resolve() == skip:
            continue
        public, _ = _read(path)
        if public is not None:
            try:
                found.append(KeyPair(public))
            except CertificateError as exc:
                raise CertificateError(f"{path}: {exc}") from exc
    return found
