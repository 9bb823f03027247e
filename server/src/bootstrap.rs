//! Accounts made at start: the first administrator, on the first start
//! with an empty catalog, and the demo's user and token with `--demo`.

use crate::catalog::{secrets, Catalog, CatalogError, Org, Permissions, Role};
use crate::demo;

/// A login, a password and a token, printed once at start.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub org: String,
    pub login: String,
    pub password: String,
    /// An admin token of `org`.
    pub token: String,
}

/// The org the first administrator gets.
pub const FIRST_ORG: &str = "main";

/// On the first start (no user yet): creates the org `main`, the user
/// `admin` with a random password, and an admin token for `main`.
pub fn first_start(catalog: &Catalog) -> Result<Option<Credentials>, CatalogError> {
    if catalog.has_users()? {
        return Ok(None);
    }
    catalog.put_org(&Org { slug: FIRST_ORG.into(), name: "My organisation".into(), apps: Vec::new() })?;
    let password = secrets::new_password();
    catalog.create_user("admin", "Administrator", &password)?;
    catalog.add_member(FIRST_ORG, "admin", Role::Admin)?;
    let (_, token) = catalog.create_token(FIRST_ORG, "first start", Permissions::ALL, "vigie serve")?;
    Ok(Some(Credentials { org: FIRST_ORG.into(), login: "admin".into(), password, token }))
}

/// The demo org and its user `demo` (password `demo`), and a fresh admin
/// token named `demo` (the previous start's is revoked: its secret was
/// only ever printed).
pub fn demo(catalog: &Catalog) -> Result<Credentials, CatalogError> {
    demo::install_org(catalog)?;
    match catalog.create_user("demo", "Demo user", "demo") {
        Ok(()) | Err(CatalogError::Exists(_)) => {}
        Err(other) => return Err(other),
    }
    catalog.add_member(demo::DEMO_ORG, "demo", Role::Admin)?;
    for old in catalog.tokens(demo::DEMO_ORG)?.into_iter().filter(|token| token.name == "demo") {
        catalog.revoke_token(demo::DEMO_ORG, old.id)?;
    }
    let (_, token) = catalog.create_token(demo::DEMO_ORG, "demo", Permissions::ALL, "vigie serve --demo")?;
    Ok(Credentials { org: demo::DEMO_ORG.into(), login: "demo".into(), password: "demo".into(), token })
}
