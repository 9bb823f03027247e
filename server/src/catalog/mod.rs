//! Who may see what: organisations, their members, their apps and add-ons,
//! and the API tokens that act for them, kept in an embedded SQLite
//! database (`catalog.sqlite` in the data directory) whose schema the
//! migrations in [`schema`] create and upgrade on start.
//!
//! Token secrets are never stored: only their SHA-256 digest, so a copy of
//! the database does not leak access. Passwords are Argon2id hashes.

pub mod changes;
mod drains;
mod grafana;
mod schema;
pub mod secrets;
mod sessions;
mod views;

pub use grafana::{GrafanaLink, GRAFANA_TOKEN_NAME};

pub use drains::{DrainRow, NewDrainRow};
pub use sessions::SESSION_TTL;
pub use views::{NewSavedView, SavedViewRow, MAX_SAVED_VIEWS};

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use vigie_app::model::AppKind;

use crate::clock::now_ns;

/// Who is calling the API and from where: what audit records name.
#[derive(Clone, Debug)]
pub struct Caller {
    pub token: TokenInfo,
    pub ip: std::net::IpAddr,
    /// The token's secret, so a long stream can re-check it.
    pub secret: String,
}

impl Caller {
    /// How audit records name the caller.
    pub fn actor(&self) -> String {
        format!("token {} \"{}\"", self.token.id, self.token.name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct App {
    pub slug: String,
    pub name: String,
    pub kind: AppKind,
    pub runtime: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Org {
    pub slug: String,
    pub name: String,
    pub apps: Vec<App>,
}

/// What a token may do in its org. `admin` includes the other two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Permissions {
    pub read: bool,
    pub ingest: bool,
    pub admin: bool,
}

impl Permissions {
    pub const ALL: Permissions = Permissions { read: true, ingest: true, admin: true };

    /// Reads `read,ingest,admin` (any of them, comma-separated).
    pub fn parse(text: &str) -> Result<Permissions, String> {
        let mut permissions = Permissions::default();
        for word in text.split(',').map(str::trim).filter(|word| !word.is_empty()) {
            match word {
                "read" => permissions.read = true,
                "ingest" => permissions.ingest = true,
                "admin" => permissions = Permissions::ALL,
                other => return Err(format!("unknown permission \"{other}\": use read, ingest or admin")),
            }
        }
        if permissions == Permissions::default() {
            return Err("a token needs at least one permission: read, ingest or admin".into());
        }
        Ok(permissions)
    }

    pub fn allows(self, need: Permission) -> bool {
        match need {
            Permission::Read => self.read || self.admin,
            Permission::Ingest => self.ingest || self.admin,
            Permission::Admin => self.admin,
        }
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.admin {
            return f.write_str("admin");
        }
        let words: Vec<&str> = [(self.read, "read"), (self.ingest, "ingest")]
            .into_iter()
            .filter_map(|(has, word)| has.then_some(word))
            .collect();
        f.write_str(&words.join(","))
    }
}

/// One thing a route needs a token to allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Read,
    Ingest,
    Admin,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Ingest => "ingest",
            Permission::Admin => "admin",
        }
    }
}

/// A token as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub org: String,
    pub name: String,
    /// The first characters of the secret, to tell tokens apart.
    pub hint: String,
    pub permissions: Permissions,
    pub created_by: String,
    pub created_at_ns: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ns: Option<i64>,
}

/// What a presented token turned out to be.
#[derive(Clone, Debug, PartialEq)]
pub enum Authentication {
    Valid(TokenInfo),
    Revoked(TokenInfo),
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    fn parse(text: &str) -> Role {
        if text == "admin" {
            Role::Admin
        } else {
            Role::Member
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    pub login: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("the catalog database failed: {0} (check the data directory's disk and permissions)")]
    Database(#[from] rusqlite::Error),
    #[error("cannot upgrade the catalog database: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("no {0}")]
    Missing(String),
}

/// A handle to the catalog; cloning it is shallow.
#[derive(Clone)]
pub struct Catalog {
    db: Arc<Mutex<Connection>>,
    /// Where committed changes are sent, in a cluster (see [`changes`]).
    changes: changes::ChangeSink,
}

/// The file of the catalog in the data directory.
pub const CATALOG_FILE: &str = "catalog.sqlite";

impl Catalog {
    /// Opens (creating if needed) the catalog in `data_dir` and brings its
    /// schema up to date.
    pub fn open(data_dir: &Path) -> Result<Catalog, CatalogError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|error| CatalogError::Invalid(format!("cannot create {}: {error}", data_dir.display())))?;
        let connection = Connection::open(data_dir.join(CATALOG_FILE))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        Catalog::prepare(connection)
    }

