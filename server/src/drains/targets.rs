//! Which addresses a drain may reach. A drain sends to a URL its org's
//! admin chose, from inside the platform's network: unless the server was
//! told otherwise (`--drain-allow-private-targets`), loopback, private,
//! link-local (cloud metadata), shared and multicast addresses are refused,
//! both when the URL names an address and when a name resolves to one (at
//! every connection, so a name that changes its answer gains nothing).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// True for addresses that belong to the platform's own networks.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Resolves `host:port` to the addresses a drain may connect to.
pub async fn resolve(host: &str, port: u16, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|error| format!("cannot resolve {host}: {error}"))?
        .collect();
    let allowed: Vec<SocketAddr> =
        found.iter().copied().filter(|addr| allow_private || !is_private(addr.ip())).collect();
    if allowed.is_empty() {
        return Err(if found.is_empty() {
            format!("{host} has no address")
        } else {
            format!("{host} is a private or local address, which drains may not reach")
        });
    }
    Ok(allowed)
}

/// Checks a URL's host when it is an address literal (a name is checked
/// when it is resolved).
pub fn check_literal(url: &url::Url, allow_private: bool) -> Result<(), String> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    if !allow_private && is_private(ip) {
        return Err(format!("{ip} is a private or local address, which drains may not reach"));
    }
    Ok(())
}

/// reqwest's resolver for drains: [`resolve`] at every connection.
pub struct FilteringResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for FilteringResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (host, allow_private) = (name.as_str().to_string(), self.allow_private);
        Box::pin(async move {
            let addrs = resolve(&host, 0, allow_private)
                .await
                .map_err(|error| -> Box<dyn std::error::Error + Send + Sync> { error.into() })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The certificates of `--drain-ca-file` (PEM): authorities drains trust
/// besides the web PKI's, for recipients behind a private CA.
///
/// Blocks (reads a file): call it at start or from a blocking thread.
pub fn extra_roots(path: Option<&std::path::Path>) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let Some(path) = path else { return Ok(Vec::new()) };
    let pem = std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{} is not PEM certificates: {error}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(certs)
}

/// The HTTP client every HTTP recipient shares: its connections are pooled,
/// redirects are not followed (a recipient answers, it does not send the
/// logs elsewhere), names resolve through [`FilteringResolver`], and
/// `extra_roots` are trusted besides the web PKI.
pub fn http_client(
    allow_private: bool,
    timeout: std::time::Duration,
    extra_roots: &[rustls::pki_types::CertificateDer<'static>],
) -> reqwest::Client {
    let mut builder = reqwest::Client::builder();
    for root in extra_roots {
        if let Ok(certificate) = reqwest::Certificate::from_der(root) {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .dns_resolver(Arc::new(FilteringResolver { allow_private }))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(std::time::Duration::from_secs(10)))
        .timeout(timeout)
        .user_agent(concat!("vigie-drain/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client with rustls builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_addresses_are_private_and_public_ones_are_not() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "8.8.4.4", "2606:4700::1111"] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn a_literal_private_url_is_refused_unless_allowed() {
        let url = url::Url::parse("http://169.254.169.254/latest").unwrap();
        assert!(check_literal(&url, false).is_err());
        assert!(check_literal(&url, true).is_ok());
        assert!(check_literal(&url::Url::parse("http://logs.example.com").unwrap(), false).is_ok());
    }
}
