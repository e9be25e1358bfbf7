"""What the commands print: the API's JSON for scripts, and times for people."""
import json

import click

as_json = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")


def print_json(data):
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def when(moment):
    """An API time as "2026-01-31 12:00:05 UTC" ("-" for none)."""
    return f"{moment[:19].replace('T', ' ')} UTC" if moment else "-"
