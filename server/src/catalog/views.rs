//! Saved views of the logs page: a name an org's members gave to one app's
//! view (its kind, filter and range, as the page's query string has them),
//! listed on the org's page and opened by link. Names are unique per org.

use rusqlite::{params, OptionalExtension};

use super::changes::CatalogChange;
use super::{Catalog, CatalogError};
use crate::clock::now_ns;

/// Most views one org may save.
pub const MAX_SAVED_VIEWS: usize = 200;

/// One saved view.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedViewRow {
    pub id: i64,
    pub name: String,
    pub app: String,
    /// `service` or `access`.
    pub kind: String,
    pub q: String,
    pub since: String,
    pub until: String,
    /// The access table's columns (`path,status`), empty for the default.
    pub cols: String,
    pub created_by: String,
    pub created_at_ns: i64,
}

/// What saving a view takes (checked by the caller: lengths, the app).
#[derive(Clone, Debug)]
pub struct NewSavedView<'a> {
    pub name: &'a str,
    pub app: &'a str,
    pub kind: &'a str,
    pub q: &'a str,
    pub since: &'a str,
    pub until: &'a str,
    pub cols: &'a str,
    pub created_by: &'a str,
}

const VIEW_SELECT: &str = "SELECT saved_views.id, saved_views.name, saved_views.app, saved_views.kind,
    saved_views.q, saved_views.since, saved_views.until, saved_views.created_by, saved_views.created_at,
    saved_views.cols FROM saved_views JOIN orgs ON orgs.id = saved_views.org_id";

fn view_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SavedViewRow> {
    Ok(SavedViewRow {
        id: row.get(0)?,
        name: row.get(1)?,
        app: row.get(2)?,
        kind: row.get(3)?,
        q: row.get(4)?,
        since: row.get(5)?,
        until: row.get(6)?,
        created_by: row.get(7)?,
        created_at_ns: row.get(8)?,
        cols: row.get(9)?,
    })
}

impl Catalog {
    /// Saves a view; fails when the org has one of that name, or already
    /// [`MAX_SAVED_VIEWS`].
    pub fn save_view(&self, org: &str, new: &NewSavedView<'_>) -> Result<SavedViewRow, CatalogError> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let existing: i64 = tx.query_row(
            "SELECT COUNT(*) FROM saved_views JOIN orgs ON orgs.id = saved_views.org_id WHERE orgs.slug = ?1",
            [org],
            |row| row.get(0),
        )?;
        if existing as usize >= MAX_SAVED_VIEWS {
            return Err(CatalogError::Invalid(format!(
                "organisation \"{org}\" has {existing} saved views, the most it may have: remove one first"
            )));
        }
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM saved_views JOIN orgs ON orgs.id = saved_views.org_id
             WHERE orgs.slug = ?1 AND saved_views.name = ?2)",
            params![org, new.name],
            |row| row.get(0),
        )?;
        if taken {
            return Err(CatalogError::Exists(format!("a view named \"{}\"", new.name)));
        }
        // In a cluster, the id is drawn here so it is the same on every node.
        let chosen_id = if self.clustered() { Some(super::unused_id(&tx, "saved_views")?) } else { None };
        let inserted = tx.execute(
            "INSERT INTO saved_views (id, org_id, name, app, kind, q, since, until, created_by, created_at, cols)
             SELECT ?10, id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11 FROM orgs WHERE slug = ?1",
            params![
                org,
                new.name,
                new.app,
                new.kind,
                new.q,
                new.since,
                new.until,
                new.created_by,
                now_ns(),
                chosen_id,
                new.cols
            ],
        )?;
        if inserted == 0 {
            return Err(CatalogError::Missing(format!("organisation \"{org}\"")));
        }
        let id = tx.last_insert_rowid();
        let row = tx.query_row(&format!("{VIEW_SELECT} WHERE saved_views.id = ?1"), [id], view_from_row)?;
        tx.commit()?;
        drop(db);
        self.emit(|| CatalogChange::ViewSaved {
            id: row.id,
            org: org.into(),
            name: row.name.clone(),
            app: row.app.clone(),
            kind: row.kind.clone(),
            q: row.q.clone(),
            since: row.since.clone(),
            until: row.until.clone(),
            cols: row.cols.clone(),
            created_by: row.created_by.clone(),
            created_at_ns: row.created_at_ns,
        });
        Ok(row)
    }

    /// An org's saved views, by name.
    pub fn saved_views(&self, org: &str) -> Result<Vec<SavedViewRow>, CatalogError> {
        let db = self.db();
        let mut statement =
            db.prepare_cached(&format!("{VIEW_SELECT} WHERE orgs.slug = ?1 ORDER BY saved_views.name"))?;
        let rows = statement.query_map([org], view_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes a saved view of `org`; the removed view, or `None` when it
    /// has no such view.
    pub fn remove_view(&self, org: &str, id: i64) -> Result<Option<SavedViewRow>, CatalogError> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let Some(row) = tx
            .query_row(
                &format!("{VIEW_SELECT} WHERE orgs.slug = ?1 AND saved_views.id = ?2"),
                params![org, id],
                view_from_row,
            )
            .optional()?
        else {
            return Ok(None);
        };
        tx.execute("DELETE FROM saved_views WHERE id = ?1", [id])?;
        tx.commit()?;
        drop(db);
        self.emit(|| CatalogChange::ViewRemoved { id });
        Ok(Some(row))
    }
}
