import io

import pytest

from .procs import Procs
from .scripted_server import server  # noqa: F401  (the scripted HTTP server fixture, for every test)


def make_png(width: int = 8, height: int = 8, color=(200, 30, 30)) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


def make_jpeg(width: int = 16, height: int = 16, color=(10, 120, 200)) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def png_bytes() -> bytes:
    return make_png()


@pytest.fixture
def jpeg_bytes() -> bytes:
    return make_jpeg()


@pytest.fixture
def procs():
    """Crawler subprocesses started by a test; all of them are killed and reaped afterwards."""
    p = Procs()
    yield p
    p.cleanup()


@pytest.fixture
def servers():
    """Start recording servers: servers(root, recorder, **kw) serves root and returns its base
    URL (tests/procs.py serve_recorded); all of them stop after the test."""
    from .procs import serve_recorded
    started = []

    def start(*args, **kw):
        httpd, url = serve_recorded(*args, **kw)
        started.append(httpd)
        return url

    yield start
    for s in started:
        s.shutdown()
        s.server_close()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A private CA (trustme) and a master certificate for 127.0.0.1 and localhost, as PEM
    files: ca (the CA to trust), cert, key (mode 600), fingerprint (of cert)."""
    import os
    from types import SimpleNamespace

    import trustme

    from crawler.link.tls import certificate_fingerprint
    d = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = SimpleNamespace(dir=d, ca=d / "ca.pem", cert=d / "cert.pem", key=d / "key.pem", ca_object=ca)
    ca.cert_pem.write_to_path(str(files.ca))
    cert.cert_chain_pems[0].write_to_path(str(files.cert))
    cert.private_key_pem.write_to_path(str(files.key))
    os.chmod(files.key, 0o600)
    files.fingerprint = certificate_fingerprint(files.cert)
    return files
