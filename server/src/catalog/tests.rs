use vigie_app::model::AppKind;

use super::*;

fn acme() -> Org {
    let app = |slug: &str| App {
        slug: slug.into(),
        name: slug.to_uppercase(),
        kind: AppKind::Application,
        runtime: "Rust".into(),
    };
    Org { slug: "acme".into(), name: "Acme".into(), apps: vec![app("web"), app("api")] }
}

#[test]
fn orgs_and_apps_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    Catalog::open(dir.path()).unwrap().put_org(&acme()).unwrap();
    let catalog = Catalog::open(dir.path()).unwrap();
    let org = catalog.org("acme").unwrap().unwrap();
    assert_eq!(org.apps.iter().map(|app| app.slug.as_str()).collect::<Vec<_>>(), ["api", "web"]);
    assert_eq!(catalog.app("acme", "web").unwrap().unwrap().name, "WEB");
    assert_eq!(catalog.app("acme", "nope").unwrap(), None);
    assert_eq!(catalog.app("other", "web").unwrap(), None);
}

#[test]
fn a_token_authenticates_until_revoked_and_only_its_digest_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(dir.path()).unwrap();
    catalog.put_org(&acme()).unwrap();
    let (info, secret) =
        catalog.create_token("acme", "ci", Permissions::parse("read,ingest").unwrap(), "test").unwrap();
    assert!(secret.starts_with("vgt_") && secrets::looks_like_token(&secret));
    assert_eq!(catalog.authenticate(&secret).unwrap(), Authentication::Valid(info.clone()));

    let file = std::fs::read(dir.path().join(CATALOG_FILE)).unwrap();
    assert!(!file.windows(secret.len()).any(|window| window == secret.as_bytes()), "the secret is on disk");

    assert_eq!(catalog.revoke_token("other", info.id).unwrap(), None, "another org cannot revoke it");
    assert_eq!(catalog.revoke_token("acme", info.id).unwrap(), Some(info.clone()));
    assert!(matches!(catalog.authenticate(&secret).unwrap(), Authentication::Revoked(token) if token.id == info.id));
    assert_eq!(catalog.authenticate("vgt_0000000000000000000000000000000000000000").unwrap(), Authentication::Unknown);
    assert_eq!(catalog.authenticate("not a token").unwrap(), Authentication::Unknown);
}

#[test]
fn permissions_read_and_print() {
    let read = Permissions::parse("read").unwrap();
    assert!(read.allows(Permission::Read) && !read.allows(Permission::Ingest) && !read.allows(Permission::Admin));
    let admin = Permissions::parse("admin").unwrap();
    assert!(admin.allows(Permission::Read) && admin.allows(Permission::Ingest) && admin.allows(Permission::Admin));
    assert_eq!(Permissions::parse("ingest, read").unwrap().to_string(), "read,ingest");
    assert!(Permissions::parse("write").unwrap_err().contains("write"));
    assert!(Permissions::parse("").is_err());
}

#[test]
fn passwords_check_and_members_list() {
    let catalog = Catalog::in_memory().unwrap();
    catalog.put_org(&acme()).unwrap();
    catalog.create_user("ada", "Ada", "correct horse").unwrap();
    assert_eq!(catalog.check_password("ada", "correct horse").unwrap().as_deref(), Some("Ada"));
    assert_eq!(catalog.check_password("ada", "wrong").unwrap(), None);
    assert_eq!(catalog.check_password("bob", "correct horse").unwrap(), None);
    assert!(matches!(catalog.create_user("ada", "Ada 2", "x"), Err(CatalogError::Exists(_))));
    catalog.add_member("acme", "ada", Role::Admin).unwrap();
    assert_eq!(
        catalog.members("acme").unwrap(),
        [Member { login: "ada".into(), name: "Ada".into(), role: Role::Admin }]
    );
    assert!(matches!(catalog.add_member("acme", "bob", Role::Member), Err(CatalogError::Missing(_))));
}

#[test]
fn slugs_are_checked_and_apps_not_overwritten() {
    let catalog = Catalog::in_memory().unwrap();
    catalog.put_org(&acme()).unwrap();
    let app = App { slug: "web".into(), name: "Other".into(), kind: AppKind::Addon, runtime: "Redis".into() };
    assert!(matches!(catalog.create_app("acme", &app), Err(CatalogError::Exists(_))));
    assert!(matches!(
        catalog.create_app("nope", &App { slug: "x".into(), ..app.clone() }),
        Err(CatalogError::Missing(_))
    ));
    for bad in ["", "Web", "-web", "web/../x", "_org", &"a".repeat(64)] {
        assert!(check_slug("app", bad).is_err(), "{bad:?} accepted");
    }
}
