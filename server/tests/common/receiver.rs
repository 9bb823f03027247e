//! A local HTTP recipient for drain tests: it keeps every request (body
//! un-gzipped), answers as scripted (a status, `Retry-After`, a slow
//! answer), and can go down and come back on the same port.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    /// The body, gunzipped when it came with `Content-Encoding: gzip`.
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status it was answered.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default()
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// Computes an answer from the (un-gzipped) body.
pub type AnswerFn = Arc<dyn Fn(&[u8]) -> (u16, String) + Send + Sync>;

/// How the recipient answers one request.
#[derive(Clone)]
pub enum Answer {
    /// What the function makes of the body.
    With(AnswerFn),
    /// This status and body.
    Status(u16, String),
    /// 429 with `Retry-After: SECS`.
    TooMany(u64),
    /// This status and body, after a wait.
    Slow(Duration, u16, String),
}

#[derive(Default)]
pub struct ReceiverState {
    pub requests: Mutex<Vec<Received>>,
    /// Answers for the next requests, in order; then `usual`.
    pub script: Mutex<VecDeque<Answer>>,
    pub usual: Mutex<Option<Answer>>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub state: Arc<ReceiverState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut bytes = body.to_vec();
    if headers.get("content-encoding").is_some_and(|value| value == "gzip") {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut plain).unwrap();
        bytes = plain;
    }
    let path = uri.path_and_query().map_or(uri.path().to_string(), |p| p.to_string());
    let answer = state.script.lock().unwrap().pop_front().or_else(|| state.usual.lock().unwrap().clone());
    let answer = answer.unwrap_or(Answer::Status(200, String::new()));
    let answer_now = |status: u16, body: String| (StatusCode::from_u16(status).unwrap(), body).into_response();
    let response = match answer {
        Answer::With(make) => {
            let (status, body) = make(&bytes);
            answer_now(status, body)
        }
        Answer::Status(status, body) => answer_now(status, body),
        Answer::TooMany(secs) => {
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", secs.to_string())], "slow down").into_response()
        }
        Answer::Slow(wait, status, body) => {
            tokio::time::sleep(wait).await;
            answer_now(status, body)
        }
    };
    // Kept once answered, so a test that sees a request knows its answer went out.
    let answered = response.status().as_u16();
    state.requests.lock().unwrap().push(Received { method, path, headers, body: bytes, at: Instant::now(), answered });
    response
}

impl Receiver {
    pub async fn start() -> Receiver {
        Receiver::start_on("127.0.0.1:0".parse().unwrap(), Arc::default()).await
    }

    async fn start_on(addr: SocketAddr, state: Arc<ReceiverState>) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new().fallback(receive).with_state(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Receiver { addr, state, stop: Some(stop), task: Some(task) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Closes the port: connections are refused until [`Receiver::come_back`].
    pub async fn go_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Listens again on the same port, keeping what was received.
    pub async fn come_back(&mut self) {
        let again = Receiver::start_on(self.addr, self.state.clone()).await;
        *self = again;
    }

    pub fn answer_usually(&self, answer: Answer) {
        *self.state.usual.lock().unwrap() = Some(answer);
    }

    pub fn answer_next(&self, answer: Answer) {
        self.state.script.lock().unwrap().push_back(answer);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Polls until `done` holds for the requests so far, or fails after `within`.
    pub async fn wait_for(&self, within: Duration, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let requests = self.requests();
            if done(&requests) {
                return requests;
            }
            assert!(Instant::now() < deadline, "waited {within:?} for {what}; got {} requests", requests.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
