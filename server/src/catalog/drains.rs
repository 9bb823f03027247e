//! Drains as the catalog keeps them: which topic each forwards, to which
//! recipient, whether it is enabled, and its cursor, the offset of the
//! first record not yet acknowledged by the recipient.
//!
//! The cursor only moves forward, and only once the recipient has
//! acknowledged everything before it (`drains` calls
//! [`Catalog::advance_drain_cursor`] after each acknowledged batch). SQLite
//! commits survive a killed process, so a restart resends at most the batch
//! that was in flight. The recipient's settings and the reported gaps are
//! JSON that the `drains` module reads and writes; the catalog stores them.

use rusqlite::{params, OptionalExtension};

use super::changes::CatalogChange;
use super::{Catalog, CatalogError};
use crate::clock::now_ns;

/// One drain's row.
#[derive(Clone, Debug, PartialEq)]
pub struct DrainRow {
    pub id: i64,
    pub org: String,
    /// `None` for an org drain (the audit log).
    pub app: Option<String>,
    /// `LOG`, `ACCESSLOG` or `AUDITLOG`.
    pub kind: String,
    /// The recipient's settings, as JSON.
    pub recipient: String,
    pub enabled: bool,
    /// Why it was disabled, by whom or after what failure.
    pub disabled_reason: Option<String>,
    /// The first offset not yet delivered.
    pub cursor: u64,
    /// Records lost to retention before delivery, as a JSON array.
    pub gaps: String,
    pub created_by: String,
    pub created_at_ns: i64,
    pub updated_at_ns: i64,
}

/// What creating a drain takes.
#[derive(Clone, Debug)]
pub struct NewDrainRow<'a> {
    pub org: &'a str,
    pub app: Option<&'a str>,
    pub kind: &'a str,
    pub recipient: &'a str,
    pub cursor: u64,
    pub created_by: &'a str,
    /// Most drains one app (or the org's audit log) may have.
    pub max_per_scope: usize,
}

const DRAIN_SELECT: &str = "SELECT drains.id, orgs.slug, drains.app, drains.kind, drains.recipient, drains.enabled,
    drains.disabled_reason, drains.cursor, drains.gaps, drains.created_by, drains.created_at, drains.updated_at
    FROM drains JOIN orgs ON orgs.id = drains.org_id";

fn drain_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DrainRow> {
    Ok(DrainRow {
        id: row.get(0)?,
        org: row.get(1)?,
        app: row.get(2)?,
        kind: row.get(3)?,
        recipient: row.get(4)?,
        enabled: row.get(5)?,
        disabled_reason: row.get(6)?,
        cursor: row.get::<_, i64>(7)? as u64,
        gaps: row.get(8)?,
        created_by: row.get(9)?,
        created_at_ns: row.get(10)?,
        updated_at_ns: row.get(11)?,
    })
}

