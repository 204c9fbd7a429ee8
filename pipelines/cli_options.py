"""Command-line arguments that several command modules take."""

from __future__ import annotations

from typing import Annotated

import typer

# a string, not a Path: a release on storage is a URI (s3://bucket/...), which Path would fold to s3:/bucket
ReleaseArg = Annotated[str, typer.Argument(help="A release folder, or an output root (its latest release): a "
                                                "local path or a storage URI.")]
