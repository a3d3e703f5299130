import psycopg

from api.models import Base


def test_orm_tables_match_schema_sql(pg_dsn: str) -> None:
    """The ORM has every table of 001_schema.sql with exactly its columns and nullability."""
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name IN "
            "(SELECT tablename FROM pg_tables WHERE schemaname = 'public')"
        ).fetchall()
    db: dict[str, dict[str, bool]] = {}
    for table, column, nullable in rows:
        db.setdefault(table, {})[column] = nullable == "YES"
    assert set(Base.metadata.tables) == set(db) - {"spatial_ref_sys"}
    for name, table in Base.metadata.tables.items():
        orm = {c.name: bool(c.nullable) and not c.primary_key for c in table.columns}
        assert orm == db[name], name
