-- Test-only helpers, loaded into the test template database (never shipped).
-- pgTAP files build their scenarios with these instead of repeating INSERTs.
create schema if not exists cs_test;
