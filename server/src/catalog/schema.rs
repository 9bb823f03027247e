//! The catalog's schema, one migration per change, applied in order on
//! start (SQLite's `user_version` records how far a database is). Never edit
//! a migration that has shipped: add the next one.

use rusqlite_migration::{Migrations, M};

pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE orgs (
            id INTEGER PRIMARY KEY,
            slug TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            login TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE members (
            org_id INTEGER NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
            PRIMARY KEY (org_id, user_id)
        );
        CREATE TABLE apps (
            id INTEGER PRIMARY KEY,
            org_id INTEGER NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
            slug TEXT NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('application', 'addon')),
            runtime TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            UNIQUE (org_id, slug)
        );
        CREATE TABLE tokens (
            id INTEGER PRIMARY KEY,
            org_id INTEGER NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            hint TEXT NOT NULL,
            secret_hash BLOB NOT NULL UNIQUE,
            can_read INTEGER NOT NULL,
            can_ingest INTEGER NOT NULL,
            can_admin INTEGER NOT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
        );
        CREATE INDEX tokens_by_org ON tokens (org_id);",
        ),
        // Console sign-in: a session per browser, its secret stored as a digest.
        M::up(
            "CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            secret_hash BLOB NOT NULL UNIQUE,
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        );",
        ),
        // An org's Grafana: whether it is on, and its own read-only token,
        // whose secret is kept because Vigie writes it into Grafana's data
        // source (docs/SECURITY.md).
        M::up(
            "CREATE TABLE grafana (
            org_id INTEGER PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
            enabled INTEGER NOT NULL,
            token_id INTEGER REFERENCES tokens (id),
            token_secret TEXT,
            provisioned_at INTEGER,
            provision_error TEXT
        );",
        ),
        // Drains: where an app's (or the org's audit) logs are forwarded,
        // and how far each has delivered. `app` is NULL for an org drain.
        // `recipient` and `gaps` are JSON that `drains` reads.
        M::up(
            "CREATE TABLE drains (
            id INTEGER PRIMARY KEY,
            org_id INTEGER NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
            app TEXT,
            kind TEXT NOT NULL CHECK (kind IN ('LOG', 'ACCESSLOG', 'AUDITLOG')),
            recipient TEXT NOT NULL,
            enabled INTEGER NOT NULL,
            disabled_reason TEXT,
            cursor INTEGER NOT NULL,
            gaps TEXT NOT NULL DEFAULT '[]',
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX drains_by_org ON drains (org_id, app);",
        ),
        // Saved views of the logs page, shared by an org's members: a name
        // and the page's query (kind, filter, range), opened by link.
        M::up(
            "CREATE TABLE saved_views (
            id INTEGER PRIMARY KEY,
            org_id INTEGER NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            app TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('service', 'access')),
            q TEXT NOT NULL,
            since TEXT NOT NULL,
            until TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            UNIQUE (org_id, name)
        );",
        ),
        // A saved view keeps the access table's columns too.
        M::up("ALTER TABLE saved_views ADD COLUMN cols TEXT NOT NULL DEFAULT '';"),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
