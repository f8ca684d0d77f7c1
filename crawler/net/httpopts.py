"""What the user gives every request of a crawl: `--header` lines, a `--cookies` file, a
`--proxy` and a `--ca-bundle`.

Read and checked before the crawl starts: a bad line or file is a ConfigError that names
the line or the file and never shows a value (a header or a cookie is often a credential).
Headers, cookies and the bundle's text go to workers as plain data with the crawl's
settings (`to_wire` / `from_wire`); a proxy is each process's own (its network).
"""

from __future__ import annotations

import re
import ssl
import time
from http.cookiejar import Cookie, CookieJar
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError

MAX_HEADERS = 100
MAX_HEADER_VALUE = 8192
MAX_COOKIES = 10_000
MAX_COOKIE_FIELD = 8192
MAX_CA_BUNDLE_BYTES = 2 << 20  # certifi's whole bundle is about 300 kB
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")  # a header name (RFC 9110 token)
# Framing and connection headers are the transport's; Accept-Encoding too, since only the
# encodings we ask for (gzip, deflate) are decoded.
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te",
                              "trailer", "upgrade", "accept-encoding"})
PROXY_SCHEMES = ("http", "https")
HTTPONLY_PREFIX = "#HttpOnly_"  # curl marks HttpOnly cookies so; older readers take the line for a comment


# -- headers ---------------------------------------------------------------------------------

def parse_header(line: str, where: str) -> tuple[str, str]:
    """'Name: value' -> (name, value); ConfigError naming `where` (e.g. '--header 2') and the
    header's name, never its value."""
    name, colon, value = line.partition(":")
    name, value = name.strip(), value.strip()
    if not colon:
        raise ConfigError(f"{where}: expected 'Name: value', found no colon")
    if not _TOKEN.match(name):
        raise ConfigError(f"{where}: {name[:60]!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~)")
    if name.lower() in RESERVED_HEADERS:
        raise ConfigError(f"{where}: {name} is set by the crawler itself")
    if any(c in value for c in "\r\n\0"):
        raise ConfigError(f"{where}: the value of {name} has a line break or a NUL character")
    if len(value) > MAX_HEADER_VALUE:
        raise ConfigError(f"{where}: the value of {name} is longer than {MAX_HEADER_VALUE} characters")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ConfigError(f"{where}: the value of {name} has characters HTTP cannot carry "
                          f"(only ASCII and Latin-1)") from None
    return name, value


