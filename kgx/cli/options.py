"""Options several commands share."""

from __future__ import annotations

from typing import Annotated

import typer

StoreOption = Annotated[
    str | None,
    typer.Option("--store", "-s", envvar="KGX_STORE",
                 help="Folder of the embedded store, or a neo4j:// / bolt:// URI. "
                      "Default: ./kgx-store"),
]
