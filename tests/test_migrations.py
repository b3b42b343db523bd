"""The migrations build exactly the tables liquidity/store/schema.py declares, on SQLite and PostgreSQL."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from liquidity.store import migrate
from liquidity.store.schema import metadata
from liquidity.store.store import create_store_engine

pytestmark = pytest.mark.sqlite_and_postgresql


@pytest.fixture
def migrated_engine(store_url):
    """An engine on the empty database at store_url, upgraded to the newest migration."""
    engine = create_store_engine(store_url)
    migrate(engine)
    yield engine
    engine.dispose()


def differences(engine, target):
    """Return what Alembic's autogenerate finds between the database behind engine and the metadata target."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, target)


def test_the_migrations_build_the_schema_modules_tables(migrated_engine):
    assert differences(migrated_engine, metadata) == [], "schema.py and the migrations differ: add a migration"


def test_a_column_without_its_migration_is_a_difference(migrated_engine):
    """The comparison sees a schema change, so the test above is not empty by construction."""
    changed = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["snapshots"].append_column(sa.Column("added_without_a_migration", sa.Text(), nullable=True))
    found = [(change[0], change[2], change[3].name) for change in differences(migrated_engine, changed)]
    assert found == [("add_column", "snapshots", "added_without_a_migration")]
