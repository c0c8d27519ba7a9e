"""What the real n8n 1.123.81 in tests/fixtures/n8n/ holds, as n8n itself shows it (the README of
that n8n's data): the truth every reader, the mapping and the sync must reproduce."""

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "n8n"
SQLITE = FIXTURES / "n8n-1.123.81.sqlite"

# (workflow, state, mode) -> (executions, average duration in ms).
TRUTH = {
    ("Order sync", "success", "webhook"): (12, 382),
    ("Customer import", "success", "webhook"): (4, 454),
    ("Customer import", "error", "webhook"): (3, 330),
    ("Invoice fetch", "error", "webhook"): (3, 373),
    ("CRM token check", "error", "webhook"): (2, 409),
    ("Warehouse ping", "error", "webhook"): (2, 443),
    ("Nightly report", "success", "webhook"): (2, 3744),
    ("Manager approval", "waiting", "webhook"): (1, None),
    ("Manual cleanup", "success", "cli"): (1, 79),
}
# (workflow, status, mode) -> executions.
COUNTS = {key: count for key, (count, _) in TRUTH.items()}