impl Catalog {
    /// Adds an enabled drain; fails past `max_per_scope` drains for the
    /// same app (or org audit log).
    pub fn create_drain(&self, new: &NewDrainRow<'_>) -> Result<DrainRow, CatalogError> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let existing: i64 = tx.query_row(
            "SELECT COUNT(*) FROM drains JOIN orgs ON orgs.id = drains.org_id
             WHERE orgs.slug = ?1 AND drains.app IS ?2",
            params![new.org, new.app],
            |row| row.get(0),
        )?;
        if existing as usize >= new.max_per_scope {
            return Err(CatalogError::Invalid(format!(
                "{} already has {existing} drains, the most it may have: remove one first",
                new.app.map_or_else(|| format!("organisation \"{}\"", new.org), |app| format!("app \"{app}\""))
            )));
        }
        let now = now_ns();
        // In a cluster, the id is chosen here at random (and unused here),
        // so drains made at once on two nodes get different ids everywhere;
        // alone, SQLite numbers them.
        let chosen_id = if self.clustered() { Some(super::unused_id(&tx, "drains")?) } else { None };
        let inserted = tx.execute(
            "INSERT INTO drains (id, org_id, app, kind, recipient, enabled, cursor, created_by, created_at, updated_at)
             SELECT ?8, id, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?7 FROM orgs WHERE slug = ?1",
            params![new.org, new.app, new.kind, new.recipient, new.cursor as i64, new.created_by, now, chosen_id],
        )?;
        if inserted == 0 {
            return Err(CatalogError::Missing(format!("organisation \"{}\"", new.org)));
        }
        let id = tx.last_insert_rowid();
        let row = tx.query_row(&format!("{DRAIN_SELECT} WHERE drains.id = ?1"), [id], drain_from_row)?;
        tx.commit()?;
        drop(db);
        self.emit(|| CatalogChange::DrainCreated {
            id: row.id,
            org: row.org.clone(),
            app: row.app.clone(),
            kind: row.kind.clone(),
            recipient: row.recipient.clone(),
            cursor: row.cursor,
            created_by: row.created_by.clone(),
            created_at_ns: row.created_at_ns,
        });
        Ok(row)
    }

    /// An org's drains of one app, or its org drains when `app` is `None`.
    pub fn drains(&self, org: &str, app: Option<&str>) -> Result<Vec<DrainRow>, CatalogError> {
        let db = self.db();
        let mut statement =
            db.prepare_cached(&format!("{DRAIN_SELECT} WHERE orgs.slug = ?1 AND drains.app IS ?2 ORDER BY drains.id"))?;
        let rows = statement.query_map(params![org, app], drain_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every drain of every org: what runs at start.
    pub fn all_drains(&self) -> Result<Vec<DrainRow>, CatalogError> {
        let db = self.db();
        let mut statement = db.prepare_cached(&format!("{DRAIN_SELECT} ORDER BY drains.id"))?;
        let rows = statement.query_map([], drain_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One drain of `org` for `app` (or an org drain when `None`).
    pub fn drain(&self, org: &str, app: Option<&str>, id: i64) -> Result<Option<DrainRow>, CatalogError> {
        Ok(self
            .db()
            .prepare_cached(&format!("{DRAIN_SELECT} WHERE orgs.slug = ?1 AND drains.app IS ?2 AND drains.id = ?3"))?
            .query_row(params![org, app, id], drain_from_row)
            .optional()?)
    }

    /// Enables (clearing the reason) or disables (keeping `reason`) a drain; returns it as it is now.
    pub fn set_drain_enabled(
        &self,
        id: i64,
        enabled: bool,
        reason: Option<&str>,
    ) -> Result<Option<DrainRow>, CatalogError> {
        let db = self.db();
        db.execute(
            "UPDATE drains SET enabled = ?2, disabled_reason = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, enabled, if enabled { None } else { reason }, now_ns()],
        )?;
        let row = db
            .prepare_cached(&format!("{DRAIN_SELECT} WHERE drains.id = ?1"))?
            .query_row([id], drain_from_row)
            .optional()?;
        drop(db);
        if row.is_some() {
            self.emit(|| CatalogChange::DrainEnabled { id, enabled, reason: reason.map(str::to_string) });
        }
        Ok(row)
    }

    /// Removes a drain; returns it as it was, or `None` when there was none.
    pub fn delete_drain(&self, org: &str, app: Option<&str>, id: i64) -> Result<Option<DrainRow>, CatalogError> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let before = tx
            .prepare_cached(&format!("{DRAIN_SELECT} WHERE orgs.slug = ?1 AND drains.app IS ?2 AND drains.id = ?3"))?
            .query_row(params![org, app, id], drain_from_row)
            .optional()?;
        if before.is_some() {
            tx.execute("DELETE FROM drains WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        drop(db);
        if before.is_some() {
            self.emit(|| CatalogChange::DrainRemoved { id });
        }
        Ok(before)
    }

    /// Moves a drain's cursor forward to `cursor` (never back); false when
    /// the drain is gone.
    pub fn advance_drain_cursor(&self, id: i64, cursor: u64) -> Result<bool, CatalogError> {
        let db = self.db();
        let changed =
            db.execute("UPDATE drains SET cursor = MAX(cursor, ?2) WHERE id = ?1", params![id, cursor as i64])?;
        Ok(changed > 0)
    }

    /// Tells a cluster's other nodes how far a drain delivered (its cursor
    /// as [`Catalog::advance_drain_cursor`] saved it here), so whichever
    /// node runs it next resumes there. The drain's loop calls it at most
    /// about once a second, and when it caught up; nothing alone.
    pub fn share_drain_cursor(&self, id: i64, cursor: u64) {
        self.emit(|| CatalogChange::DrainCursor { id, cursor });
    }

    /// Records the gaps a drain met (JSON) and moves its cursor past them.
    pub fn record_drain_gaps(&self, id: i64, gaps: &str, cursor: u64) -> Result<bool, CatalogError> {
        let db = self.db();
        let changed = db.execute(
            "UPDATE drains SET gaps = ?2, cursor = MAX(cursor, ?3), updated_at = ?4 WHERE id = ?1",
            params![id, gaps, cursor as i64, now_ns()],
        )?;
        drop(db);
        if changed > 0 {
            self.emit(|| CatalogChange::DrainGaps { id, gaps: gaps.to_string(), cursor });
        }
        Ok(changed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Org;

    fn catalog() -> Catalog {
        let catalog = Catalog::in_memory().unwrap();
        catalog.put_org(&Org { slug: "acme".into(), name: "Acme".into(), apps: Vec::new() }).unwrap();
        catalog
    }

    fn new_drain<'a>(app: Option<&'a str>, kind: &'a str) -> NewDrainRow<'a> {
        NewDrainRow { org: "acme", app, kind, recipient: "{}", cursor: 7, created_by: "tests", max_per_scope: 2 }
    }

    #[test]
    fn a_cursor_only_moves_forward() {
        let catalog = catalog();
        let drain = catalog.create_drain(&new_drain(Some("api"), "LOG")).unwrap();
        assert_eq!(drain.cursor, 7);
        assert!(catalog.advance_drain_cursor(drain.id, 20).unwrap());
        assert!(catalog.advance_drain_cursor(drain.id, 10).unwrap());
        assert_eq!(catalog.drain("acme", Some("api"), drain.id).unwrap().unwrap().cursor, 20);
    }

    #[test]
    fn app_and_org_drains_are_apart_and_bounded_per_scope() {
        let catalog = catalog();
        let app_drain = catalog.create_drain(&new_drain(Some("api"), "LOG")).unwrap();
        catalog.create_drain(&new_drain(Some("api"), "ACCESSLOG")).unwrap();
        let third = catalog.create_drain(&new_drain(Some("api"), "LOG")).unwrap_err();
        assert!(third.to_string().contains("already has 2 drains"), "{third}");
        let org_drain = catalog.create_drain(&new_drain(None, "AUDITLOG")).unwrap();
        assert_eq!(catalog.drains("acme", None).unwrap(), vec![org_drain.clone()]);
        assert_eq!(catalog.drains("acme", Some("api")).unwrap().len(), 2);
        assert!(catalog.drain("acme", None, app_drain.id).unwrap().is_none(), "an app drain is not an org drain");
        assert!(catalog.delete_drain("acme", Some("api"), org_drain.id).unwrap().is_none());
        assert_eq!(catalog.delete_drain("acme", None, org_drain.id).unwrap(), Some(org_drain));
        assert_eq!(catalog.all_drains().unwrap().len(), 2);
    }
}
