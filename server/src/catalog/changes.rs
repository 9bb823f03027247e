//! Catalog changes as events, for a cluster of nodes sharing one catalog
//! (`docs/SCALING.md`): each change made through this node's API is sent,
//! once committed, to whoever called [`Catalog::send_changes`] (the
//! cluster, which publishes it on a replicated stream), and every node
//! applies every event with [`Catalog::apply_change`], its own included.
//!
//! Applying is idempotent (an event applied twice, or a change already
//! made locally, leaves the catalog as once), so a node may replay the
//! whole stream at each start. Rows are named by what is the same on every
//! node (slugs, logins, a token's secret digest), never by a local row id.
//! Without a receiver (the embedded mode) nothing is sent.

use std::sync::{Arc, OnceLock};

use rusqlite::params;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use vigie_app::model::AppKind;

use super::{check_slug, insert_app, App, Catalog, CatalogError, Org, Permissions, Role};

/// One committed change of the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum CatalogChange {
    OrgPut {
        slug: String,
        name: String,
        apps: Vec<AppChange>,
    },
    AppCreated {
        org: String,
        app: AppChange,
    },
    UserCreated {
        login: String,
        name: String,
        password_hash: String,
        created_at_ns: i64,
    },
    MemberAdded {
        org: String,
        login: String,
        role: Role,
    },
    MemberRemoved {
        org: String,
        login: String,
    },
    TokenCreated {
        org: String,
        name: String,
        hint: String,
        /// The SHA-256 digest of the secret, hex: the same token on every node.
        secret_digest: String,
        permissions: Permissions,
        created_by: String,
        created_at_ns: i64,
    },
    TokenRevoked {
        secret_digest: String,
        revoked_at_ns: i64,
    },
    /// A console sign-in, by the session's secret digest: the cookie works on every node.
    SessionStarted {
        secret_digest: String,
        login: String,
        created_at_ns: i64,
        expires_at_ns: i64,
    },
    SessionEnded {
        secret_digest: String,
    },
    /// A topic's retention, which the store keeps (not SQLite): the
    /// cluster applies it to each node's store; [`Catalog::apply_change`]
    /// leaves it alone.
    RetentionSet {
        org: String,
        app: String,
        kind: String,
        max_age_secs: Option<u64>,
        max_bytes: Option<u64>,
    },
    /// A drain, with the id it has on every node (chosen at random by the
    /// node that made it, in a cluster).
    DrainCreated {
        id: i64,
        org: String,
        app: Option<String>,
        kind: String,
        recipient: String,
        cursor: u64,
        created_by: String,
        created_at_ns: i64,
    },
    DrainEnabled {
        id: i64,
        enabled: bool,
        reason: Option<String>,
    },
    DrainRemoved {
        id: i64,
    },
    /// A drain's cursor moved forward (its recipient acknowledged up to
    /// there): whichever node runs the drain next resumes from it.
    DrainCursor {
        id: i64,
        cursor: u64,
    },
    DrainGaps {
        id: i64,
        gaps: String,
        cursor: u64,
    },
    /// A saved view of the logs page, with the id it has on every node.
    ViewSaved {
        id: i64,
        org: String,
        name: String,
        app: String,
        kind: String,
        q: String,
        since: String,
        until: String,
        /// Absent from the changes of before saved views had columns.
        #[serde(default)]
        cols: String,
        created_by: String,
        created_at_ns: i64,
    },
    ViewRemoved {
        id: i64,
    },
    /// An org's Grafana link: on or off, and its token (by digest, made by
    /// a `TokenCreated` before) with the secret the data source sends.
    GrafanaSet {
        org: String,
        enabled: bool,
        token_digest: Option<String>,
        token_secret: Option<String>,
    },
}

/// An app as a change carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppChange {
    pub slug: String,
    pub name: String,
    /// `application` or `addon`.
    pub kind: String,
    pub runtime: String,
}

impl From<&App> for AppChange {
    fn from(app: &App) -> AppChange {
        let kind = match app.kind {
            AppKind::Application => "application",
            AppKind::Addon => "addon",
        };
        AppChange { slug: app.slug.clone(), name: app.name.clone(), kind: kind.into(), runtime: app.runtime.clone() }
    }
}

