"""One small exception tree: every error the crawler raises on purpose is a CrawlerError."""


class CrawlerError(Exception):
    """Base of every error the crawler raises on purpose."""


class ConfigError(CrawlerError, ValueError):
    """A flag, a config value or a seed file is unusable."""


class AuthkeyError(CrawlerError):
    """The authkey is missing or unreadable."""


class AuthkeyTooOpenError(AuthkeyError):
    """The authkey file can be read by other users."""


class AuthkeyTooShortError(AuthkeyError):
    """The authkey is shorter than the minimum."""


class ConnectError(CrawlerError):
    """The master cannot be reached, or refused our key."""


class StateWriteError(CrawlerError):
    """The master cannot write its manifest or its journal (a full disk, a read-only one...)."""


class StorageError(CrawlerError):
    """A file cannot be stored where it belongs (a symlink or a file in the way, a bad name);
    `errno` is the system's error number, when there is one (see storage.LocalStorageError)."""

    reason = "storage"

    def __init__(self, message: str, *, errno_: int | None = None):
        super().__init__(message)
        self.errno = errno_


class FetchError(CrawlerError):
    """A download failed; `reason` is a short stable word for the manifest and the summary."""

    reason = "fetch-error"

    def __init__(self, message: str, *, status: int | None = None, final_url: str | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.final_url = final_url
        self.retry_after = retry_after


class HTTPStatusError(FetchError):
    """The server answered with a non-2xx status."""

    reason = "http-status"


class TooLargeError(FetchError):
    """The body is larger than the configured limit."""

    reason = "too-large"


class NotAnImageError(FetchError):
    """The body is not an image (by Content-Type and magic bytes)."""

    reason = "not-an-image"


class NetworkError(FetchError):
    """The connection failed, was refused or dropped."""

    reason = "network"


class UnreachableError(NetworkError):
    """Nothing answers at the origin: the connection was refused or the host name does not resolve."""

    reason = "unreachable"


class TLSError(FetchError):
    """The TLS handshake failed: most often a certificate nobody we trust vouches for, or one for another name."""

    reason = "tls"


class FetchTimeoutError(FetchError):
    """Connecting or reading took longer than the timeout."""

    reason = "timeout"


class FilteredError(FetchError):
    """The image is not of an accepted type, or smaller than the minimum size."""

    reason = "filtered"


class RedirectError(FetchError):
    """Too many redirects, a loop, or a redirect to a scheme we do not fetch."""

    reason = "redirect"


class SitemapError(CrawlerError):
    """A sitemap we refuse to read: it declares XML entities (a bomb, an external reference),
    or passes the protocol's limits (50,000 URLs, 50 MB uncompressed)."""
