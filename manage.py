#!/usr/bin/env python
import os
import sys
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent


def load_run_env() -> None:
    """Fill what the environment leaves unset from the file `make run` writes (DEBUG, broker, SITE_URL, …).

    Only for the embedded SQLite install it describes: with DATABASE_URL set, this is another installation.
    """
    if not os.environ.get("DATABASE_URL"):
        load_dotenv(Path(os.environ.get("VAR_DIR") or BASE_DIR / "var") / "run.env", override=False)


def main() -> None:
    load_run_env()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
