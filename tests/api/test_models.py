import psycopg

from api.models import Base


def test_orm_tables_match_schema_sql(pg_dsn: str) -> None:
    """Every modelled table has exactly the columns (and nullability) 001_schema.sql creates."""
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        ).fetchall()
    db: dict[str, dict[str, bool]] = {}
    for table, column, nullable in rows:
        db.setdefault(table, {})[column] = nullable == "YES"
    assert set(Base.metadata.tables) == {
        "detections",
        "known_sites",
        "imagery_catalog",
        "tiles",
        "reviews",
    }
    for name, table in Base.metadata.tables.items():
        orm = {c.name: bool(c.nullable) and not c.primary_key for c in table.columns}
        assert orm == db[name], name
