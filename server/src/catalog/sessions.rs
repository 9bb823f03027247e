//! Console sessions: who is signed in to the console, from which browser.
//!
//! Signing in makes a random secret that the browser keeps in an HttpOnly
//! cookie; the catalog keeps only its digest, the user, and when it
//! expires ([`SESSION_TTL`] after sign-in). Signing out deletes it. The
//! orgs a session may see are read from the user's memberships at each
//! request, so a membership removed takes effect at once.

use std::time::Duration;

use rusqlite::{params, OptionalExtension};
use vigie_app::model::Viewer;

use super::changes::{hex, CatalogChange};
use super::{secrets, Catalog, CatalogError};
use crate::clock::now_ns;

/// How long a session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

impl Catalog {
    /// Starts a session for `login` and returns its secret (the cookie's value).
    pub fn start_session(&self, login: &str) -> Result<String, CatalogError> {
        self.start_session_until(login, now_ns() + SESSION_TTL.as_nanos() as i64)
    }

    pub(crate) fn start_session_until(&self, login: &str, expires_at_ns: i64) -> Result<String, CatalogError> {
        let secret = secrets::new_session_secret();
        let (digest, created_at_ns) = (secrets::digest(&secret), now_ns());
        let db = self.db();
        // Expired sessions go as new ones come, so the table stays small.
        db.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now_ns()])?;
        let inserted = db.execute(
            "INSERT INTO sessions (secret_hash, user_id, created_at, expires_at)
             SELECT ?1, id, ?2, ?3 FROM users WHERE login = ?4",
            params![digest, created_at_ns, expires_at_ns, login],
        )?;
        if inserted == 0 {
            return Err(CatalogError::Missing(format!("user \"{login}\"")));
        }
        drop(db);
        self.emit(|| CatalogChange::SessionStarted {
            secret_digest: hex(&digest),
            login: login.into(),
            created_at_ns,
            expires_at_ns,
        });
        Ok(secret)
    }

    /// The signed-in user of a live session, with the orgs they belong to;
    /// `None` for an unknown, ended or expired session.
    pub fn session(&self, secret: &str) -> Result<Option<Viewer>, CatalogError> {
        if !secret.starts_with("vgs_") || secret.len() > 64 {
            return Ok(None);
        }
        let db = self.db();
        let user: Option<(i64, String, String, i64)> = db
            .prepare_cached(
                "SELECT users.id, users.login, users.name, sessions.expires_at
                 FROM sessions JOIN users ON users.id = sessions.user_id
                 WHERE sessions.secret_hash = ?1 AND sessions.expires_at > ?2",
            )?
            .query_row(params![secrets::digest(secret), now_ns()], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .optional()?;
        let Some((user_id, login, name, session_ends_ns)) = user else { return Ok(None) };
        let mut statement = db.prepare_cached(
            "SELECT orgs.slug, orgs.name, members.role FROM members JOIN orgs ON orgs.id = members.org_id
             WHERE members.user_id = ?1 ORDER BY orgs.name, orgs.slug",
        )?;
        let memberships = statement
            .query_map([user_id], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let admin_of =
            memberships.iter().filter(|(_, _, role)| role == "admin").map(|(org, _, _)| org.clone()).collect();
        let org_names = memberships.iter().map(|(_, name, _)| name.clone()).collect();
        let orgs = memberships.into_iter().map(|(org, _, _)| org).collect();
        Ok(Some(Viewer { login, name, orgs, admin_of, ip: String::new(), org_names, session_ends_ns }))
    }

    /// Ends a session (signing out); an unknown one is no error.
    pub fn end_session(&self, secret: &str) -> Result<(), CatalogError> {
        let digest = secrets::digest(secret);
        let ended = self.db().execute("DELETE FROM sessions WHERE secret_hash = ?1", [&digest])?;
        if ended > 0 {
            self.emit(|| CatalogChange::SessionEnded { secret_digest: hex(&digest) });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::catalog::{Catalog, Org, Role};
    use crate::clock::now_ns;

    fn catalog_with_user() -> Catalog {
        let catalog = Catalog::in_memory().unwrap();
        for slug in ["acme", "rival"] {
            catalog.put_org(&Org { slug: slug.into(), name: slug.into(), apps: Vec::new() }).unwrap();
        }
        catalog.create_user("ana", "Ana", "correct horse").unwrap();
        catalog.add_member("acme", "ana", Role::Member).unwrap();
        catalog
    }

    #[test]
    fn a_session_names_its_user_and_only_the_orgs_they_belong_to() {
        let catalog = catalog_with_user();
        let secret = catalog.start_session("ana").unwrap();
        let viewer = catalog.session(&secret).unwrap().unwrap();
        assert_eq!((viewer.login.as_str(), viewer.name.as_str()), ("ana", "Ana"));
        assert_eq!(viewer.orgs, ["acme"]);
        assert!(viewer.admin_of.is_empty(), "a member, not an admin");
        catalog.add_member("rival", "ana", Role::Admin).unwrap();
        let viewer = catalog.session(&secret).unwrap().unwrap();
        assert_eq!(viewer.orgs, ["acme", "rival"], "read at each request");
        assert_eq!(viewer.org_names, ["acme", "rival"]);
        assert_eq!(viewer.admin_of, ["rival"]);
        let twelve_hours = 12 * 3_600 * 1_000_000_000;
        assert!((viewer.session_ends_ns - now_ns() - twelve_hours).abs() < 60_000_000_000, "ends 12 h after sign-in");
    }

    #[test]
    fn ended_expired_and_unknown_sessions_are_nobody() {
        let catalog = catalog_with_user();
        let secret = catalog.start_session("ana").unwrap();
        catalog.end_session(&secret).unwrap();
        assert_eq!(catalog.session(&secret).unwrap(), None);
        let expired = catalog.start_session_until("ana", now_ns() - 1).unwrap();
        assert_eq!(catalog.session(&expired).unwrap(), None);
        assert_eq!(catalog.session("vgs_forged").unwrap(), None);
        assert_eq!(catalog.session("").unwrap(), None);
        assert!(catalog.start_session("nobody").is_err());
    }
}
