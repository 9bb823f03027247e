//! Which org a token may store an app's data into, for the ingest
//! listeners that have no request to answer (syslog, statsd): asked of the
//! catalog once per token and app, then believed for [`ROUTE_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::catalog::{Authentication, Catalog};

/// How long a token's verdict for an app is believed before the catalog
/// is asked again: a revoked token stops working within this time.
pub const ROUTE_TTL: Duration = Duration::from_secs(5);

/// Verdicts kept at most; past it they are all forgotten, which costs a
/// catalog lookup each, never data.
const MAX_ROUTES: usize = 10_000;

/// Why a token may not store an app's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown or revoked.
    BadToken,
    /// The token lacks the ingest permission.
    NotAllowed,
    /// The token's org has no such app.
    UnknownApp,
}

/// The org to store into, or why not.
pub type Verdict = Result<String, Refusal>;

pub struct IngestRoutes {
    catalog: Catalog,
    /// (token, app) → verdict and when it was asked; a std `Mutex` because
    /// it is held for a lookup only, never across an `.await`.
    verdicts: Mutex<HashMap<(String, String), (Verdict, Instant)>>,
}

impl IngestRoutes {
    pub fn new(catalog: Catalog) -> IngestRoutes {
        IngestRoutes { catalog, verdicts: Mutex::new(HashMap::new()) }
    }

    /// The org `token` may send `app`'s data to, from the cache or the catalog.
    pub fn route(&self, token: &str, app: &str) -> Verdict {
        let key = (token.to_string(), app.to_string());
        {
            let verdicts = self.verdicts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some((verdict, at)) = verdicts.get(&key) {
                if at.elapsed() < ROUTE_TTL {
                    return verdict.clone();
                }
            }
        }
        let verdict = self.route_uncached(token, app);
        let mut verdicts = self.verdicts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if verdicts.len() >= MAX_ROUTES {
            verdicts.clear();
        }
        verdicts.insert(key, (verdict.clone(), Instant::now()));
        verdict
    }

    fn route_uncached(&self, token: &str, app: &str) -> Verdict {
        let token = match self.catalog.authenticate(token) {
            Ok(Authentication::Valid(token)) => token,
            Ok(_) => return Err(Refusal::BadToken),
            Err(error) => {
                tracing::error!(%error, "ingest: could not check a token");
                return Err(Refusal::BadToken);
            }
        };
        if !token.permissions.ingest {
            return Err(Refusal::NotAllowed);
        }
        match self.catalog.app(&token.org, app) {
            Ok(Some(_)) => Ok(token.org),
            _ => Err(Refusal::UnknownApp),
        }
    }
}
