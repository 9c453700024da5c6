"""Rule ``fetch_data``: one data file from its source repository at a pinned commit, checked against its SHA-256.

The file, its source and its checksum come from ``fetch_sources.yaml``
(:mod:`bdunlearn.data.fetch`); ``--base-url`` is the config's ``fetch.base_url``.
A mismatch fails the job and keeps nothing.
"""

from __future__ import annotations

import argparse
import logging

from bdunlearn.data.fetch import download, manifest, url

log = logging.getLogger(__name__)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True, help="the destination file, as fetch_sources.yaml names it")
    p.add_argument("--base-url", required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    entry = manifest().get(args.out)
    if entry is None:
        raise SystemExit(f"fetch_data: {args.out} is not a file of fetch_sources.yaml")
    src = url(args.out, args.base_url)
    log.info("fetching %s -> %s", src, args.out)
    download(src, args.out, entry["sha256"], entry["bytes"])
    log.info("ok: sha256 %s, %d bytes", entry["sha256"], entry["bytes"])


if __name__ == "__main__":
    main()
