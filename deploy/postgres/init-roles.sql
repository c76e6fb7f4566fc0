-- Roles and databases of a new cluster, least privilege each. Run once, by a superuser, with psql
-- in the application's database: compose's postgres image does it on an empty data directory; on
-- a managed PostgreSQL the DBA runs it (README, "Production").
--   renewals_owner  owns the application's schema; only migrations (`renewals migrate`) use it;
--   renewals_app    the API and the workers: reads and writes rows, cannot change the schema;
--   temporal        owns Temporal's two databases and nothing else.
-- Passwords come from the secret files beside the others (psql reads them here; they are never
-- written into this file). In psql, not SQL: \set and the backquotes.
\set ON_ERROR_STOP on
\set owner_password `cat /run/secrets/renewals_owner_password`
\set app_password `cat /run/secrets/renewals_app_password`
\set temporal_password `cat /run/secrets/temporal_db_password`

CREATE ROLE renewals_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE renewals_app LOGIN PASSWORD :'app_password';
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';

ALTER DATABASE :"DBNAME" OWNER TO renewals_owner;
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"DBNAME" TO renewals_app;
ALTER SCHEMA public OWNER TO renewals_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO renewals_app;
-- Whatever the migrations create from now on, the application may use (never alter or drop).
ALTER DEFAULT PRIVILEGES FOR ROLE renewals_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO renewals_app;
ALTER DEFAULT PRIVILEGES FOR ROLE renewals_owner IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO renewals_app;
ALTER DEFAULT PRIVILEGES FOR ROLE renewals_owner IN SCHEMA public
    GRANT EXECUTE ON FUNCTIONS TO renewals_app;

CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE temporal, temporal_visibility FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE temporal, temporal_visibility TO temporal;
