"""Real local counterparts for revocation tests: an HTTP server publishing CRLs (ETag,
Last-Modified, errors, truncation) and `openssl ocsp` as the OCSP responder."""

from __future__ import annotations

import hashlib
import select
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bench.common import free_port


@dataclass
class Published:
    body: bytes
    status: int = 200
    truncate_to: int | None = None  # announce len(body), send only this many bytes
    last_modified: str = field(default_factory=lambda: format_datetime(datetime.now(UTC), True))

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


class CrlServer:
    """Serves `files[path]`; records each request's path and conditional headers."""

    def __init__(self) -> None:
        self.files: dict[str, Published] = {}
        self.requests: list[tuple[str, str, str]] = []  # (path, If-None-Match, answer)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                published = server.files.get(self.path)
                condition = self.headers.get("If-None-Match", "")
                if published is None:
                    server.requests.append((self.path, condition, "404"))
                    self.send_error(404)
                    return
                if published.status != 200:
                    server.requests.append((self.path, condition, str(published.status)))
                    self.send_error(published.status)
                    return
                if condition and condition == published.etag:
                    server.requests.append((self.path, condition, "304"))
                    self.send_response(304)
                    self.send_header("ETag", published.etag)
                    self.end_headers()
                    return
                server.requests.append((self.path, condition, "200"))
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(published.body)))
                self.send_header("ETag", published.etag)
                self.send_header("Last-Modified", published.last_modified)
                self.end_headers()
                body = published.body
                if published.truncate_to is not None:
                    body = body[: published.truncate_to]
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def publish(self, path: str, crl: x509.CertificateRevocationList | bytes, **kwargs) -> None:
        body = crl if isinstance(crl, bytes) else crl.public_bytes(serialization.Encoding.DER)
        self.files[path] = Published(body, **kwargs)

    def __enter__(self) -> CrlServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _pem(path: Path, obj) -> Path:
    if isinstance(obj, x509.Certificate):
        path.write_bytes(obj.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(
            obj.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return path


def index_line(cert: x509.Certificate, revoked: datetime | None = None, reason: str = "") -> str:
    """One line of an `openssl ca` index.txt (what `openssl ocsp -index` answers from)."""
    expiry = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
    serial = f"{cert.serial_number:X}"
    serial = serial.zfill(len(serial) + len(serial) % 2)
    subject = "/" + "/".join(cert.subject.rfc4514_string().split(",")[::-1])
    if revoked is None:
        return f"V\t{expiry}\t\t{serial}\tunknown\t{subject}\n"
    when = revoked.strftime("%y%m%d%H%M%SZ") + (f",{reason}" if reason else "")
    return f"R\t{expiry}\t{when}\t{serial}\tunknown\t{subject}\n"


class OpensslOcsp:
    """`openssl ocsp -index … -port … -rsigner … -rkey … -CA …` on a free port."""

    def __init__(
        self, directory: Path, *, ca: x509.Certificate, signer: x509.Certificate, key, lines
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.index = directory / "index.txt"
        self.index.write_text("".join(lines))
        self.port = free_port()
        self.args = [
            "openssl", "ocsp",
            "-index", str(self.index),
            "-port", str(self.port),
            "-rsigner", str(_pem(directory / "signer.pem", signer)),
            "-rkey", str(_pem(directory / "signer.key", key)),
            "-CA", str(_pem(directory / "ca.pem", ca)),
            "-ndays", "1",
        ]  # fmt: skip
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OpensslOcsp:
        # Never probe the port: the responder serves one connection at a time and waits on a
        # probe that sends nothing. It says on stderr when it accepts requests.
        self.process = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        seen = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stderr], [], [], 0.2)
            if ready:
                line = self.process.stderr.readline()
                seen += line
                if b"waiting for OCSP client connections" in line:
                    return self
                if not line:
                    break
        self.stop()
        raise RuntimeError(f"openssl ocsp did not start: {seen.decode(errors='replace')}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=5)

    def __exit__(self, *exc) -> None:
        self.stop()
