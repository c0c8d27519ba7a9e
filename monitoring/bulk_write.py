"""Writing thousands of rows of one model at once, for the ingest path (monitoring.ingest): a
1,000-log batch spent more Python building instances and Django's multi-row INSERT than
PostgreSQL spent storing the rows (docs/benchmarks.md, "Batch ingest: profile and changes")."""

import json
import operator
import os
import uuid

from django.db import connection, models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init


def instance_maker(model):
    """make(common, **values) -> model(**common, **values), unsaved, for one batch. A batch builds
    thousands of instances and Model.__init__ costs several times the rest of a row's building
    (per field a descriptor, per related object its checks, two signals). With no pre_init /
    post_init receiver for the model, the instance is filled as __init__ would fill it (the
    attribute values, a fresh state; the workflow and execution cached as the keyword form
    caches them); with one, __init__ runs."""
    fields = model._meta.concrete_fields
    attnames = [f.attname for f in fields]
    ids = _uuid4s()
    defaults = [(f.attname, ids.__next__ if f.default is uuid.uuid4 else f.get_default) for f in fields]
    workflow_field, execution_field = model._meta.get_field("workflow"), model._meta.get_field("execution")
    plain = not (pre_init.has_listeners(model) or post_init.has_listeners(model))

    def make(common, **values):
        workflow, execution = common["workflow"], common["execution"]
        values.update(workflow_id=workflow.pk, execution_id=execution.pk if execution is not None else None,
                      timestamp=common["timestamp"], metadata=common["metadata"])
        for attname, default in defaults:
            if attname not in values:
                values[attname] = default()
        if plain:
            obj = model.__new__(model)
            obj._state = ModelState()
            obj.__dict__.update(values)
        else:
            obj = model(*[values[attname] for attname in attnames])
        workflow_field.set_cached_value(obj, workflow)
        execution_field.set_cached_value(obj, execution)
        return obj

    return make


def _uuid4s():
    """uuid.uuid4() values (which is UUID(bytes=os.urandom(16), version=4)), many from each
    os.urandom call instead of one call per id: the system call was most of a row's default id.
    The first calls are small, so a single-record post does not pay for a thousand."""
    count = 16
    while True:
        raw = os.urandom(16 * count)
        for start in range(0, len(raw), 16):
            yield uuid.UUID(bytes=raw[start:start + 16], version=4)
        count = min(count * 4, 1024)


def copy_rows(model, objs):
    """PostgreSQL: write the rows with COPY, in the surrounding transaction (all or nothing, as
    the INSERT), the values as bulk_create would send them. Building a multi-row INSERT cost
    Django more Python than PostgreSQL spent storing it. For models whose fields take their
    values at construction (no auto_now): log rows."""
    fields = model._meta.concrete_fields
    if any(getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) for f in fields):
        raise TypeError(f"{model.__name__} has fields that take their value on save; use bulk_create")
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    values = operator.attrgetter(*(f.attname for f in fields))  # the attributes, as psycopg adapts them
    # JSON as the field encodes it for the INSERT.
    json_columns = [(i, f.encoder) for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(sql) as copy:
            for obj in objs:
                row = list(values(obj))
                for i, encoder in json_columns:
                    row[i] = json.dumps(row[i], cls=encoder)
                copy.write_row(row)
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias
    return objs


def update_rows(model, objs, field_names):
    """PostgreSQL: save `field_names` of many rows with one UPDATE … FROM (VALUES …), each value as
    the field prepares it for the database, cast to its column's type. bulk_update builds a CASE
    expression per field with a WHEN per row, which Django resolves and compiles in Python (45 %
    of the n8n mirror's backfill time, 500 executions a batch) and PostgreSQL walks for every row.
    Rows are written in primary-key order, so concurrent writers lock them in one order. Like
    bulk_update, no pre_save: auto_now fields keep their value."""
    if not objs:
        return
    fields = [model._meta.get_field(name) for name in field_names]
    pk = model._meta.pk
    quote = connection.ops.quote_name
    casts = [pk.db_type(connection), *(f.db_type(connection) for f in fields)]
    row = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    names = ", ".join(quote(c) for c in ["__pk", *(f.column for f in fields)])
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields)
    params = []
    for obj in sorted(objs, key=lambda o: o.pk):
        params.append(pk.get_db_prep_save(obj.pk, connection))
        params.extend(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields)
    sql = (f"UPDATE {quote(model._meta.db_table)} AS t SET {assignments} "
           f"FROM (VALUES {', '.join([row] * len(objs))}) AS v({names}) WHERE t.{quote(pk.column)} = v.\"__pk\"")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def next_ids(model, count):
    """PostgreSQL: `count` ids from the model's id sequence, for rows written later with them (a
    new execution's records point at it before its row is written)."""
    table, column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [table, column, count])
        return [row[0] for row in cursor.fetchall()]


def insert_rows(model, objs, conflict_fields):
    """PostgreSQL: INSERT the rows, ids included, each value as bulk_create would send it (auto_now
    fields take the time now); a row whose `conflict_fields` are already taken is skipped
    (ON CONFLICT DO NOTHING). Returns the ids of the rows written. The values go as one array per
    column (unnest): a VALUES list of 500 rows is 7,500 placeholders, which psycopg splits in
    Python for longer than PostgreSQL takes to store the rows. Rows go in id order, so
    concurrent writers meet in one order."""
    if not objs:
        return []
    fields = model._meta.concrete_fields
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    conflict = ", ".join(quote(model._meta.get_field(name).column) for name in conflict_fields)
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    ordered = sorted(objs, key=lambda o: o.pk)
    params = [[f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in ordered] for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(model._meta.db_table)} ({columns}) SELECT * FROM unnest({arrays}) "
                       f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {quote(model._meta.pk.column)}", params)
        return [r[0] for r in cursor.fetchall()]
