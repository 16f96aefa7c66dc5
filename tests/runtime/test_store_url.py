"""`--store` URLs: a PostgreSQL URL's parts become the library's settings; anything else
is refused before a connection is tried."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.runtime.store.postgres import postgres_env

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1)
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z0-9-]{1,10}){0,2}", fullmatch=True)


@given(user=names, password=names, host=hosts, port=st.integers(1, 65535), dbname=names)
def test_a_url_s_parts_are_the_connection_s(
    user: str, password: str, host: str, port: int, dbname: str
) -> None:
    url = f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/"
    env = postgres_env(url + quote(dbname, safe=""))
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == (user, password)
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == (host, str(port))
    assert env["POSTGRES_DBNAME"] == dbname


@pytest.mark.parametrize(
    "url", ["sqlite:///var/lib/berth", "postgresql://db:5432/", "mysql://db/berth", "db/berth"]
)
def test_what_is_not_a_postgresql_url_with_a_database_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL store URL"):
        postgres_env(url)
