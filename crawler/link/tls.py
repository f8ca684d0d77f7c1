"""TLS on the manager link: certificates, contexts, and the start of a TLS connection.

A master started with --tls-cert/--tls-key serves its queues over TLS; inside the TLS session
both ends still prove they hold the authkey (multiprocessing's HMAC challenge), so TLS
adds secrecy and integrity and the master's identity, and the key still decides who may call.

A TLS master first sends one short plaintext message, the preface (multiprocessing's own
framing: a 4-byte length, then `#TLS# ...`), then waits for the client's TLS handshake.
A plaintext master's first message is the authkey challenge (`#CHALLENGE#...`). So each
kind of client tells at once, from the first bytes, that it reached the other kind of
master, and says so in one line instead of waiting out a timeout (a TLS server waits for
the client to speak first, a plaintext client for the server). The preface decides
nothing: a client that wants TLS never falls back to plaintext, so a man in the middle who
rewrites it can only break the connection, as he always can.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import ssl
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, ConnectError

log = logging.getLogger(__name__)

PREFACE_TAG = b"#TLS#"
PREFACE = (PREFACE_TAG
           + b" this master serves its queues over TLS: connect with --tls-ca FILE, --tls or --tls-fingerprint")
PREFACE_MESSAGE = struct.pack("!i", len(PREFACE)) + PREFACE
CHALLENGE_TAG = b"#CHALLENGE#"  # the first message of a plaintext master (multiprocessing.connection)
HANDSHAKE_TIMEOUT = 20.0
"""Seconds a master waits for a client's TLS handshake (a port scanner holds a thread no longer)."""

CLIENT_OPTIONS = "--tls-ca FILE (or --tls, or --tls-fingerprint)"


class TLSError(ConnectError):
    """TLS with the master failed: one side speaks TLS and the other not, or the master's
    certificate did not verify."""


@dataclass(frozen=True, eq=False)
class ServerTLS:
    """The master's side: its context and its certificate's fingerprint (to print)."""

    context: ssl.SSLContext
    fingerprint: str


@dataclass(frozen=True, eq=False)
class ClientTLS:
    """A worker's (or `crawler status`'s) side: whom it trusts."""

    context: ssl.SSLContext
    pin: bytes | None = None  # SHA-256 of the one certificate trusted (--tls-fingerprint)
    ca_file: Path | None = None  # None: the system's trust store (unless pinned)

    @property
    def description(self) -> str:
        return "TLS (certificate pinned)" if self.pin else "TLS"


# --- certificates --------------------------------------------------------------------------

def format_fingerprint(digest: bytes) -> str:
    """AB:CD:...: as `openssl x509 -noout -fingerprint -sha256` prints it."""
    return ":".join(f"{b:02X}" for b in digest)


def parse_fingerprint(text: str) -> bytes:
    """A SHA-256 fingerprint as a user pastes it: hex, with or without colons, any case,
    with or without openssl's `SHA256 Fingerprint=` in front."""
    hexdigits = re.sub(r"[\s:]", "", text.split("=", 1)[-1])
    try:
        digest = bytes.fromhex(hexdigits)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise ConfigError(f"--tls-fingerprint {text!r} is not a SHA-256 fingerprint (64 hex digits, "
                          f"as `openssl x509 -noout -fingerprint -sha256 -in CERT` prints it)")
    return digest


def certificate_fingerprint(cert_file: Path) -> str:
    """The SHA-256 fingerprint of the first certificate in a PEM file (the server's own)."""
    text = Path(cert_file).read_text(encoding="ascii", errors="replace")
    match = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S)
    if match is None:
        raise ConfigError(f"--tls-cert {cert_file}: no PEM certificate in the file")
    return format_fingerprint(hashlib.sha256(ssl.PEM_cert_to_DER_cert(match.group(0))).digest())


def _no_password(*_args) -> bytes:
    raise ConfigError("encrypted")  # never ask on the terminal: a master may run unattended


