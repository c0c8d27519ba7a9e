-- Grafana's read-only PostgreSQL role (datasource uid "flowtower-postgres", docs/dashboards.md).
--
-- Run it as the database owner once migrations have created the tables, and again after an upgrade
-- (it is idempotent: it creates the role if missing, sets its password, and grants afresh):
--
--   psql "$DATABASE_URL" -v reader_password="$GRAFANA_DB_READER_PASSWORD" -f deploy/postgres/grafana-reader.sql
--
-- The role is grafana_reader (what datasources.yml logs in as); -v reader_role=NAME makes another.
--
-- The role may only SELECT the columns the dashboards' SQL panels read: no token hashes, no
-- encrypted n8n secrets or API addresses, no error stacks, no metadata, no users or sessions. Its
-- sessions are read-only by default and bounded in time and connections.

\set ON_ERROR_STOP on

-- No password, no role: refuse rather than create a login nobody chose a secret for.
\if :{?reader_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'give the password: psql -v reader_password=... (GRAFANA_DB_READER_PASSWORD)'; END $$;
\endif
SELECT length(:'reader_password') < 12 AS reader_password_too_short \gset
\if :reader_password_too_short
  DO $$ BEGIN RAISE EXCEPTION 'GRAFANA_DB_READER_PASSWORD must be at least 12 characters'; END $$;
\endif

\if :{?reader_role}
\else
  \set reader_role grafana_reader
\endif

SELECT format('CREATE ROLE %I', :'reader_role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'reader_role') \gexec
ALTER ROLE :"reader_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT
    CONNECTION LIMIT 10 PASSWORD :'reader_password';
ALTER ROLE :"reader_role" SET default_transaction_read_only = on;
ALTER ROLE :"reader_role" SET statement_timeout = '10s';

GRANT CONNECT ON DATABASE :"DBNAME" TO :"reader_role";
GRANT USAGE ON SCHEMA public TO :"reader_role";
-- Start from nothing so a column taken out of this file loses its grant on the next run.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"reader_role";
REVOKE CREATE ON SCHEMA public FROM :"reader_role";

GRANT SELECT (id, slug, name) ON monitoring_team TO :"reader_role";
GRANT SELECT (id, team_id, source, external_id, name, active) ON monitoring_workflow TO :"reader_role";
GRANT SELECT (id, workflow_id, state, mode, started_at, stopped_at, duration_ms) ON monitoring_execution TO :"reader_role";
GRANT SELECT (id, workflow_id, execution_id, error_type, error_code, error_message, node_name, severity,
              "timestamp", resolved) ON monitoring_workflowerror TO :"reader_role";
GRANT SELECT (id, team_id, workflow_id, alert_type, severity, title, source, "timestamp", last_seen_at,
              occurrences, silenced, acknowledged, resolved) ON monitoring_alert TO :"reader_role";
GRANT SELECT (id, team_id, name, kind, enabled, last_run_at, last_success_at, last_error_at, failing_since,
              executions_mirrored, newest_execution_at) ON n8n_mirror_n8ninstance TO :"reader_role";