impl From<&AppChange> for App {
    fn from(app: &AppChange) -> App {
        App {
            slug: app.slug.clone(),
            name: app.name.clone(),
            kind: if app.kind == "addon" { AppKind::Addon } else { AppKind::Application },
            runtime: app.runtime.clone(),
        }
    }
}

/// Where committed changes go, once someone asked for them; shared by
/// every clone of a catalog.
pub(super) type ChangeSink = Arc<OnceLock<UnboundedSender<CatalogChange>>>;

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, CatalogError> {
    let invalid = || CatalogError::Invalid(format!("\"{text}\" is not a hex digest"));
    if text.len() != 64 {
        return Err(invalid());
    }
    (0..text.len()).step_by(2).map(|at| u8::from_str_radix(&text[at..at + 2], 16).map_err(|_| invalid())).collect()
}

impl Catalog {
    /// From now on, every committed change is also sent to the returned
    /// receiver. Called once (by the cluster); a second call gets `None`.
    pub fn send_changes(&self) -> Option<UnboundedReceiver<CatalogChange>> {
        let (sender, receiver) = unbounded_channel();
        self.changes.set(sender).ok()?;
        Some(receiver)
    }

    /// Tells the other nodes of a cluster that a topic's retention changed
    /// here (the store keeps it, not the catalog); nothing in the embedded mode.
    pub fn note_retention(&self, org: &str, app: &str, kind: &str, max_age_secs: Option<u64>, max_bytes: Option<u64>) {
        self.emit(|| CatalogChange::RetentionSet {
            org: org.into(),
            app: app.into(),
            kind: kind.into(),
            max_age_secs,
            max_bytes,
        });
    }

    /// Whether changes are sent to a cluster (`--nats`).
    pub(super) fn clustered(&self) -> bool {
        self.changes.get().is_some()
    }

    pub(super) fn emit(&self, change: impl FnOnce() -> CatalogChange) {
        if let Some(sender) = self.changes.get() {
            // The receiver gone means the node is stopping: nothing to tell.
            let _ = sender.send(change());
        }
    }

