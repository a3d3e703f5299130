-- Compose only: MLflow's backend store lives in its own database on the same PostGIS server
-- (owned by POSTGRES_USER, the role the postgres image creates). Runs once, after 001_schema.sql.
CREATE DATABASE mlflow;
