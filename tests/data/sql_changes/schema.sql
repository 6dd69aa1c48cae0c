-- The platform's tables, with real foreign keys; SQLite and PostgreSQL alike.
-- audit_trail is named by no collection: its rows still keep the accounts they point at.
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY, email TEXT NOT NULL, first_name TEXT, last_name TEXT,
    address TEXT, customer_id INTEGER);
CREATE TABLE enrolments (
    id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id), course TEXT);
CREATE TABLE attendance_log (
    enrolment_id INTEGER NOT NULL REFERENCES enrolments (id), day DATE NOT NULL,
    minutes INTEGER, PRIMARY KEY (enrolment_id, day));
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY, number TEXT UNIQUE NOT NULL,
    account_id INTEGER REFERENCES accounts (id), enrolment_id INTEGER REFERENCES enrolments (id),
    amount NUMERIC(10, 2));
CREATE TABLE tickets (
    id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts (id), requester_email TEXT,
    subject TEXT);
CREATE TABLE audit_trail (
    id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id), what TEXT);