    pub fn in_memory() -> Result<Catalog, CatalogError> {
        Catalog::prepare(Connection::open_in_memory()?)
    }

    fn prepare(mut connection: Connection) -> Result<Catalog, CatalogError> {
        connection.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrations().to_latest(&mut connection)?;
        Ok(Catalog { db: Arc::new(Mutex::new(connection)), changes: Default::default() })
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (each call is one statement or one transaction), so go on.
        self.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True before the first user exists: the first start.
    pub fn has_users(&self) -> Result<bool, CatalogError> {
        Ok(self.db().query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |row| row.get(0))?)
    }

    /// Creates an org with its apps, or adds the apps it lacks.
    pub fn put_org(&self, org: &Org) -> Result<(), CatalogError> {
        check_slug("organisation", &org.slug)?;
        let mut db = self.db();
        let tx = db.transaction()?;
        tx.execute(
            "INSERT INTO orgs (slug, name, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (slug) DO UPDATE SET name = excluded.name",
            params![org.slug, org.name, now_ns()],
        )?;
        for app in &org.apps {
            check_slug("app", &app.slug)?;
            insert_app(&tx, &org.slug, app, true)?;
        }
        tx.commit()?;
        drop(db);
        self.emit(|| changes::org_put(org));
        Ok(())
    }

