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
