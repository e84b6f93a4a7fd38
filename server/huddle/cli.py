"""The `huddle` command: serve, migrate, load demo data, manage keys and organizations.

Every command reads the same HUDDLE_* settings; a bad setting stops it with one line
naming the variable (exit status 2).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

from huddle.config import ConfigError, Settings, load_settings
from huddle.db import NoWriteAheadLog
from huddle.identity.tokens import SigningKeyError, SigningKeys
from huddle.protect.keyring import KeyringContents, KeyringError, write_keyring_file
from huddle.runtime import Runtime

T = TypeVar("T")

# On SIGTERM uvicorn stops accepting, closes WebSockets with 1012 (clients reconnect to
# another instance and resume) and waits this long for requests in flight; then it
# cancels them and exits. Orchestrators should allow a little more (Kubernetes: 30 s).
SHUTDOWN_GRACE_SECONDS = 20


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        raise SystemExit(2)
    try:
        settings = load_settings()
        args.run(settings, args)
    except ConfigError as exc:
        _fail(f"configuration error: {exc}")
    except (SigningKeyError, KeyringError, NoWriteAheadLog) as exc:
        _fail(str(exc))
    except (OperationalError, InterfaceError, OSError) as exc:
        # Statement parameters are hidden (hide_parameters); say what failed, not where.
        cause = getattr(exc, "orig", None) or exc
        _fail(f"cannot use the database: {type(cause).__name__}: {cause}")


def _fail(message: str) -> NoReturn:
    print(f"huddle: {message}", file=sys.stderr)
    raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="huddle", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="serve the API and web client")
    serve.add_argument("--host", help="listen address (default: HUDDLE_HOST)")
    serve.add_argument("--port", type=int, help="listen port (default: HUDDLE_PORT)")
    serve.set_defaults(run=_serve)

    db = commands.add_parser("db", help="database migrations").add_subparsers(title="db commands")
    up = db.add_parser("upgrade", help="apply migrations (to head by default)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(run=_db_upgrade)
    down = db.add_parser("downgrade", help="revert migrations to REVISION ('base' = empty)")
    down.add_argument("revision")
    down.set_defaults(run=_db_downgrade)
    db.add_parser("current", help="show the database's revision").set_defaults(run=_db_current)

    demo = commands.add_parser("demo", help="load the demo clinic (never in production)")
    demo.add_argument(
        "--if-empty", action="store_true", help="do nothing if any organization exists"
    )
    demo.set_defaults(run=_demo)

    keys = commands.add_parser("signing-keys", help="keys that sign access tokens")
    key_commands = keys.add_subparsers(title="signing-keys commands")
    init = key_commands.add_parser("init", help="create the key file")
    init.add_argument("--if-missing", action="store_true", help="keep an existing file")
    init.set_defaults(run=_keys_init)
    key_commands.add_parser(
        "rotate", help="add a new active key; old keys keep verifying"
    ).set_defaults(run=_keys_rotate)
    key_commands.add_parser("list", help="list key ids").set_defaults(run=_keys_list)
    retire = key_commands.add_parser(
        "retire", help="remove an old key (wait 15 minutes after rotating)"
    )
    retire.add_argument("kid")
    retire.set_defaults(run=_keys_retire)

    kek = commands.add_parser("keys", help="the keyring that protects PHI at rest")
    kek_commands = kek.add_subparsers(title="keys commands")
    kek_init = kek_commands.add_parser("init", help="create the keyring file")
    kek_init.add_argument("--if-missing", action="store_true", help="keep an existing file")
    kek_init.set_defaults(run=_kek_init)
    kek_commands.add_parser(
        "rotate", help="add a new active KEK and re-wrap every data key (online)"
    ).set_defaults(run=_kek_rotate)
    kek_commands.add_parser("status", help="which KEK wraps how many data keys").set_defaults(
        run=_kek_status
    )
    kek_retire = kek_commands.add_parser("retire", help="remove a KEK that wraps no data key")
    kek_retire.add_argument("kek_id")
    kek_retire.set_defaults(run=_kek_retire)

    audit = commands.add_parser("audit", help="the tamper-evident audit log")
    audit_commands = audit.add_subparsers(title="audit commands")
    verify = audit_commands.add_parser(
        "verify", help="check every event and checkpoint; exit 1 naming the first bad event"
    )
    verify.add_argument(
        "--checkpoint", type=Path, help="also check against a checkpoint file kept elsewhere"
    )
    verify.set_defaults(run=_audit_verify)
    checkpoint = audit_commands.add_parser(
        "checkpoint", help="sign a checkpoint of the log (Merkle root, Ed25519)"
    )
    checkpoint.add_argument(
        "--export", type=Path, help="also write it to this file (keep it outside the database)"
    )
    checkpoint.set_defaults(run=_audit_checkpoint)

    org = commands.add_parser("org", help="organizations").add_subparsers(title="org commands")
    create = org.add_parser(
        "create",
        help="create an organization and its first admin "
        "(password from HUDDLE_ADMIN_PASSWORD or a prompt)",
    )
    create.add_argument("--name", required=True)
    create.add_argument("--admin-email", required=True)
    create.add_argument("--admin-name", required=True)
    create.set_defaults(run=_org_create)
    return parser


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from huddle.app import create_app
    from huddle.observability import configure_logging

    configure_logging(settings.log_level)
    app = create_app(settings)
    if problem := _schema_problem(settings):
        _fail(problem)
    host, port = args.host or settings.host, args.port or settings.port
    print(f"Huddle is serving at http://{host}:{port}", file=sys.stderr, flush=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        # Client addresses behind proxies: HUDDLE_TRUSTED_PROXIES (huddle.client_address).
        proxy_headers=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        ws_ping_interval=settings.ws_ping_seconds,
        ws_ping_timeout=settings.ws_ping_seconds,
        # Chat frames are small; compressing them saves little on the wire, while each
        # socket's deflate state costs ~40 KiB (bench (d): 90 -> 48 KiB per idle socket).
        ws_per_message_deflate=False,
    )


def _schema_problem(settings: Settings) -> str | None:
    """Why this code must not serve this database: its schema is behind or ahead of the
    migrations shipped here. A database that does not answer is no reason to refuse: the
    server starts not ready (/ready says why) and recovers when it comes back."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from huddle import migrate
    from huddle.db import create_engine

    async def current() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    try:
        revision = asyncio.run(current())
    except (OperationalError, InterfaceError, OSError) as exc:
        cause = type(getattr(exc, "orig", None) or exc).__name__
        logging.getLogger("huddle").warning(
            "database not reachable (%s); serving, not ready until it is", cause
        )
        return None
    head = migrate.head_revision()
    if revision == head:
        return None
    if revision is None:
        return "the database has no schema yet: run `huddle db upgrade`, then start the server"
    try:
        ScriptDirectory(str(migrate.MIGRATIONS_DIR)).get_revision(revision)
    except CommandError:
        return (
            f"the database schema is at {revision}, newer than this version knows (its "
            f"newest is {head}): a later release migrated it; deploy that release"
        )
    return (
        f"the database schema is at {revision}, behind this version's {head}: "
        "run `huddle db upgrade`, then start the server"
    )


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> None:
    from huddle import migrate

    migrate.upgrade(settings.database_url, args.revision)
    print(f"database upgraded to {args.revision}")


