//! Token secrets and password hashes.
//!
//! A token is `vgt_` and 40 random letters and digits (about 238 bits), so
//! a plain SHA-256 digest is enough to store it: there is nothing to guess.
//! Passwords are chosen by people, so they get Argon2id.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

const TOKEN_PREFIX: &str = "vgt_";
const TOKEN_RANDOM_CHARS: usize = 40;

/// A fresh token secret from the thread's cryptographic generator.
pub fn new_token_secret() -> String {
    format!("{TOKEN_PREFIX}{}", Alphanumeric.sample_string(&mut rand::rng(), TOKEN_RANDOM_CHARS))
}

/// A fresh console session secret: `vgs_` and 40 random letters and digits.
pub fn new_session_secret() -> String {
    format!("vgs_{}", Alphanumeric.sample_string(&mut rand::rng(), TOKEN_RANDOM_CHARS))
}

/// A fresh password for a generated account.
pub fn new_password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 20)
}

pub fn looks_like_token(text: &str) -> bool {
    text.len() == TOKEN_PREFIX.len() + TOKEN_RANDOM_CHARS
        && text.starts_with(TOKEN_PREFIX)
        && text[TOKEN_PREFIX.len()..].bytes().all(|byte| byte.is_ascii_alphanumeric())
}

/// What a token list shows of a secret: the prefix and four characters.
pub fn hint(secret: &str) -> String {
    format!("{}…", &secret[..TOKEN_PREFIX.len() + 4])
}

pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16 bytes is a valid salt");
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("Argon2 accepts any password").to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Checks a password for a login that has no account, taking as long as
/// [`verify_password`] does for one that has, so the answer's time does not
/// tell which logins exist. Always false.
pub fn verify_password_of_no_account(password: &str) -> bool {
    static NO_ACCOUNT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| hash_password(&new_password()));
    let _ = verify_password(password, &NO_ACCOUNT);
    false
}
