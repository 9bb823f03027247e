//! The console's port, implemented in-process on the catalog and the store.

use futures::future::BoxFuture;
use futures::FutureExt;
use vigie_app::model::{AppSummary, LogKind, LogPage, LogRecord, OrgSummary, ServiceLine, ServiceRecord};
use vigie_app::port::{ConsolePort, PortError};

use crate::catalog::{Catalog, Org};
use crate::store::{Store, TopicKey};

pub struct InProcessConsole {
    pub catalog: Catalog,
    pub store: Store,
}

impl InProcessConsole {
    fn summarise(&self, org: Org) -> OrgSummary {
        let apps = org
            .apps
            .into_iter()
            .map(|app| {
                let info = self.store.info(&TopicKey::new(&org.slug, &app.slug, LogKind::Service));
                AppSummary {
                    slug: app.slug,
                    name: app.name,
                    kind: app.kind,
                    runtime: app.runtime,
                    service_lines: info.as_ref().map_or(0, |info| info.records),
                    last_log_ns: info.and_then(|info| info.last_ts_ns),
                }
            })
            .collect();
        OrgSummary { slug: org.slug, name: org.name, apps }
    }

    fn log_page(&self, org: &str, app: &str, limit: usize) -> Result<Option<LogPage>, PortError> {
        let Some(org) = self.catalog.org(org).map_err(port_error)? else { return Ok(None) };
        let org = self.summarise(org);
        let Some(app) = org.apps.iter().find(|known| known.slug == app).cloned() else { return Ok(None) };
        let key = TopicKey::new(&org.slug, &app.slug, LogKind::Service);
        let stored = self.store.latest(&key, limit);
        let next_offset = stored.last().map(|r| r.offset + 1).unwrap_or_else(|| self.store.next_offset(&key));
        let records: Vec<ServiceRecord> = stored
            .into_iter()
            .filter_map(|record| match serde_json::from_str::<ServiceLine>(&record.payload) {
                Ok(line) => Some(LogRecord { offset: record.offset, ts_ns: record.ts_ns, line }),
                Err(error) => {
                    tracing::warn!(offset = record.offset, %error, "skipping an unreadable service record");
                    None
                }
            })
            .collect();
        Ok(Some(LogPage { org, app, records, next_offset }))
    }
}

impl ConsolePort for InProcessConsole {
    fn orgs(&self) -> BoxFuture<'_, Result<Vec<OrgSummary>, PortError>> {
        let orgs = self
            .catalog
            .orgs()
            .map(|orgs| orgs.into_iter().map(|org| self.summarise(org)).collect())
            .map_err(port_error);
        async move { orgs }.boxed()
    }

    fn org(&self, org: String) -> BoxFuture<'_, Result<Option<OrgSummary>, PortError>> {
        let found = self.catalog.org(&org).map(|found| found.map(|org| self.summarise(org))).map_err(port_error);
        async move { found }.boxed()
    }

    fn service_log_page(
        &self,
        org: String,
        app: String,
        limit: usize,
    ) -> BoxFuture<'_, Result<Option<LogPage>, PortError>> {
        let page = self.log_page(&org, &app, limit);
        async move { page }.boxed()
    }
}

fn port_error(error: crate::catalog::CatalogError) -> PortError {
    tracing::error!(%error, "the console could not read the catalog");
    PortError(error.to_string())
}
