"""PostgreSQL 15 + PostGIS 3 on loopback, run as the ``postgres`` user (never as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from deploy.local.process import port_in_use, wait_until
from deploy.local.service import ServiceError, ServiceStatus

__all__ = ["SCHEMA_SQL", "PostgresService", "apply_schema"]

PGBIN = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))
SCHEMA_SQL = Path(__file__).resolve().parents[1] / "postgres-init" / "001_schema.sql"


def apply_schema(dsn: str, schema_sql: Path = SCHEMA_SQL) -> None:
    """Apply the (idempotent) schema file to the database at ``dsn``."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(schema_sql.read_text())


def _as_postgres(cmd: list[str]) -> list[str]:
    """Prefix ``cmd`` with ``runuser -u postgres --`` when running as root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass(frozen=True)
class PostgresService:
    """A PostGIS cluster in ``state_dir`` listening on ``127.0.0.1:port``.

    On first start it runs ``initdb``, creates the application role and database, enables
    PostGIS and applies ``001_schema.sql`` (the file docker compose mounts too). Data persists
    across ``stop``/``start``.
    """

    state_dir: Path
    port: int = 55432
    superuser_password: str = "postgres"
    app_user: str = "launchwatch"
    app_password: str = "launchwatch"
    database: str = "launchsite"
    fast_unsafe: bool = False
    name: str = "postgres"

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.state_dir / "data"

    @property
    def superuser_dsn(self) -> str:
        """DSN of the superuser on the maintenance database."""
        return f"postgresql://postgres:{self.superuser_password}@127.0.0.1:{self.port}/postgres"

    @property
    def dsn(self) -> str:
        """DSN of the application role on the application database."""
        return f"postgresql://{self.app_user}:{self.app_password}@127.0.0.1:{self.port}/{self.database}"

    def _check_installed(self) -> None:
        if not (PGBIN / "initdb").exists():
            raise ServiceError(
                f"PostgreSQL binaries not found in {PGBIN}: "
                "apt-get install -y postgresql-15-postgis-3 (or set PGBIN)"
            )

    def _prepare_dirs(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        if os.geteuid() == 0:
            shutil.chown(self.state_dir, "postgres", "postgres")
            probe = subprocess.run(
                ["runuser", "-u", "postgres", "--", "test", "-x", str(self.state_dir)],
                check=False,
            )
            if probe.returncode != 0:
                raise ServiceError(
                    f"the postgres user cannot reach {self.state_dir}: every parent directory "
                    "must be world-executable (chmod o+x) — or choose another state dir"
                )

    def _initdb(self) -> None:
        pwfile = self.state_dir / "pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(PGBIN / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        pwfile.unlink()

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            _as_postgres([str(PGBIN / "pg_ctl"), "-D", str(self.data_dir), *args]),
            check=False,
            capture_output=True,
        )

    def _running(self) -> bool:
        return self.data_dir.exists() and self._pg_ctl("status").returncode == 0

    def _bootstrap(self) -> None:
        """Create role, database, PostGIS and schema (idempotent)."""
        with psycopg.connect(self.superuser_dsn, autocommit=True) as conn:
            role = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (self.app_user,)
            ).fetchone()
            if role is None:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(self.app_user), sql.Literal(self.app_password)
                    )
                )
            db = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if db is None:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(self.database), sql.Identifier(self.app_user)
                    )
                )
        app_db_as_superuser = self.superuser_dsn.rsplit("/", 1)[0] + f"/{self.database}"
        apply_schema(app_db_as_superuser)
        with psycopg.connect(app_db_as_superuser, autocommit=True) as conn:
            conn.execute(
                sql.SQL("GRANT ALL ON ALL TABLES IN SCHEMA public TO {}").format(
                    sql.Identifier(self.app_user)
                )
            )
            conn.execute(
                sql.SQL("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {}").format(
                    sql.Identifier(self.app_user)
                )
            )

    def start(self) -> None:
        """Init (first time), start, bootstrap and wait for the cluster."""
        self._check_installed()
        if self._running():
            self._bootstrap()
            return
        if port_in_use(self.port):
            raise ServiceError(
                f"port {self.port} is already in use by another program: "
                "set POSTGRES_PORT to a free port"
            )
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        opts = f"-p {self.port} -k {self.state_dir} -c listen_addresses=127.0.0.1"
        if self.fast_unsafe:
            opts += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        res = self._pg_ctl("-l", str(self.state_dir / "server.log"), "-w", "-o", opts, "start")
        if res.returncode != 0:
            raise ServiceError(
                f"PostgreSQL failed to start on port {self.port}: "
                f"{res.stderr.decode(errors='replace').strip()} (see {self.state_dir}/server.log)"
            )
        wait_until(lambda: port_in_use(self.port), 30, "PostgreSQL")
        self._bootstrap()

    def stop(self) -> None:
        """Stop the cluster (fast shutdown); the data directory stays."""
        if self._running():
            self._pg_ctl("-m", "fast", "-w", "stop")

    def status(self) -> ServiceStatus:
        """Report whether the cluster runs and accepts the application role."""
        running = self._running()
        healthy = False
        detail = ""
        if running:
            try:
                with psycopg.connect(self.dsn, connect_timeout=3) as conn:
                    conn.execute("SELECT postgis_version()")
                healthy = True
            except psycopg.Error as exc:
                detail = str(exc).strip()
        shown = f"postgresql://{self.app_user}@127.0.0.1:{self.port}/{self.database}"
        return ServiceStatus(self.name, running, healthy, shown, detail=detail)