def parse_headers(lines: list[str] | tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Every --header line, checked; the same name twice is an error."""
    if len(lines) > MAX_HEADERS:
        raise ConfigError(f"--header: at most {MAX_HEADERS} headers")
    out: dict[str, tuple[str, str]] = {}
    for i, line in enumerate(lines, 1):
        name, value = parse_header(line, f"--header {i}")
        if name.lower() in out:
            raise ConfigError(f"--header {i}: {name} is given twice")
        out[name.lower()] = (name, value)
    return tuple(out.values())


# -- cookies ---------------------------------------------------------------------------------

def parse_cookies_txt(text: str, source: str, now: float | None = None) -> tuple[list[dict], int]:
    """A Netscape/Mozilla cookies.txt (as curl, wget and browser extensions write it) ->
    (cookie records as plain data, number of expired cookies left out). An expiry of 0 is
    a session cookie and is kept (Python's MozillaCookieJar would drop it); curl's
    `#HttpOnly_` lines are read; other lines starting with # are comments."""
    now = time.time() if now is None else now
    cookies, expired = [], 0
    for n, line in enumerate(text.splitlines(), 1):
        line = line.rstrip("\r\n")
        http_only = line.startswith(HTTPONLY_PREFIX)
        if http_only:
            line = line[len(HTTPONLY_PREFIX):]
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        where = f"{source} line {n}"
        if len(fields) != 7:
            raise ConfigError(f"{where}: expected 7 tab-separated fields (domain, subdomains, path, secure, expiry, "
                              f"name, value), found {len(fields)}")
        domain, subdomains, path, secure, expiry, name, value = fields
        domain = domain.strip().lower().lstrip(".")
        if not domain or any(c in domain for c in " /\\"):
            raise ConfigError(f"{where}: the domain field is not a host name")
        flags = [subdomains.strip().upper(), secure.strip().upper()]
        if any(f not in ("TRUE", "FALSE") for f in flags):
            raise ConfigError(f"{where}: the subdomains and secure fields must be TRUE or FALSE")
        if not path.startswith("/"):
            raise ConfigError(f"{where}: the path field must start with /")
        if not expiry.strip().isdigit():
            raise ConfigError(f"{where}: the expiry field must be a number of seconds (0: a session cookie)")
        if not name or max(len(name), len(value)) > MAX_COOKIE_FIELD or any(c in name + value for c in ";\r\n\0"):
            raise ConfigError(f"{where}: the cookie's name or value is empty, too long, or has ; or a line break")
        expires = int(expiry) or None
        if expires is not None and expires <= now:
            expired += 1
            continue
        cookies.append({"domain": ("." if flags[0] == "TRUE" else "") + domain, "path": path,
                        "secure": flags[1] == "TRUE", "expires": expires, "name": name, "value": value,
                        "http_only": http_only})
        if len(cookies) > MAX_COOKIES:
            raise ConfigError(f"{source}: more than {MAX_COOKIES} cookies")
    return cookies, expired


def read_cookies_file(path: Path | str) -> tuple[list[dict], int]:
    """The cookies of a cookies.txt, as parse_cookies_txt; ConfigError naming the file."""
    try:
        # Latin-1 reads every byte as one character, and HTTP sends header values as
        # Latin-1: a value's bytes reach the server as they are in the file.
        text = Path(path).read_text(encoding="latin-1")
    except OSError as exc:
        raise ConfigError(f"cannot read the cookies file {path}: {exc.strerror or exc}") from None
    cookies, expired = parse_cookies_txt(text, str(path))
    if not cookies and not expired:
        raise ConfigError(f"{path} has no cookies: a Netscape cookies.txt has one per line, 7 fields separated "
                          f"by tabs")
    return cookies, expired


def fill_jar(jar: CookieJar, cookies: list[dict]) -> CookieJar:
    """Put cookie records (from parse_cookies_txt, or from the wire) into jar."""
    for c in cookies:
        domain = c["domain"]
        jar.set_cookie(Cookie(
            version=0, name=c["name"], value=c["value"], port=None, port_specified=False,
            domain=domain, domain_specified=domain.startswith("."), domain_initial_dot=domain.startswith("."),
            path=c["path"], path_specified=True, secure=c["secure"], expires=c["expires"],
            discard=c["expires"] is None, comment=None, comment_url=None,
            rest={"HttpOnly": ""} if c["http_only"] else {}))
    return jar


# -- proxy and CA bundle ---------------------------------------------------------------------

def check_proxy(url: str) -> str:
    """A --proxy URL as requests takes it ('host:3128' means http://host:3128)."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as exc:
        raise ConfigError(f"--proxy {redact_proxy(url)}: {exc}") from None
    if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
        raise ConfigError(f"--proxy {redact_proxy(url)}: expected http://HOST:PORT or https://HOST:PORT")
    return url


def redact_proxy(url: str) -> str:
    """The proxy URL with its password hidden, for logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "(a proxy URL)"


def read_ca_bundle(path: Path | str) -> str:
    """The PEM text of a CA bundle file, checked to hold at least one certificate."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the CA bundle {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_CA_BUNDLE_BYTES:
        raise ConfigError(f"the CA bundle {path} is larger than {MAX_CA_BUNDLE_BYTES >> 20} MiB")
    text = data.decode("ascii", "replace")
    try:
        ssl.create_default_context(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"the CA bundle {path} holds no usable PEM certificate ({exc})") from None
    return text


# -- on the wire -----------------------------------------------------------------------------

def to_wire(headers: tuple[tuple[str, str], ...], cookies: tuple[dict, ...] | list[dict],
            ca_pem: str | None) -> dict:
    """The crawl's request settings as plain data for workers."""
    return {"headers": [[n, v] for n, v in headers], "cookies": [dict(c) for c in cookies], "ca_bundle": ca_pem}


_COOKIE_TYPES = {"domain": str, "path": str, "secure": bool, "name": str, "value": str, "http_only": bool}


def from_wire(settings: dict) -> tuple[tuple[tuple[str, str], ...], list[dict], str | None]:
    """(headers, cookies, CA bundle PEM) from the master's settings; ValueError if unusable.
    A master that predates them sends none: no headers, no cookies, no bundle."""
    raw_headers = settings.get("headers") or []
    raw_cookies = settings.get("cookies") or []
    pem = settings.get("ca_bundle")
    if not isinstance(raw_headers, list) or len(raw_headers) > MAX_HEADERS:
        raise ValueError("headers: not a list, or too many")
    headers = []
    for item in raw_headers:
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise ValueError("headers: an entry is not a [name, value] pair")
        try:
            headers.append(parse_header(f"{item[0]}: {item[1]}", "header"))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    if not isinstance(raw_cookies, list) or len(raw_cookies) > MAX_COOKIES:
        raise ValueError("cookies: not a list, or too many")
    for c in raw_cookies:
        if not isinstance(c, dict) or any(not isinstance(c.get(k), t) for k, t in _COOKIE_TYPES.items()) \
                or not (c.get("expires") is None or type(c.get("expires")) is int) \
                or any(len(c[k]) > MAX_COOKIE_FIELD for k in ("domain", "path", "name", "value")):
            raise ValueError("cookies: an entry is not a cookie record")
    if pem is not None and (not isinstance(pem, str) or len(pem) > MAX_CA_BUNDLE_BYTES):
        raise ValueError("ca_bundle: not PEM text")
    return tuple(headers), raw_cookies, pem


def describe(headers: tuple[tuple[str, str], ...], cookies: tuple[dict, ...] | list[dict], proxy: str | None,
             ca_bundle: str | None, env_proxies: dict[str, str]) -> str | None:
    """One log line on how requests go out: header names and cookie counts, never values."""
    parts = []
    if headers:
        parts.append(f"header(s) {', '.join(n for n, _ in headers)}")
    if cookies:
        sites = len({c["domain"].lstrip(".") for c in cookies})
        parts.append(f"{len(cookies)} cookie(s) for {sites} site(s)")
    said = ["requests carry " + " and ".join(parts)] if parts else []
    if proxy:
        said.append(f"all go through the proxy {redact_proxy(proxy)}")
    elif env_proxies:
        said.append("proxies from the environment apply (" + ", ".join(
            f"{k}: {redact_proxy(v)}" for k, v in sorted(env_proxies.items()) if k != "no") + ")")
    if ca_bundle:
        said.append(f"TLS trusts the CA certificates in {ca_bundle}")
    return "; ".join(said) if said else None
