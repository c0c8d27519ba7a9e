"""Placeholder: the execution-log partitioning migration is written here."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0008_drop_redundant_indexes")]
    operations = []