def server_tls(cert_file: Path, key_file: Path) -> ServerTLS:
    """The master's TLS context, or a ConfigError that says what is wrong with the files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file, password=_no_password)
    except ConfigError:
        raise ConfigError(f"--tls-key {key_file} is encrypted; the master cannot ask for its password "
                          f"(decrypt it: openssl pkey -in {key_file} -out PLAIN.key, mode 600)") from None
    except FileNotFoundError as exc:
        raise ConfigError(f"cannot read {exc.filename or cert_file}: no such file") from None
    except (ssl.SSLError, OSError) as exc:
        why = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot use --tls-cert {cert_file} with --tls-key {key_file}: {why} "
                          f"(PEM files, the key matching the certificate)") from None
    _warn_if_key_readable(key_file)
    return ServerTLS(context, certificate_fingerprint(cert_file))


def _warn_if_key_readable(key_file: Path) -> None:
    import os
    import stat
    try:
        mode = os.stat(key_file).st_mode
    except OSError:
        return
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("--tls-key %s can be read by other users; fix it with: chmod 600 %s", key_file, key_file)


def client_tls(ca_file: Path | None = None, fingerprint: str | None = None) -> ClientTLS:
    """Trust the CA bundle ca_file, or exactly the certificate with this fingerprint, or
    (neither given) the system's store. With a CA the master's name is checked too."""
    if fingerprint is not None:
        if ca_file is not None:
            raise ConfigError("--tls-fingerprint and --tls-ca do not go together: the fingerprint names the one "
                              "certificate trusted")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # The pin replaces chain and name checks: the handshake still proves that the master
        # holds the certificate's key, and the certificate is compared whole after it.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return ClientTLS(context, parse_fingerprint(fingerprint))
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except FileNotFoundError:
        raise ConfigError(f"--tls-ca {ca_file}: no such file") from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"--tls-ca {ca_file} is not a PEM file of CA certificates: "
                          f"{getattr(exc, 'reason', None) or exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return ClientTLS(context, ca_file=ca_file)


# --- starting a connection -----------------------------------------------------------------

def start_server(sock: socket.socket, context: ssl.SSLContext, idle_timeout: float) -> ssl.SSLSocket:
    """The master's side of a new connection: the preface, then the handshake (within
    HANDSHAKE_TIMEOUT, the socket's timeout now); returns the TLS socket."""
    peer = _peer(sock)
    try:
        sock.sendall(PREFACE_MESSAGE)
        ssock = context.wrap_socket(sock, server_side=True)
    except ssl.SSLError as exc:
        log.warning("a client at %s failed the TLS handshake (%s)", peer, exc.reason or exc)
        raise
    except (OSError, EOFError) as exc:
        # our own plaintext clients read the preface and hang up: they say why on their side
        log.warning("a client at %s left before the TLS handshake (%s; a worker without %s?)", peer,
                    type(exc).__name__, CLIENT_OPTIONS)
        raise
    ssock.settimeout(idle_timeout)
    return ssock


def start_client(sock: socket.socket, where: str, host: str, tls: ClientTLS) -> ssl.SSLSocket:
    """A worker's side: read the master's first message, then the handshake and the checks.
    The socket's timeout (Python's) bounds each step. TLSError for a mismatch or a
    certificate that does not verify, EOFError for a master that does not answer."""
    first = _read_message(sock, 256)
    if first.startswith(CHALLENGE_TAG):
        raise TLSError(f"the master at {where} does not use TLS (it sent the plaintext authkey challenge): "
                       f"start it with --tls-cert and --tls-key, or connect without TLS")
    if not first.startswith(PREFACE_TAG):
        raise TLSError(f"the master at {where} sent {first[:24]!r} instead of a TLS preface: is it a crawler master?")
    try:
        ssock = tls.context.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        trusted = (f"--tls-ca {tls.ca_file}" if tls.ca_file
                   else "the system's trust store (--tls-ca FILE names another CA)")
        raise TLSError(f"the certificate of the master at {where} did not verify: {exc.verify_message} "
                       f"(checked against {trusted}; it must also name the host in --connect)") from None
    except ssl.SSLError as exc:
        raise TLSError(f"the TLS handshake with the master at {where} failed: {exc.reason or exc}") from None
    except TimeoutError:
        raise EOFError(f"no TLS handshake from the master at {where} within the socket timeout") from None
    if tls.pin is not None:
        digest = hashlib.sha256(ssock.getpeercert(binary_form=True) or b"").digest()
        if digest != tls.pin:
            ssock.close()
            raise TLSError(f"the certificate of the master at {where} has SHA-256 fingerprint "
                           f"{format_fingerprint(digest)}, not the one given with --tls-fingerprint")
    return ssock


def answered_with_preface(first: bytes) -> bool:
    """Do a connection's first bytes (peeked by a plaintext client) come from a TLS master?"""
    return first[4:4 + len(PREFACE_TAG)] == PREFACE_TAG


def _read_message(sock: socket.socket, max_size: int) -> bytes:
    header = _read_exact(sock, 4)
    size, = struct.unpack("!i", header)
    if not 0 <= size <= max_size:
        raise TLSError(f"the master sent a first message of {size} bytes: is it a crawler master?")
    return _read_exact(sock, size)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        try:
            chunk = sock.recv(n - len(data))
        except TimeoutError:
            raise EOFError("no answer from the master within the socket timeout") from None
        if not chunk:
            raise EOFError("the master closed the connection")
        data += chunk
    return data


def _peer(sock: socket.socket) -> str:
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
