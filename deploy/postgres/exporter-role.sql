-- postgres-exporter's PostgreSQL role: pg_monitor (statistics views), nothing of Flowtower's data.
-- Idempotent (creates the role if missing, sets its password); compose's db-roles service runs it
-- at every start:
--
--   psql "$DATABASE_URL" -v exporter_password="$POSTGRES_EXPORTER_PASSWORD" -f deploy/postgres/exporter-role.sql

\set ON_ERROR_STOP on

\if :{?exporter_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'give the password: psql -v exporter_password=... (POSTGRES_EXPORTER_PASSWORD)'; END $$;
\endif
SELECT length(:'exporter_password') < 12 AS exporter_password_too_short \gset
\if :exporter_password_too_short
  DO $$ BEGIN RAISE EXCEPTION 'POSTGRES_EXPORTER_PASSWORD must be at least 12 characters'; END $$;
\endif

SELECT 'CREATE ROLE postgres_exporter' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'postgres_exporter') \gexec
ALTER ROLE postgres_exporter WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    CONNECTION LIMIT 3 PASSWORD :'exporter_password';
ALTER ROLE postgres_exporter SET default_transaction_read_only = on;
ALTER ROLE postgres_exporter SET statement_timeout = '10s';
GRANT pg_monitor TO postgres_exporter;
GRANT CONNECT ON DATABASE :"DBNAME" TO postgres_exporter;
