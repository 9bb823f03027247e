//! One HTTP request out, shared by the HTTP recipients: the body
//! (gzip-compressed when asked), the recipient's headers, and the answer
//! read as the services document it: 2xx acknowledges the batch; anything
//! else fails it, with the status, the start of the body, and `Retry-After`
//! when the recipient sent one (seconds or an HTTP date).

use std::io::Write;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};

use super::recipient::{Delivered, SendError};

/// How much of an answer's body a status or an error shows.
const ANSWER_CHARS: usize = 300;

/// A request to send: its body and how it is encoded.
pub struct Post<'a> {
    pub client: &'a reqwest::Client,
    pub url: &'a url::Url,
    pub content_type: &'static str,
    pub gzip: bool,
    pub headers: HeaderMap,
    pub basic_auth: Option<(&'a str, Option<&'a str>)>,
    pub body: Vec<u8>,
}

/// Posts a JSON body with the one credential header a log service's intake
/// takes (`DD-API-KEY: …`, `Authorization: Bearer …`); `what` names the
/// credential when it cannot be a header.
pub async fn send_json(
    client: &reqwest::Client,
    url: &url::Url,
    (name, value, what): (&'static str, &str, &str),
    gzip: bool,
    body: Vec<u8>,
) -> Result<Delivered, SendError> {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(value).map_err(|_| SendError::new(format!("the {what} cannot be a header")))?;
    headers.insert(name, value);
    let post = Post { client, url, content_type: "application/json", gzip, headers, basic_auth: None, body };
    send(post).await.map(|(delivered, _)| delivered)
}

/// Sends and reads the answer; `Ok` carries the status and the start of the body.
pub async fn send(post: Post<'_>) -> Result<(Delivered, String), SendError> {
    let body = if post.gzip { gzip(&post.body) } else { post.body };
    let mut request = post.client.post(post.url.clone()).headers(post.headers).header(CONTENT_TYPE, post.content_type);
    if post.gzip {
        request = request.header(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if let Some((user, password)) = post.basic_auth {
        request = request.basic_auth(user, password);
    }
    let response = request.body(body).send().await.map_err(|error| SendError::new(describe(&error)))?;
    let status = response.status();
    let retry_after = response.headers().get(RETRY_AFTER).and_then(|value| value.to_str().ok()).and_then(retry_after);
    let text = response.text().await.unwrap_or_default();
    let answer = format!(
        "HTTP {status}{}",
        if text.trim().is_empty() { String::new() } else { format!(": {}", shorten(&text)) }
    );
    if status.is_success() {
        Ok((Delivered { answer }, text))
    } else {
        Err(SendError { message: answer, retry_after })
    }
}

/// A transport error said plainly: the chain of causes, without the URL
/// (which may carry credentials).
fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    if causes.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {}", causes.join(": "))
    }
}

pub fn shorten(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(ANSWER_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    encoder.write_all(body).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// `Retry-After` as seconds or an HTTP date; at most an hour is honoured.
pub fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
            let wait_ns = (at.unix_timestamp_nanos() - crate::clock::now_ns() as i128).max(0);
            Duration::from_nanos(wait_ns as u64)
        }
    };
    Some(wait.min(Duration::from_secs(3_600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates_and_is_bounded() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("86400"), Some(Duration::from_secs(3_600)));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO), "a date past is now");
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gzip(b"hello")[..]).read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello");
    }
}