def _db_downgrade(settings: Settings, args: argparse.Namespace) -> None:
    from huddle import migrate

    migrate.downgrade(settings.database_url, args.revision)
    print(f"database downgraded to {args.revision}")


def _db_current(settings: Settings, _args: argparse.Namespace) -> None:
    from huddle import migrate
    from huddle.db import create_engine

    async def current() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    revision = asyncio.run(current())
    head = migrate.head_revision()
    state = "at head" if revision == head else f"behind head {head}"
    print(f"{revision or 'empty (no revision)'} ({state})")


def _demo(settings: Settings, args: argparse.Namespace) -> None:
    from huddle.demo import load_demo

    if settings.is_production:
        _fail("demo data is never loaded when HUDDLE_ENV=production")
    result = _with_runtime(settings, lambda rt: load_demo(rt, only_if_empty=args.if_empty))
    if not result.created:
        print("Demo data already present; nothing changed.")
        return
    print("Demo clinic loaded. Sign in at the web client with any of:")
    for email in result.emails:
        print(f"  {email}")
    origin = "HUDDLE_DEMO_PASSWORD" if settings.demo_password else "default"
    print(f"  password ({origin}): {result.password}")


def _org_create(settings: Settings, args: argparse.Namespace) -> None:
    from huddle.actor import Role
    from huddle.errors import HuddleError
    from huddle.identity import accounts

    password = os.environ.get("HUDDLE_ADMIN_PASSWORD") or getpass.getpass("Admin password: ")
    admin = accounts.NewUser(args.admin_email, args.admin_name, Role.ADMIN, password)
    try:
        org, _ = _with_runtime(
            settings, lambda rt: accounts.create_organization(rt, args.name, [admin])
        )
    except HuddleError as exc:
        _fail(exc.detail)
    print(f"organization {org.id} created with admin {args.admin_email}")


