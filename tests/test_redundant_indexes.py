"""No index repeats another: every index costs each insert (the ingest path writes millions of
log rows) and disk, so a single-column index whose column leads a composite index, or two
indexes on the same columns, must not come back (monitoring.models' docstring, migration 0008)."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

# Per table: each plain b-tree index's name, its columns in order, whether it is unique or partial.
INDEXES = """
SELECT t.relname, c.relname, i.indisunique, i.indpred IS NOT NULL,
       array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_am am ON am.oid = c.relam
WHERE t.relname LIKE 'monitoring\\_%%' AND am.amname = 'btree'
"""


def redundant_indexes():
    with connection.cursor() as cursor:
        cursor.execute(INDEXES)
        rows = cursor.fetchall()
    found = []
    for table, name, unique, partial, columns in rows:
        if unique or partial:
            continue  # a constraint, or an index over part of the rows: not a plain duplicate
        for other_table, other, _, other_partial, other_columns in rows:
            if other_table != table or other == name or other_partial:
                continue
            if other_columns[:len(columns)] == columns and (len(other_columns) > len(columns) or other < name):
                found.append(f"{table}.{name} {columns} is covered by {other} {other_columns}")
    return found


def test_no_monitoring_index_is_covered_by_another():
    assert redundant_indexes() == []


def test_the_check_sees_a_covered_index():
    # The same check, shown to catch what it looks for: the logs' execution index it replaced.
    with connection.cursor() as cursor:
        cursor.execute('CREATE INDEX "log_exec_again" ON "monitoring_executionlog" ("execution_id")')
    assert any(found.startswith("monitoring_executionlog.log_exec_again") for found in redundant_indexes())
