"""``python -m emodub`` runs the CLI."""

from emodub.cli import entry

entry()