def _with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def run() -> T:
        rt = Runtime.build(settings)
        try:
            return await work(rt)
        finally:
            await rt.db.dispose()

    return asyncio.run(run())


def _keys_init(settings: Settings, args: argparse.Namespace) -> None:
    path = settings.signing_keys_file
    if path.exists():
        if args.if_missing:
            return
        _fail(f"{path} already exists; use `huddle signing-keys rotate` to add a key")
    SigningKeys.generate().save(path)
    print(f"created signing keys at {path} (owner-only permissions)")


def _keys_rotate(settings: Settings, _args: argparse.Namespace) -> None:
    keys = SigningKeys.load(settings.signing_keys_file).rotated()
    keys.save(settings.signing_keys_file)
    print(f"new active key {keys.active_kid}; restart or roll the servers to pick it up")


def _keys_list(settings: Settings, _args: argparse.Namespace) -> None:
    keys = SigningKeys.load(settings.signing_keys_file)
    for kid in keys.private_keys:
        print(f"{kid}{'  (active)' if kid == keys.active_kid else ''}")


def _keys_retire(settings: Settings, args: argparse.Namespace) -> None:
    keys = SigningKeys.load(settings.signing_keys_file).without(args.kid)
    keys.save(settings.signing_keys_file)
    print(f"retired key {args.kid}")


def _kek_init(settings: Settings, args: argparse.Namespace) -> None:
    path = settings.keyring_file
    if path.exists():
        if args.if_missing:
            return
        _fail(f"{path} already exists; use `huddle keys rotate` to add a key")
    write_keyring_file(path, KeyringContents.generate())
    print(f"created keyring at {path} (owner-only permissions); keep it out of database backups")


def _kek_rotate(settings: Settings, _args: argparse.Namespace) -> None:
    from huddle.protect import operations
    from huddle.runtime import load_keyring

    keyring = load_keyring(settings)
    new_kek = operations.add_kek(keyring)
    print(f"new active KEK {new_kek}; re-wrapping data keys", flush=True)

    def progress(done: int) -> None:
        print(f"  re-wrapped {done} data keys", flush=True)

    total = asyncio.run(operations.rewrap_all(settings.database_url, keyring, progress))
    print(f"done: {total} data keys re-wrapped under {new_kek}; no message was re-encrypted")
    _kek_status(settings, _args)


def _kek_status(settings: Settings, _args: argparse.Namespace) -> None:
    from huddle.protect import operations
    from huddle.runtime import load_keyring

    keyring = load_keyring(settings)
    counts = asyncio.run(operations.status(settings.database_url))
    active, known = keyring.active_kek_id(), keyring.contents.keks
    for kek_id in sorted(set(known) | set(counts)):
        notes = [
            note
            for note, applies in (
                ("active", kek_id == active),
                ("MISSING from the keyring: its data cannot be read", kek_id not in known),
            )
            if applies
        ]
        suffix = f"  ({'; '.join(notes)})" if notes else ""
        print(f"{kek_id}: wraps {counts.get(kek_id, 0)} data keys{suffix}")


def _kek_retire(settings: Settings, args: argparse.Namespace) -> None:
    from huddle.protect import operations
    from huddle.runtime import load_keyring

    keyring = load_keyring(settings)
    in_use = asyncio.run(operations.status(settings.database_url)).get(args.kek_id, 0)
    if in_use:
        _fail(f"{args.kek_id} still wraps {in_use} data keys; run `huddle keys rotate` first")
    keyring.save(keyring.contents.without_kek(args.kek_id))
    print(f"retired KEK {args.kek_id}")


def _audit_checkpoint(settings: Settings, args: argparse.Namespace) -> None:
    from huddle.protect import operations
    from huddle.runtime import load_keyring

    document = asyncio.run(operations.checkpoint(settings.database_url, load_keyring(settings)))
    print(f"checkpoint: {document['tree_size']} events, root {document['root_hash']}")
    if args.export:
        operations.write_checkpoint(args.export, document)
        print(f"written to {args.export}")


def _audit_verify(settings: Settings, args: argparse.Namespace) -> None:
    from huddle.protect import operations
    from huddle.runtime import load_keyring

    external = None
    if args.checkpoint:
        try:
            external = operations.read_checkpoint(args.checkpoint)
        except (OSError, ValueError) as exc:
            _fail(f"cannot read the checkpoint file: {exc}")
    report = asyncio.run(operations.verify(settings.database_url, load_keyring(settings), external))
    if report.ok:
        print(
            f"audit log intact: {report.events_checked} events, "
            f"{report.checkpoints_checked} checkpoints verified"
        )
        return
    print(f"AUDIT LOG DAMAGED: {report.problem}", file=sys.stderr)
    raise SystemExit(1)
