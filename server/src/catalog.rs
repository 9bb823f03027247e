//! Which organisations exist and which apps and add-ons they hold.
//!
//! Kept in memory in this version and filled by the demo; the Logs API
//! issue moves it into an embedded database with members and tokens.

use std::sync::{Arc, RwLock};

use vigie_app::model::AppKind;

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

/// A handle to the catalog; cloning it is shallow.
#[derive(Clone, Default)]
pub struct Catalog {
    orgs: Arc<RwLock<Vec<Org>>>,
}

impl Catalog {
    /// Adds an org, or replaces the one with the same slug.
    pub fn put_org(&self, org: Org) {
        let mut orgs = self.orgs.write().expect("catalog lock");
        orgs.retain(|known| known.slug != org.slug);
        orgs.push(org);
    }

    pub fn orgs(&self) -> Vec<Org> {
        self.orgs.read().expect("catalog lock").clone()
    }

    pub fn org(&self, slug: &str) -> Option<Org> {
        self.orgs.read().expect("catalog lock").iter().find(|org| org.slug == slug).cloned()
    }

    pub fn app(&self, org: &str, app: &str) -> Option<App> {
        self.org(org)?.apps.into_iter().find(|known| known.slug == app)
    }
}
