"""Drop indexes that a composite index already covers (monitoring.models' docstring): nine
single-column foreign-key indexes whose column leads a composite index or unique constraint, and
error_exec, which repeated the errors' execution foreign-key index.

Only the indexes go. Django's AlterField to db_index=False would also drop and re-add each foreign
key constraint, which re-checks every row (a full scan of the logs table, under lock); the state
operations below tell Django the fields changed, the database operations only drop the indexes.
The names are Django's for these tables and columns (the same on PostgreSQL and SQLite)."""

import django.db.models.deletion
from django.db import migrations, models

# (table, column, index name): the foreign-key indexes dropped, and the composite covering each.
FK_INDEXES = [
    ("monitoring_alert", "team_id", "monitoring_alert_team_id_28550483"),  # alert_team_ts
    ("monitoring_alert", "workflow_id", "monitoring_alert_workflow_id_3a09154d"),  # alert_wf_ts
    ("monitoring_execution", "workflow_id", "monitoring_execution_workflow_id_dedd28ed"),  # execution_wf_started
    ("monitoring_executionlog", "execution_id", "monitoring_executionlog_execution_id_5f01b84a"),  # log_exec_ts
    ("monitoring_executionlog", "workflow_id", "monitoring_executionlog_workflow_id_768c0b07"),  # log_wf_ts
    ("monitoring_membership", "team_id", "monitoring_membership_team_id_ac67828d"),  # membership_unique_team_user
    ("monitoring_performancemetric", "workflow_id", "monitoring_performancemetric_workflow_id_0a05e4e8"),  # perf_wf_ts
    ("monitoring_workflow", "team_id", "monitoring_workflow_team_id_89917006"),  # workflow_unique_external_id
    ("monitoring_workflowerror", "workflow_id", "monitoring_workflowerror_workflow_id_f6d83e1b"),  # error_wf_ts
]
# error_exec duplicated monitoring_workflowerror_execution_id_24d64ca6, which stays.
DUPLICATES = [("monitoring_workflowerror", "execution_id", "error_exec")]

DROP = [
    migrations.RunSQL(
        sql=f'DROP INDEX IF EXISTS "{name}"',
        reverse_sql=f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")',
    )
    for table, column, name in FK_INDEXES + DUPLICATES
]


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0007_execution_metadata'),
    ]

    operations = [migrations.SeparateDatabaseAndState(database_operations=DROP, state_operations=[
        migrations.RemoveIndex(
            model_name='workflowerror',
            name='error_exec',
        ),
        migrations.AlterField(
            model_name='alert',
            name='team',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='alerts', to='monitoring.team'),
        ),
        migrations.AlterField(
            model_name='alert',
            name='workflow',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='alerts', to='monitoring.workflow'),
        ),
        migrations.AlterField(
            model_name='execution',
            name='workflow',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='executions', to='monitoring.workflow'),
        ),
        migrations.AlterField(
            model_name='executionlog',
            name='execution',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='logs', to='monitoring.execution'),
        ),
        migrations.AlterField(
            model_name='executionlog',
            name='workflow',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='logs', to='monitoring.workflow'),
        ),
        migrations.AlterField(
            model_name='membership',
            name='team',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='monitoring.team'),
        ),
        migrations.AlterField(
            model_name='performancemetric',
            name='workflow',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='performance_metrics', to='monitoring.workflow'),
        ),
        migrations.AlterField(
            model_name='workflow',
            name='team',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='workflows', to='monitoring.team'),
        ),
        migrations.AlterField(
            model_name='workflowerror',
            name='workflow',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='errors', to='monitoring.workflow'),
        ),
    ])]
