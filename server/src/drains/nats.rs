//! `nats`: each record published to a JetStream subject (`async-nats`),
//! as the JSON record the HTTP recipients send, with `Nats-Msg-Id` set to
//! the record's stable id (org, app, kind, offset), so the stream's
//! duplicate window drops a resend. The batch is published pipelined and
//! acknowledged once JetStream acknowledged every message (`PublishAck`:
//! the stream and sequence it was stored at).
//!
//! The host is resolved and checked like every drain target, and servers
//! a NATS server advertises are not followed.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use futures::future::BoxFuture;

use super::elasticsearch::document_id;
use super::recipient::{Batch, BatchLimits, Delivered, Recipient, SendError};
use super::record::write_json_record;
use super::{targets, DrainSettings};

pub struct Nats {
    host: String,
    port: u16,
    subject: String,
    username: Option<String>,
    password: Option<String>,
    allow_private: bool,
    timeout: Duration,
    context: Option<jetstream::Context>,
}

impl Nats {
    pub fn new(
        url: url::Url,
        subject: String,
        username: Option<String>,
        password: Option<String>,
        settings: &DrainSettings,
    ) -> Nats {
        Nats {
            host: url.host_str().unwrap_or_default().to_string(),
            port: url.port().unwrap_or(4222),
            subject,
            username,
            password,
            allow_private: settings.allow_private_targets,
            timeout: settings.request_timeout,
            context: None,
        }
    }

    async fn connect(&self) -> Result<jetstream::Context, SendError> {
        let addrs = targets::resolve(&self.host, self.port, self.allow_private).await.map_err(SendError::new)?;
        let mut options = async_nats::ConnectOptions::new()
            .connection_timeout(self.timeout.min(Duration::from_secs(10)))
            .request_timeout(Some(self.timeout))
            .ignore_discovered_servers()
            .name("vigie-drain");
        if let Some(user) = &self.username {
            options = options.user_and_password(user.clone(), self.password.clone().unwrap_or_default());
        }
        let server = format!("nats://{}", addrs[0]);
        let client = options
            .connect(server.as_str())
            .await
            .map_err(|error| SendError::new(format!("cannot connect to {}:{}: {error}", self.host, self.port)))?;
        let mut context = jetstream::new(client);
        context.set_timeout(self.timeout);
        Ok(context)
    }
}

impl Recipient for Nats {
    fn limits(&self) -> BatchLimits {
        BatchLimits { max_lines: 1_000, max_bytes: 4 << 20 }
    }

    fn send<'a>(&'a mut self, batch: Batch<'a>) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            if self.context.is_none() {
                self.context = Some(self.connect().await?);
            }
            let context = self.context.as_ref().expect("connected above");
            let failed =
                |error: &dyn std::fmt::Display| SendError::new(format!("publishing to {}: {error}", self.subject));
            let mut acks = Vec::with_capacity(batch.records.len());
            for record in batch.records {
                let mut payload = Vec::with_capacity(record.payload.len() + 160);
                write_json_record(&mut payload, batch.source, record);
                let message =
                    PublishMessage::build().payload(payload.into()).message_id(document_id(batch.source, record));
                acks.push(context.send_publish(self.subject.clone(), message).await.map_err(|e| failed(&e))?);
            }
            let mut last = None;
            for ack in acks {
                last = Some(ack.await.map_err(|error| failed(&error))?);
            }
            let answer = match last {
                Some(ack) => format!(
                    "{} message(s) acknowledged by JetStream: stream {}, last sequence {}",
                    batch.records.len(),
                    ack.stream,
                    ack.sequence
                ),
                None => "nothing to publish".into(),
            };
            Ok(Delivered { answer })
        })
    }
}
