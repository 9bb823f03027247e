//! The audit log: every admin action (a token created or revoked, a
//! retention changed, a member or an app added) becomes one record in the
//! org's audit topic, saying who, what, when, from where, before and after.
//! It is read like any log (`GET /api/v1/orgs/{org}/audit`), and kept by
//! the store like any topic.

use serde_json::Value;
use vigie_app::model::{AuditLine, LogKind};

use crate::catalog::Caller;
use crate::clock::now_ns;
use crate::store::{Store, StoreError, TopicKey};

/// The app part of an org's own topics. App slugs cannot start with `_`,
/// so it never meets an app's.
pub const ORG_TOPICS: &str = "_org";

pub fn topic(org: &str) -> TopicKey {
    TopicKey::new(org, ORG_TOPICS, LogKind::Audit)
}

/// Appends one audit record of an API caller and waits until it is
/// stored: an admin action is answered only once its record is kept.
pub async fn record(
    store: &Store,
    caller: &Caller,
    action: &str,
    target: String,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), StoreError> {
    let line = AuditLine {
        actor: caller.actor(),
        action: action.to_string(),
        target,
        ip: caller.ip.to_string(),
        before,
        after,
    };
    append(store, &caller.token.org, line).await
}

/// Appends one audit record of `org` (from the console or the API) and
/// waits until it is stored (in a cluster, replicated: every node reads it).
pub async fn append(store: &Store, org: &str, line: AuditLine) -> Result<(), StoreError> {
    let payload = serde_json::to_string(&line).expect("an audit line serialises");
    let (store, key) = (store.clone(), topic(org));
    tokio::task::spawn_blocking(move || store.submit(&key, vec![(now_ns(), payload)]))
        .await
        .map_err(|error| StoreError::Append(format!("the append task failed: {error}")))??;
    tracing::info!(org, actor = %line.actor, action = %line.action, target = %line.target, "audited");
    Ok(())
}
