//! An org's link to Grafana: on or off, its own read-only token (the one
//! the Grafana data source sends), and when its dashboards were last
//! provisioned.
//!
//! The token is an ordinary API token with the `read` permission, listed
//! with the org's tokens under [`GRAFANA_TOKEN_NAME`]; revoking it there
//! breaks the data source as revoking any token would. It is the one token
//! whose secret the catalog keeps, because Vigie writes it into Grafana's
//! data source again at every provisioning and export.

use rusqlite::{params, OptionalExtension};

use super::changes::{hex, CatalogChange};
use super::{insert_token, secrets, token_from_row, Catalog, CatalogError, Permissions, TokenInfo, TOKEN_SELECT};
use crate::clock::now_ns;

/// The name the org's Grafana token is listed under.
pub const GRAFANA_TOKEN_NAME: &str = "Grafana data source (read-only, managed by Vigie)";

/// What the catalog holds of an org's Grafana.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GrafanaLink {
    pub enabled: bool,
    /// The current token (maybe revoked since, from the token list).
    pub token: Option<TokenInfo>,
    /// Its secret: what the data source sends.
    pub secret: Option<String>,
    pub provisioned_at_ns: Option<i64>,
    /// Why the last provisioning failed, if it did.
    pub provision_error: Option<String>,
}

const READ_ONLY: Permissions = Permissions { read: true, ingest: false, admin: false };

impl Catalog {
    /// The org's Grafana link (off, without a token, for an org that never had one).
    pub fn grafana_link(&self, org: &str) -> Result<GrafanaLink, CatalogError> {
        let db = self.db();
        let org_id: i64 = db
            .prepare_cached("SELECT id FROM orgs WHERE slug = ?1")?
            .query_row([org], |row| row.get(0))
            .optional()?
            .ok_or_else(|| CatalogError::Missing(format!("organisation \"{org}\"")))?;
        // The token is read by id below, so the row gives the link without it.
        let row: Option<(GrafanaLink, Option<i64>)> = db
            .prepare_cached(
                "SELECT enabled, token_id, token_secret, provisioned_at, provision_error FROM grafana WHERE org_id = ?1",
            )?
            .query_row([org_id], |row| {
                let link = GrafanaLink {
                    enabled: row.get(0)?,
                    token: None,
                    secret: row.get(2)?,
                    provisioned_at_ns: row.get(3)?,
                    provision_error: row.get(4)?,
                };
                Ok((link, row.get(1)?))
            })
            .optional()?;
        let Some((mut link, token_id)) = row else {
            return Ok(GrafanaLink::default());
        };
        let token = match token_id {
            Some(id) => db
                .prepare_cached(&format!("{TOKEN_SELECT} WHERE tokens.id = ?1"))?
                .query_row([id], token_from_row)
                .optional()?,
            None => None,
        };
        link.token = token;
        Ok(link)
    }

    /// Turns the org's Grafana on or off. On: a token is made if the org
    /// has no valid one. Off: the token is revoked, so the data source stops.
    pub fn set_grafana_enabled(&self, org: &str, enabled: bool) -> Result<GrafanaLink, CatalogError> {
        let link = self.grafana_link(org)?;
        let valid = link.token.as_ref().is_some_and(|token| token.revoked_at_ns.is_none());
        if enabled && !valid {
            return self.rotate_grafana_token(org, true);
        }
        let mut db = self.db();
        let tx = db.transaction()?;
        let mut revoked = None;
        if !enabled {
            if let Some(token) = &link.token {
                revoked = revoke(&tx, token.id)?;
            }
        }
        tx.execute(
            "INSERT INTO grafana (org_id, enabled) SELECT id, ?2 FROM orgs WHERE slug = ?1
             ON CONFLICT (org_id) DO UPDATE SET enabled = excluded.enabled",
            params![org, enabled],
        )?;
        tx.commit()?;
        drop(db);
        let link = self.grafana_link(org)?;
        self.emit_grafana(org, &link, revoked, false);
        Ok(link)
    }

    /// Revokes the org's Grafana token (if any) and makes a new one, in
    /// one transaction: the old one stops working as the new one starts.
    pub fn rotate_grafana_token(&self, org: &str, enable: bool) -> Result<GrafanaLink, CatalogError> {
        let link = self.grafana_link(org)?;
        let mut db = self.db();
        let tx = db.transaction()?;
        let mut revoked = None;
        if let Some(token) = &link.token {
            revoked = revoke(&tx, token.id)?;
        }
        let (token, secret) = insert_token(&tx, org, GRAFANA_TOKEN_NAME, READ_ONLY, "vigie (Grafana)")?;
        tx.execute(
            "INSERT INTO grafana (org_id, enabled, token_id, token_secret) SELECT id, ?2, ?3, ?4 FROM orgs WHERE slug = ?1
             ON CONFLICT (org_id) DO UPDATE SET enabled = excluded.enabled, token_id = excluded.token_id,
                 token_secret = excluded.token_secret",
            params![org, enable || link.enabled, token.id, secret],
        )?;
        tx.commit()?;
        drop(db);
        let link = self.grafana_link(org)?;
        self.emit_grafana(org, &link, revoked, true);
        Ok(link)
    }

