"""CLI commands for users, brands and stored secrets (``scanguard admin ...``,
``scanguard brands ...``, ``scanguard secrets ...``).

Passwords never travel as command-line arguments (they would show in ``ps`` and shell
history): they come from stdin (``--password-stdin``) or a hidden prompt.
"""

from __future__ import annotations

import sys

import click

from admin_api.accounts.services import ADMIN_ROLES
from admin_api.notifications import services as notifications
from anticounterfeit.catalogue import services as catalogue
from anticounterfeit.catalogue.queries import Brand
from kernel import accounts
from kernel.accounts import User
from kernel.errors import DomainError
from kernel.runtime import Runtime, run_job
from kernel.secretbox import SecretBox, SecretDecryptionError, new_key
from kernel.settings import ConfigurationError, Settings
from kernel.uow import session_scope

__all__ = ["admin_group", "brands_group", "secrets_group"]


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on stdin")
        return password
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group("admin")
def admin_group() -> None:
    """Manage admin API users."""


@admin_group.command("create-user")
@click.option("--username", required=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(sorted(str(role) for role in ADMIN_ROLES)),
    help="platform_admin has no brand; the other roles need --brand.",
)
@click.option("--brand", "brand_slug", default=None, help="Brand slug (brand roles).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from stdin (else a hidden prompt)."
)
def create_user(username: str, role: str, brand_slug: str | None, password_stdin: bool) -> None:
    """Create an admin user. Fails (exit 1, nothing changed) if the username exists."""
    settings = _settings()
    password = _read_password(password_stdin)
    try:
        accounts.check_password_policy(password)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc

    async def job(runtime: Runtime) -> User:
        async with session_scope(runtime.session_factory) as session:
            brand_id = None
            if brand_slug is not None:
                brand_id = (await catalogue.get_brand_by_slug(session, brand_slug)).id
            return await accounts.create_user(
                session, None, username=username, password=password, role=role, brand_id=brand_id
            )

    try:
        user = run_job(settings, job)
    except DomainError as exc:
        raise click.ClickException(f"{exc.detail} ({exc.code})") from exc
    click.echo(f"created user {user.username} ({user.role}) id={user.id}")


@click.group("brands")
def brands_group() -> None:
    """Manage brands (tenants) and their code keys."""


@brands_group.command("create")
@click.option("--slug", required=True, help="Short unique name: lowercase letters, digits, -.")
@click.option("--name", required=True, help="Display name.")
@click.option("--suspicious-distinct-devices", type=click.IntRange(1, 100_000), default=None)
def create_brand(slug: str, name: str, suspicious_distinct_devices: int | None) -> None:
    """Create a brand and assign it a free code key id from SCANGUARD_CODE_KEYS."""
    settings = _settings()

    async def job(runtime: Runtime) -> tuple[Brand, int]:
        async with session_scope(runtime.session_factory) as session:
            return await catalogue.create_brand(
                session,
                None,
                slug=slug,
                name=name,
                suspicious_distinct_devices=suspicious_distinct_devices,
                keyring=settings.auth.code_keyring.keys(),
            )

    try:
        brand, kid = run_job(settings, job)
    except DomainError as exc:
        raise click.ClickException(f"{exc.detail} ({exc.code})") from exc
    click.echo(f"created brand {brand.slug} id={brand.id} code key id={kid}")


@brands_group.command("rotate-key")
@click.option("--slug", required=True)
def rotate_key(slug: str) -> None:
    """Retire the brand's active code key and assign a fresh one."""
    settings = _settings()

    async def job(runtime: Runtime) -> tuple[int, int]:
        async with session_scope(runtime.session_factory) as session:
            brand = await catalogue.get_brand_by_slug(session, slug)
            return await catalogue.rotate_code_key(
                session, None, brand.id, settings.auth.code_keyring.keys()
            )

    try:
        old, new = run_job(settings, job)
    except DomainError as exc:
        raise click.ClickException(f"{exc.detail} ({exc.code})") from exc
    click.echo(f"brand {slug}: retired key id {old}, active key id {new}")


@click.group("secrets")
def secrets_group() -> None:
    """Stored secrets (webhook signing secrets) and their encryption keys."""


@secrets_group.command("generate-key")
def generate_key() -> None:
    """Print a fresh key for SCANGUARD_SECRETS_KEY (put it first to rotate)."""
    click.echo(new_key())


@secrets_group.command("re-encrypt")
def reencrypt() -> None:
    """Re-encrypt every stored secret under the first key of SCANGUARD_SECRETS_KEY.

    Rotation: prepend a new key (new,old), restart, run this, then remove the old key.
    """
    settings = _settings()
    box = SecretBox.from_settings(settings)

    async def job(runtime: Runtime) -> int:
        async with session_scope(runtime.session_factory) as session:
            return await notifications.reencrypt_secrets(session, box)

    try:
        count = run_job(settings, job)
    except SecretDecryptionError as exc:
        raise click.ClickException(f"{exc} (nothing changed)") from exc
    click.echo(f"re-encrypted {count} webhook secret(s) under the newest key")
