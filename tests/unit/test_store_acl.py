"""Access tokens inside the FTS index: upgrade from the first schema, group changes, no leaks by token."""

import sqlite3
from importlib import resources
from pathlib import Path

from inhouse.store import SQLiteStore
from inhouse.store.sqlite import _split_sql, acl_token
from inhouse.types import Chunk, Document, Principal


def _chunk(text: str) -> Chunk:
    return Chunk(text=text, page=None, heading_path=(), char_start=0, char_end=len(text))


def test_store_built_with_the_first_schema_is_upgraded_in_place(tmp_path: Path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    first = resources.files("inhouse.store").joinpath("migrations", "001_initial.sql").read_text("utf-8")
    for statement in _split_sql(first):
        conn.execute(statement)
    conn.execute("INSERT INTO migrations VALUES ('001_initial.sql', 'then')")
    conn.execute("INSERT INTO documents (id, tenant, path, kind, sha256) VALUES (1, 'acme', 'hr.md', 'md', 'x')")
    conn.execute("INSERT INTO doc_groups VALUES (1, 'hr')")
    conn.execute("INSERT INTO chunks (doc_id, tenant, ordinal, text, char_start, char_end, terms) "
                 "VALUES (1, 'acme', 0, '경조휴가는 5일', 0, 8, '경조 휴가 5 일')")
    conn.close()

    store = SQLiteStore(path)
    assert store.check() == []
    assert [i for i, _ in store.lexical_search(Principal("acme", "lee", ("hr",)), ["휴가"], 10)] == [1]
    assert store.lexical_search(Principal("acme", "kim", ("staff",)), ["휴가"], 10) == []
    assert store.lexical_search(Principal("globex", "lee", ("hr",)), ["휴가"], 10) == []
    store.close()


def test_group_change_takes_effect_in_lexical_search(store: SQLiteStore):
    doc = Document(path="leave.md", tenant="acme", groups=("hr",), sha256="1", kind="md")
    store.replace_document(doc, [_chunk("Bereavement leave is five days.")], ["bereavement leave five days"])
    staff, hr = Principal("acme", "kim", ("staff",)), Principal("acme", "lee", ("hr",))
    assert store.lexical_search(staff, ["bereavement"], 5) == []
    store.set_groups("acme", "leave.md", ["staff"])
    assert len(store.lexical_search(staff, ["bereavement"], 5)) == 1
    assert store.lexical_search(hr, ["bereavement"], 5) == []
    assert store.check() == []


def test_access_tokens_cannot_be_searched_as_terms(store: SQLiteStore):
    token = acl_token("acme", "hr")
    doc = Document(path="secret.md", tenant="acme", groups=("hr",), sha256="1", kind="md")
    store.replace_document(doc, [_chunk("salary bands")], ["salary band"])
    # A user who learns a token still searches only the terms column, and only with their own groups.
    assert store.lexical_search(Principal("acme", "kim", ("staff",)), [token, "salary"], 5) == []
    assert token.isdigit() and acl_token("acme", "hr") != acl_token("globex", "hr")


def test_the_tokenizer_is_made_anew_after_a_large_batch():
    """FTS5 keeps a deleted batch's segments until it merges them; left there after a bulk load's postings, they
    made every later query's tokenization 100 times slower. A large batch leaves an empty index behind."""
    from inhouse.store.lexical import Tokenizer

    tok = Tokenizer()
    batch = [" ".join(f"w{i}x{j} 단어{j}" for j in range(50)) for i in range(tok.FRESH_AFTER + 1)]
    found = tok.positions(batch)
    assert found[3]["w3x1"] == [2] and found[3]["단어1"] == [3]
    assert tok._conn.execute("SELECT count(*) FROM t_data").fetchone()[0] <= 2  # only the empty index's header
    assert tok.positions(["반품 기간 반품"]) == [{"반품": [0, 2], "기간": [1]}]