    /// Applies a change made on any node (this one included); applying it
    /// again changes nothing. Blocks (SQLite): call it from a blocking thread.
    pub fn apply_change(&self, change: &CatalogChange) -> Result<(), CatalogError> {
        let mut db = self.db();
        match change {
            CatalogChange::OrgPut { slug, name, apps } => {
                check_slug("organisation", slug)?;
                let tx = db.transaction()?;
                tx.execute(
                    "INSERT INTO orgs (slug, name, created_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (slug) DO UPDATE SET name = excluded.name",
                    params![slug, name, crate::clock::now_ns()],
                )?;
                for app in apps {
                    check_slug("app", &app.slug)?;
                    insert_app(&tx, slug, &App::from(app), true)?;
                }
                tx.commit()?;
            }
            CatalogChange::AppCreated { org, app } => {
                check_slug("app", &app.slug)?;
                match insert_app(&db, org, &App::from(app), false) {
                    Ok(()) | Err(CatalogError::Exists(_)) => {}
                    Err(other) => return Err(other),
                }
            }
            CatalogChange::UserCreated { login, name, password_hash, created_at_ns } => {
                db.execute(
                    "INSERT INTO users (login, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (login) DO NOTHING",
                    params![login, name, password_hash, created_at_ns],
                )?;
            }
            CatalogChange::MemberAdded { org, login, role } => {
                db.execute(
                    "INSERT INTO members (org_id, user_id, role)
                     SELECT orgs.id, users.id, ?3 FROM orgs, users WHERE orgs.slug = ?1 AND users.login = ?2
                     ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
                    params![org, login, role.as_str()],
                )?;
            }
            CatalogChange::MemberRemoved { org, login } => {
                db.execute(
                    "DELETE FROM members WHERE org_id = (SELECT id FROM orgs WHERE slug = ?1)
                     AND user_id = (SELECT id FROM users WHERE login = ?2)",
                    params![org, login],
                )?;
            }
            CatalogChange::TokenCreated { org, name, hint, secret_digest, permissions, created_by, created_at_ns } => {
                db.execute(
                    "INSERT INTO tokens (org_id, name, hint, secret_hash, can_read, can_ingest, can_admin, created_by, created_at)
                     SELECT id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM orgs WHERE slug = ?1
                     ON CONFLICT (secret_hash) DO NOTHING",
                    params![
                        org,
                        name,
                        hint,
                        unhex(secret_digest)?,
                        permissions.read,
                        permissions.ingest,
                        permissions.admin,
                        created_by,
                        created_at_ns
                    ],
                )?;
            }
            CatalogChange::TokenRevoked { secret_digest, revoked_at_ns } => {
                db.execute(
                    "UPDATE tokens SET revoked_at = ?2 WHERE secret_hash = ?1 AND revoked_at IS NULL",
                    params![unhex(secret_digest)?, revoked_at_ns],
                )?;
            }
            CatalogChange::SessionStarted { secret_digest, login, created_at_ns, expires_at_ns } => {
                db.execute(
                    "INSERT INTO sessions (secret_hash, user_id, created_at, expires_at)
                     SELECT ?1, id, ?2, ?3 FROM users WHERE login = ?4
                     ON CONFLICT (secret_hash) DO NOTHING",
                    params![unhex(secret_digest)?, created_at_ns, expires_at_ns, login],
                )?;
            }
            CatalogChange::SessionEnded { secret_digest } => {
                db.execute("DELETE FROM sessions WHERE secret_hash = ?1", [unhex(secret_digest)?])?;
            }
            CatalogChange::RetentionSet { .. } => {}
            CatalogChange::GrafanaSet { org, enabled, token_digest, token_secret } => {
                let digest = token_digest.as_deref().map(unhex).transpose()?;
                Catalog::apply_grafana(&db, org, *enabled, digest.as_deref(), token_secret.as_deref())?;
            }
            CatalogChange::ViewSaved { id, org, name, app, kind, q, since, until, cols, created_by, created_at_ns } => {
                db.execute(
                    "INSERT INTO saved_views (id, org_id, name, app, kind, q, since, until, created_by, created_at, cols)
                     SELECT ?1, id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 FROM orgs WHERE slug = ?2
                     ON CONFLICT DO NOTHING",
                    params![id, org, name, app, kind, q, since, until, created_by, created_at_ns, cols],
                )?;
            }
            CatalogChange::ViewRemoved { id } => {
                db.execute("DELETE FROM saved_views WHERE id = ?1", [id])?;
            }
            CatalogChange::DrainCreated { id, org, app, kind, recipient, cursor, created_by, created_at_ns } => {
                db.execute(
                    "INSERT INTO drains (id, org_id, app, kind, recipient, enabled, cursor, created_by, created_at, updated_at)
                     SELECT ?1, id, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?8 FROM orgs WHERE slug = ?2
                     ON CONFLICT (id) DO NOTHING",
                    params![id, org, app, kind, recipient, *cursor as i64, created_by, created_at_ns],
                )?;
            }
            CatalogChange::DrainEnabled { id, enabled, reason } => {
                db.execute(
                    "UPDATE drains SET enabled = ?2, disabled_reason = ?3, updated_at = ?4 WHERE id = ?1",
                    params![id, enabled, if *enabled { None } else { reason.as_deref() }, crate::clock::now_ns()],
                )?;
            }
            CatalogChange::DrainRemoved { id } => {
                db.execute("DELETE FROM drains WHERE id = ?1", [id])?;
            }
            CatalogChange::DrainCursor { id, cursor } => {
                db.execute("UPDATE drains SET cursor = MAX(cursor, ?2) WHERE id = ?1", params![id, *cursor as i64])?;
            }
            CatalogChange::DrainGaps { id, gaps, cursor } => {
                db.execute(
                    "UPDATE drains SET gaps = ?2, cursor = MAX(cursor, ?3), updated_at = ?4 WHERE id = ?1",
                    params![id, gaps, *cursor as i64, crate::clock::now_ns()],
                )?;
            }
        }
        Ok(())
    }
}