    /// Tells a cluster's other nodes of a Grafana change: the token revoked
    /// (by digest), the new one if `new_token`, then the link itself.
    fn emit_grafana(&self, org: &str, link: &GrafanaLink, revoked: Option<(Vec<u8>, i64)>, new_token: bool) {
        if !self.clustered() {
            return;
        }
        if let Some((digest, revoked_at_ns)) = revoked {
            self.emit(|| CatalogChange::TokenRevoked { secret_digest: hex(&digest), revoked_at_ns });
        }
        let digest = link.secret.as_deref().map(|secret| hex(&secrets::digest(secret)));
        if let (true, Some(token), Some(digest)) = (new_token, &link.token, &digest) {
            self.emit(|| CatalogChange::TokenCreated {
                org: org.into(),
                name: token.name.clone(),
                hint: token.hint.clone(),
                secret_digest: digest.clone(),
                permissions: READ_ONLY,
                created_by: token.created_by.clone(),
                created_at_ns: token.created_at_ns,
            });
        }
        self.emit(|| CatalogChange::GrafanaSet {
            org: org.into(),
            enabled: link.enabled,
            token_digest: digest,
            token_secret: link.secret.clone(),
        });
    }

    /// Applies a Grafana link made on another node of a cluster.
    pub(super) fn apply_grafana(
        db: &rusqlite::Connection,
        org: &str,
        enabled: bool,
        token_digest: Option<&[u8]>,
        token_secret: Option<&str>,
    ) -> Result<(), CatalogError> {
        db.execute(
            "INSERT INTO grafana (org_id, enabled) SELECT id, ?2 FROM orgs WHERE slug = ?1
             ON CONFLICT (org_id) DO UPDATE SET enabled = excluded.enabled",
            params![org, enabled],
        )?;
        if let Some(digest) = token_digest {
            db.execute(
                "UPDATE grafana SET token_id = (SELECT id FROM tokens WHERE secret_hash = ?2), token_secret = ?3
                 WHERE org_id = (SELECT id FROM orgs WHERE slug = ?1)",
                params![org, digest, token_secret],
            )?;
        }
        Ok(())
    }

    /// Records a provisioning: when, and its error if it failed.
    pub fn set_grafana_provisioned(&self, org: &str, at_ns: i64, error: Option<&str>) -> Result<(), CatalogError> {
        self.db().execute(
            "UPDATE grafana SET provisioned_at = ?2, provision_error = ?3
             WHERE org_id = (SELECT id FROM orgs WHERE slug = ?1)",
            params![org, at_ns, error],
        )?;
        Ok(())
    }
}

/// Revokes a token by id, if not revoked yet; its digest and when, for the cluster.
fn revoke(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<Option<(Vec<u8>, i64)>, CatalogError> {
    let at = now_ns();
    let changed =
        tx.execute("UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", params![id, at])?;
    if changed == 0 {
        return Ok(None);
    }
    let digest: Vec<u8> = tx.query_row("SELECT secret_hash FROM tokens WHERE id = ?1", [id], |row| row.get(0))?;
    Ok(Some((digest, at)))
}

#[cfg(test)]
mod tests {
    use vigie_app::model::AppKind;

    use super::*;
    use crate::catalog::{App, Authentication, Org};

    #[test]
    fn enabling_makes_a_read_only_token_and_rotating_revokes_the_old_one() {
        let catalog = Catalog::in_memory().unwrap();
        let app = App { slug: "api".into(), name: "API".into(), kind: AppKind::Application, runtime: "Rust".into() };
        catalog.put_org(&Org { slug: "acme".into(), name: "Acme".into(), apps: vec![app] }).unwrap();
        assert_eq!(catalog.grafana_link("acme").unwrap(), GrafanaLink::default());

        let on = catalog.set_grafana_enabled("acme", true).unwrap();
        let first = on.secret.clone().unwrap();
        assert!(on.enabled);
        assert_eq!(on.token.as_ref().unwrap().name, GRAFANA_TOKEN_NAME);
        assert!(
            matches!(catalog.authenticate(&first).unwrap(), Authentication::Valid(t) if t.permissions == READ_ONLY)
        );
        // Enabling again keeps the token.
        assert_eq!(catalog.set_grafana_enabled("acme", true).unwrap().secret.as_deref(), Some(first.as_str()));

        let rotated = catalog.rotate_grafana_token("acme", false).unwrap();
        assert_ne!(rotated.secret.as_deref(), Some(first.as_str()));
        assert!(matches!(catalog.authenticate(&first).unwrap(), Authentication::Revoked(_)));
        assert!(rotated.enabled);

        let off = catalog.set_grafana_enabled("acme", false).unwrap();
        assert!(!off.enabled);
        assert!(matches!(
            catalog.authenticate(rotated.secret.as_deref().unwrap()).unwrap(),
            Authentication::Revoked(_)
        ));
        assert!(catalog.grafana_link("ghost").is_err());
    }
}