    pub fn orgs(&self) -> Result<Vec<Org>, CatalogError> {
        let slugs: Vec<String> = {
            let db = self.db();
            let mut statement = db.prepare_cached("SELECT slug FROM orgs ORDER BY slug")?;
            let rows = statement.query_map([], |row| row.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut orgs = Vec::with_capacity(slugs.len());
        for slug in slugs {
            orgs.extend(self.org(&slug)?);
        }
        Ok(orgs)
    }

    pub fn org(&self, slug: &str) -> Result<Option<Org>, CatalogError> {
        let db = self.db();
        let found: Option<(i64, String)> = db
            .prepare_cached("SELECT id, name FROM orgs WHERE slug = ?1")?
            .query_row([slug], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let Some((id, name)) = found else { return Ok(None) };
        let mut statement =
            db.prepare_cached("SELECT slug, name, kind, runtime FROM apps WHERE org_id = ?1 ORDER BY slug")?;
        let apps = statement.query_map([id], app_from_row)?.collect::<Result<_, _>>()?;
        Ok(Some(Org { slug: slug.to_string(), name, apps }))
    }

    pub fn app(&self, org: &str, app: &str) -> Result<Option<App>, CatalogError> {
        Ok(self
            .db()
            .prepare_cached(
                "SELECT apps.slug, apps.name, apps.kind, apps.runtime FROM apps JOIN orgs ON orgs.id = apps.org_id
                 WHERE orgs.slug = ?1 AND apps.slug = ?2",
            )?
            .query_row([org, app], app_from_row)
            .optional()?)
    }

    /// Adds an app to an existing org; an app of the same slug is an error.
    pub fn create_app(&self, org: &str, app: &App) -> Result<(), CatalogError> {
        check_slug("app", &app.slug)?;
        insert_app(&self.db(), org, app, false)?;
        self.emit(|| changes::CatalogChange::AppCreated { org: org.into(), app: app.into() });
        Ok(())
    }

    /// Creates a user who can sign in to the console.
    pub fn create_user(&self, login: &str, name: &str, password: &str) -> Result<(), CatalogError> {
        if login.trim().is_empty() || login.len() > 200 {
            return Err(CatalogError::Invalid("a login is 1 to 200 characters".into()));
        }
        let hash = secrets::hash_password(password);
        let created_at_ns = now_ns();
        let inserted = self.db().execute(
            "INSERT INTO users (login, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (login) DO NOTHING",
            params![login, name, hash, created_at_ns],
        )?;
        if inserted == 0 {
            return Err(CatalogError::Exists(format!("user \"{login}\"")));
        }
        self.emit(|| changes::CatalogChange::UserCreated {
            login: login.into(),
            name: name.into(),
            password_hash: hash,
            created_at_ns,
        });
        Ok(())
    }

    /// The user's name when the password is theirs.
    pub fn check_password(&self, login: &str, password: &str) -> Result<Option<String>, CatalogError> {
        let found: Option<(String, String)> = self
            .db()
            .prepare_cached("SELECT name, password_hash FROM users WHERE login = ?1")?
            .query_row([login], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        // An unknown login costs the same Argon2 run as a known one.
        Ok(match found {
            Some((name, hash)) => secrets::verify_password(password, &hash).then_some(name),
            None => secrets::verify_password_of_no_account(password).then_some(String::new()),
        })
    }

    /// Makes a user a member of an org (or changes their role).
    pub fn add_member(&self, org: &str, login: &str, role: Role) -> Result<(), CatalogError> {
        let changed = self.db().execute(
            "INSERT INTO members (org_id, user_id, role)
             SELECT orgs.id, users.id, ?3 FROM orgs, users WHERE orgs.slug = ?1 AND users.login = ?2
             ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
            params![org, login, role.as_str()],
        )?;
        if changed == 0 {
            return Err(CatalogError::Missing(format!("user \"{login}\" (create it first)")));
        }
        self.emit(|| changes::CatalogChange::MemberAdded { org: org.into(), login: login.into(), role });
        Ok(())
    }

    /// Ends a user's membership of an org; false when they were not a member.
    /// Their open console streams of the org end at their next re-check.
    pub fn remove_member(&self, org: &str, login: &str) -> Result<bool, CatalogError> {
        let removed = self.db().execute(
            "DELETE FROM members WHERE org_id = (SELECT id FROM orgs WHERE slug = ?1)
             AND user_id = (SELECT id FROM users WHERE login = ?2)",
            params![org, login],
        )?;
        self.emit(|| changes::CatalogChange::MemberRemoved { org: org.into(), login: login.into() });
        Ok(removed > 0)
    }

    pub fn members(&self, org: &str) -> Result<Vec<Member>, CatalogError> {
        let db = self.db();
        let mut statement = db.prepare_cached(
            "SELECT users.login, users.name, members.role FROM members
             JOIN users ON users.id = members.user_id JOIN orgs ON orgs.id = members.org_id
             WHERE orgs.slug = ?1 ORDER BY users.login",
        )?;
        let rows = statement.query_map([org], |row| {
            Ok(Member { login: row.get(0)?, name: row.get(1)?, role: Role::parse(&row.get::<_, String>(2)?) })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Creates a token; its secret is returned here and never again.
    pub fn create_token(
        &self,
        org: &str,
        name: &str,
        permissions: Permissions,
        created_by: &str,
    ) -> Result<(TokenInfo, String), CatalogError> {
        let (info, secret) = insert_token(&self.db(), org, name, permissions, created_by)?;
        self.emit(|| changes::CatalogChange::TokenCreated {
            org: info.org.clone(),
            name: info.name.clone(),
            hint: info.hint.clone(),
            secret_digest: changes::hex(&secrets::digest(&secret)),
            permissions,
            created_by: info.created_by.clone(),
            created_at_ns: info.created_at_ns,
        });
        Ok((info, secret))
    }

    pub fn tokens(&self, org: &str) -> Result<Vec<TokenInfo>, CatalogError> {
        let db = self.db();
        let mut statement = db.prepare_cached(&format!("{TOKEN_SELECT} WHERE orgs.slug = ?1 ORDER BY tokens.id"))?;
        let rows = statement.query_map([org], token_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes a token of `org`; returns it as it was before, or `None`
    /// when the org has no such token.
    pub fn revoke_token(&self, org: &str, id: i64) -> Result<Option<TokenInfo>, CatalogError> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let before = tx
            .prepare_cached(&format!("{TOKEN_SELECT} WHERE orgs.slug = ?1 AND tokens.id = ?2"))?
            .query_row(params![org, id], token_from_row)
            .optional()?;
        let mut revoked = None;
        if before.as_ref().is_some_and(|token| token.revoked_at_ns.is_none()) {
            let revoked_at_ns = now_ns();
            tx.execute("UPDATE tokens SET revoked_at = ?2 WHERE id = ?1", params![id, revoked_at_ns])?;
            let digest: Vec<u8> =
                tx.query_row("SELECT secret_hash FROM tokens WHERE id = ?1", [id], |row| row.get(0))?;
            revoked = Some((digest, revoked_at_ns));
        }
        tx.commit()?;
        drop(db);
        if let Some((digest, revoked_at_ns)) = revoked {
            self.emit(|| changes::CatalogChange::TokenRevoked { secret_digest: changes::hex(&digest), revoked_at_ns });
        }
        Ok(before)
    }

    /// Finds the token a caller presented.
    pub fn authenticate(&self, secret: &str) -> Result<Authentication, CatalogError> {
        if !secrets::looks_like_token(secret) {
            return Ok(Authentication::Unknown);
        }
        let found = self
            .db()
            .prepare_cached(&format!("{TOKEN_SELECT} WHERE tokens.secret_hash = ?1"))?
            .query_row([secrets::digest(secret)], token_from_row)
            .optional()?;
        Ok(match found {
            None => Authentication::Unknown,
            Some(token) if token.revoked_at_ns.is_some() => Authentication::Revoked(token),
            Some(token) => Authentication::Valid(token),
        })
    }
}

const TOKEN_SELECT: &str = "SELECT tokens.id, orgs.slug, tokens.name, tokens.hint, tokens.can_read, tokens.can_ingest,
    tokens.can_admin, tokens.created_by, tokens.created_at, tokens.revoked_at
    FROM tokens JOIN orgs ON orgs.id = tokens.org_id";

/// Inserts a token of `org`; its secret is returned here and never again.
fn insert_token(
    db: &Connection,
    org: &str,
    name: &str,
    permissions: Permissions,
    created_by: &str,
) -> Result<(TokenInfo, String), CatalogError> {
    if name.trim().is_empty() || name.len() > 100 {
        return Err(CatalogError::Invalid("a token's name is 1 to 100 characters".into()));
    }
    let secret = secrets::new_token_secret();
    let hint = secrets::hint(&secret);
    let created_at_ns = now_ns();
    let inserted = db.execute(
        "INSERT INTO tokens (org_id, name, hint, secret_hash, can_read, can_ingest, can_admin, created_by, created_at)
         SELECT id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM orgs WHERE slug = ?1",
        params![
            org,
            name,
            hint,
            secrets::digest(&secret),
            permissions.read,
            permissions.ingest,
            permissions.admin,
            created_by,
            created_at_ns
        ],
    )?;
    if inserted == 0 {
        return Err(CatalogError::Missing(format!("organisation \"{org}\"")));
    }
    let info = TokenInfo {
        id: db.last_insert_rowid(),
        org: org.to_string(),
        name: name.to_string(),
        hint,
        permissions,
        created_by: created_by.to_string(),
        created_at_ns,
        revoked_at_ns: None,
    };
    Ok((info, secret))
}

fn token_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
    Ok(TokenInfo {
        id: row.get(0)?,
        org: row.get(1)?,
        name: row.get(2)?,
        hint: row.get(3)?,
        permissions: Permissions { read: row.get(4)?, ingest: row.get(5)?, admin: row.get(6)? },
        created_by: row.get(7)?,
        created_at_ns: row.get(8)?,
        revoked_at_ns: row.get(9)?,
    })
}

fn app_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<App> {
    let kind: String = row.get(2)?;
    Ok(App {
        slug: row.get(0)?,
        name: row.get(1)?,
        kind: if kind == "addon" { AppKind::Addon } else { AppKind::Application },
        runtime: row.get(3)?,
    })
}

fn insert_app(db: &Connection, org: &str, app: &App, update: bool) -> Result<(), CatalogError> {
    let kind = match app.kind {
        AppKind::Application => "application",
        AppKind::Addon => "addon",
    };
    let on_conflict = if update {
        "DO UPDATE SET name = excluded.name, kind = excluded.kind, runtime = excluded.runtime"
    } else {
        "DO NOTHING"
    };
    let changed = db.execute(
        &format!(
            "INSERT INTO apps (org_id, slug, name, kind, runtime, created_at)
             SELECT id, ?2, ?3, ?4, ?5, ?6 FROM orgs WHERE slug = ?1
             ON CONFLICT (org_id, slug) {on_conflict}"
        ),
        params![org, app.slug, app.name, kind, app.runtime, now_ns()],
    )?;
    if changed == 0 {
        return Err(if db.query_row("SELECT EXISTS (SELECT 1 FROM orgs WHERE slug = ?1)", [org], |row| row.get(0))? {
            CatalogError::Exists(format!("app \"{}\"", app.slug))
        } else {
            CatalogError::Missing(format!("organisation \"{org}\""))
        });
    }
    Ok(())
}

/// Slugs name directories and URL segments: lowercase letters, digits and
/// dashes, starting with a letter or digit, at most 63 characters.
/// An id not used yet in `table`, drawn at random: in a cluster, a row made
/// on one node gets the same id on every node, and two nodes making rows at
/// once do not pick the same.
fn unused_id(tx: &rusqlite::Transaction<'_>, table: &str) -> Result<i64, CatalogError> {
    loop {
        let id = i64::from(rand::random::<u32>() >> 1).max(1);
        let taken: bool =
            tx.query_row(&format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = ?1)"), [id], |row| row.get(0))?;
        if !taken {
            return Ok(id);
        }
    }
}

pub fn check_slug(what: &str, slug: &str) -> Result<(), CatalogError> {
    let valid = !slug.is_empty()
        && slug.len() <= 63
        && slug.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !slug.starts_with('-');
    if valid {
        Ok(())
    } else {
        Err(CatalogError::Invalid(format!(
            "\"{slug}\" cannot name an {what}: use 1 to 63 lowercase letters, digits and dashes, not starting with a dash"
        )))
    }
}

#[cfg(test)]
mod tests;