/// An org as a change carries it.
pub(super) fn org_put(org: &Org) -> CatalogChange {
    CatalogChange::OrgPut {
        slug: org.slug.clone(),
        name: org.name.clone(),
        apps: org.apps.iter().map(AppChange::from).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every change made on one catalog, applied to another, makes the same
    /// orgs, members and tokens there; a token revoked on the first is
    /// refused by the second; applying everything twice changes nothing.
    #[test]
    fn changes_applied_elsewhere_give_the_same_catalog() {
        let first = Catalog::in_memory().unwrap();
        let mut changes = first.send_changes().unwrap();
        let second = Catalog::in_memory().unwrap();
        let app = App { slug: "api".into(), name: "API".into(), kind: AppKind::Application, runtime: "Rust".into() };
        first.put_org(&Org { slug: "acme".into(), name: "Acme".into(), apps: vec![app.clone()] }).unwrap();
        first.create_app("acme", &App { slug: "web".into(), ..app }).unwrap();
        first.create_user("ada", "Ada", "a long password").unwrap();
        first.add_member("acme", "ada", Role::Admin).unwrap();
        let (kept, kept_secret) = first.create_token("acme", "kept", Permissions::ALL, "test").unwrap();
        let (revoked, revoked_secret) = first.create_token("acme", "revoked", Permissions::ALL, "test").unwrap();
        first.revoke_token("acme", revoked.id).unwrap();
        let kept_session = first.start_session("ada").unwrap();
        let ended_session = first.start_session("ada").unwrap();
        first.end_session(&ended_session).unwrap();
        let drain = |cursor| super::super::NewDrainRow {
            org: "acme",
            app: Some("api"),
            kind: "LOG",
            recipient: "{}",
            cursor,
            created_by: "test",
            max_per_scope: 10,
        };
        let kept_drain = first.create_drain(&drain(3)).unwrap();
        first.advance_drain_cursor(kept_drain.id, 42).unwrap();
        first.share_drain_cursor(kept_drain.id, 42);
        first.set_drain_enabled(kept_drain.id, false, Some("paused")).unwrap();
        let removed_drain = first.create_drain(&drain(0)).unwrap();
        first.delete_drain("acme", Some("api"), removed_drain.id).unwrap();
        let view = |name| super::super::NewSavedView {
            name,
            app: "api",
            kind: "service",
            q: "level:error",
            since: "1h",
            until: "",
            cols: "",
            created_by: "ada",
        };
        let kept_view = first.save_view("acme", &view("errors")).unwrap();
        let removed_view = first.save_view("acme", &view("gone")).unwrap();
        first.remove_view("acme", removed_view.id).unwrap();
        first.set_grafana_enabled("acme", true).unwrap();
        first.rotate_grafana_token("acme", true).unwrap();

        let mut all = Vec::new();
        while let Ok(change) = changes.try_recv() {
            all.push(change);
        }
        for _ in 0..2 {
            for change in &all {
                second.apply_change(change).unwrap();
            }
        }
        assert_eq!(second.org("acme").unwrap(), first.org("acme").unwrap());
        assert_eq!(second.members("acme").unwrap(), first.members("acme").unwrap());
        assert!(second.check_password("ada", "a long password").unwrap().is_some());
        assert!(
            matches!(second.authenticate(&kept_secret).unwrap(), super::super::Authentication::Valid(token) if token.name == kept.name)
        );
        assert!(matches!(second.authenticate(&revoked_secret).unwrap(), super::super::Authentication::Revoked(_)));
        assert_eq!(second.tokens("acme").unwrap().len(), first.tokens("acme").unwrap().len());
        assert_eq!(second.session(&kept_session).unwrap().map(|viewer| viewer.login), Some("ada".into()));
        assert_eq!(second.session(&ended_session).unwrap(), None);
        let (drains_here, drains_there) = (first.all_drains().unwrap(), second.all_drains().unwrap());
        assert_eq!(drains_there.len(), 1);
        assert_eq!((drains_there[0].id, drains_there[0].cursor), (kept_drain.id, 42));
        assert_eq!(drains_there[0].enabled, drains_here[0].enabled);
        assert_eq!(second.saved_views("acme").unwrap(), vec![kept_view]);
        let (grafana_here, grafana_there) = (first.grafana_link("acme").unwrap(), second.grafana_link("acme").unwrap());
        assert!(grafana_there.enabled && grafana_there.secret == grafana_here.secret);
        let secret = grafana_there.secret.unwrap();
        assert!(matches!(second.authenticate(&secret).unwrap(), super::super::Authentication::Valid(_)));
        let live = |catalog: &Catalog| {
            let tokens = catalog.tokens("acme").unwrap();
            tokens.into_iter().filter(|token| token.revoked_at_ns.is_none()).map(|token| token.name).collect::<Vec<_>>()
        };
        assert_eq!(live(&second), live(&first));
    }
}
