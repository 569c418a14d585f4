"""A real S3-compatible server for tests: moto's standalone server on a free port, stopped afterwards.

photogen reaches it the way it reaches any S3-compatible store: s3fs (through botocore) reads the endpoint and
credentials from the standard AWS environment variables, so no photogen setting is involved.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

START_DEADLINE_S = 60.0
BUCKET = "photogen-test"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str

    def environment(self) -> dict[str, str]:
        """The standard AWS variables that point boto3/s3fs at this server with test credentials."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent/photogen-test-aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/photogen-test-aws-credentials",
        }


@contextmanager
def started_s3(folder: Path) -> Iterator[S3Server]:
    """A moto server with one empty bucket that runs until the block ends; skips where moto is not installed."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install 'photogen[test]')")
    boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (pip install 'photogen[test]')")
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'photogen[test]')")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    log = (folder / "moto.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_DEADLINE_S
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on port {port}: see {folder / 'moto.log'}") from None
                time.sleep(0.05)
        s3 = S3Server(endpoint, BUCKET)
        env = s3.environment()
        client = boto3.client("s3", endpoint_url=endpoint, region_name=env["AWS_DEFAULT_REGION"],
                              aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        client.create_bucket(Bucket=BUCKET)
        yield s3
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
