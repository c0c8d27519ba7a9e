"""Records handed to monitoring's one ingestion path, by kind and outcome:
- rejected: failed validation (monitoring.schemas.validate_records), counted at once;
- accepted: written (a log, an error, a performance record, a new alert, an "execution" record
  that created or changed its execution);
- duplicate: a repeat that changed nothing new (a repeat of an open alert, which only counts
  it; an "execution" record that left its execution as it was, e.g. a re-sync).
Accepted and duplicate are counted after the commit."""

from django.db import transaction
from prometheus_client import Counter

KINDS = ("log", "error", "performance", "alert", "execution")
OUTCOMES = ("accepted", "rejected", "duplicate")

RECORDS = Counter(
    "flowtower_ingested_records_total", "Records received for ingestion, by kind and outcome.", ["kind", "outcome"],
)
for _kind in KINDS:  # every series exists from the start, so rate() sees the first record
    for _outcome in OUTCOMES:
        RECORDS.labels(_kind, _outcome)


def rejected(kind, count):
    if count:
        RECORDS.labels(kind, "rejected").inc(count)


def written(counts):
    """`counts`: {(kind, outcome): n}, counted when the transaction commits."""
    counts = {key: n for key, n in counts.items() if n}
    if counts:
        transaction.on_commit(lambda: [RECORDS.labels(*key).inc(n) for key, n in counts.items()], robust=True)


def after_ingest(team, result, execution_records, explicit_changed):
    """Count one ingest: records of each kind, alerts new or repeated, execution records that
    changed their execution or not."""
    counts = {}
    for kind, objs in result.created.items():
        if kind == "alert":
            new = sum(1 for alert in objs if alert.pk in result.new_alerts)
            counts[("alert", "accepted")] = new
            counts[("alert", "duplicate")] = len(objs) - new
        else:
            counts[(kind, "accepted")] = len(objs)
    for execution in execution_records:
        key = ("execution", "accepted" if execution.pk in explicit_changed or execution._created_now else "duplicate")
        counts[key] = counts.get(key, 0) + 1
    written(counts)
