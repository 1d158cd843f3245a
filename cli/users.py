"""``monitor users``: dashboard accounts (salted scrypt hashes in the store; no default user)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_DB = Path("out") / "monitor.db"
users_app = typer.Typer(help="Dashboard accounts: add, list, remove.", no_args_is_help=True)


def _open(db: Path, create: bool = False):  # type: ignore[no-untyped-def]
    """The store's accounts; only ``add`` may create the store (a typo in --db must not)."""
    from monitor.store import Store
    from monitor.store.users import UserStore

    if not create and not db.is_file():
        raise FileNotFoundError(f"store not found: {db} (`monitor users add` creates one)")
    Store(db).close()  # creates or migrates the store (backup first) so the tables exist
    return UserStore(db)


def _password(stdin: bool) -> str:
    if stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, _.@-).")],
    role: Annotated[str, typer.Option("--role", help="admin or viewer.")] = "viewer",
    camera: Annotated[
        list[str] | None,
        typer.Option("--camera", help="Restrict to this camera (repeat); default all cameras."),
    ] = None,
    db: Annotated[Path, typer.Option("--db", help="Store file.")] = DEFAULT_DB,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Create a user (or reset its password, role and cameras); the password is prompted for."""
    password = _password(password_stdin)
    users = _open(db, create=True)
    try:
        users.add_user(name, password, role, camera or None)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    finally:
        users.close()
    typer.echo(f"user {name} ({role}) saved in {db}")


@users_app.command("list")
def list_users(db: Annotated[Path, typer.Option("--db", help="Store file.")] = DEFAULT_DB) -> None:
    """List users, roles and camera access."""
    users = _open(db)
    try:
        for u in users.users():
            typer.echo(f"{u.name}\t{u.role}\t{','.join(u.cameras) if u.cameras else 'all cameras'}")
    finally:
        users.close()


@users_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="User name.")],
    db: Annotated[Path, typer.Option("--db", help="Store file.")] = DEFAULT_DB,
) -> None:
    """Disable a user and revoke its sessions."""
    users = _open(db)
    try:
        found = users.remove_user(name)
    finally:
        users.close()
    if not found:
        typer.echo(f"no user {name}", err=True)
        raise typer.Exit(1)
    typer.echo(f"user {name} removed")


def register(app: typer.Typer) -> None:
    """Add the users command group to the CLI."""
    app.add_typer(users_app, name="users")
