"""Put Solara's browser assets where its server looks for them, before they are needed.

Solara serves its front end (Vuetify, RequireJS, fonts) through a local cache
that it fills from a CDN the first time a page asks. A workshop room, a CI
machine or a laptop on a train may have no internet then. This module fills
that cache ahead of time, at install (``make`` runs it), from the npm registry,
checking each package against the registry's published SHA-512 integrity.

    python -m chainsim.workshop.assets          # fetch what is missing
    python -m chainsim.workshop.assets --check  # exit 1 if anything is missing
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"

#: The packages Solara's page loads from its CDN, at the versions this Solara
#: asks for (see solara/server/templates and solara/server/settings.py).
PACKAGES = (
    ("@widgetti/solara-vuetify3-app", "5.2.0"),
    ("@widgetti/solara-vuetify-app", "10.1.1"),
    ("@widgetti/vue-grid-layout", "2.3.13-alpha.2"),
    ("requirejs", "2.3.6"),
    ("font-awesome", "4.5.0"),
    ("mermaid", "10.8.0"),  # loaded by solara.Markdown
    ("katex", "0.16.9"),  # loaded by solara.Markdown
    ("echarts", "5.4.0"),  # loaded by solara.FigureEcharts: the live charts
)


def cache_dir() -> Path:
    """Where Solara's server looks for proxied CDN files."""
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def missing(directory: Path | None = None) -> list[tuple[str, str]]:
    directory = directory or cache_dir()
    return [(n, v) for n, v in PACKAGES if not (directory / f"{n}@{v}" / "package.json").exists()]


def fetch(name: str, version: str, directory: Path, timeout: float = 60) -> Path:
    """Download one package from the registry, verify it, unpack it as name@version/."""
    with urllib.request.urlopen(f"{REGISTRY}/{name}/{version}", timeout=timeout) as response:
        meta = json.load(response)
    dist = meta["dist"]
    with urllib.request.urlopen(dist["tarball"], timeout=timeout) as response:
        data = response.read()
    algorithm, _, expected = dist["integrity"].partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if digest != expected:
        raise RuntimeError(f"{name}@{version}: the download does not match the registry's "
                           f"{algorithm} integrity")
    target = directory / f"{name}@{version}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(tmp, filter="data")
        unpacked = Path(tmp) / "package"  # npm tarballs keep everything under package/
        if target.exists():
            shutil.rmtree(target)
        unpacked.rename(target)  # appears whole, or not at all
    return target


def ensure(directory: Path | None = None, *, quiet: bool = False) -> list[str]:
    """Fetch every package not yet in the cache; return what was fetched."""
    directory = directory or cache_dir()
    fetched = []
    for name, version in missing(directory):
        fetch(name, version, directory)
        fetched.append(f"{name}@{version}")
        if not quiet:
            print(f"fetched {name}@{version} into {directory}")
    return fetched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report what is missing")
    args = parser.parse_args(argv)
    if args.check:
        gone = missing()
        for name, version in gone:
            print(f"missing: {name}@{version} in {cache_dir()}")
        return 1 if gone else 0
    try:
        ensure()
    except OSError as err:
        print(f"chainsim: error: could not fetch the workshop's browser assets from {REGISTRY}: "
              f"{err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
