//! The Redis tier: entries under `<prefix>d:<key>`, invalidations on `<prefix>changes`. Every call
//! is bounded by the configured timeout; a failure is a miss (or a lost message), never an error.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt;
use guichet_domain::Revision;
use guichet_proto::v1 as pb;
use prost::Message;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;

use super::{DecisionCache, Entry};
use crate::config::CacheConfig;
use crate::error::ServerError;

#[derive(Clone)]
pub(super) struct RedisTier {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: Arc<str>,
    ttl_ms: u64,
    timeout: Duration,
}

impl RedisTier {
    pub(super) fn new(url: &str, config: &CacheConfig) -> Result<Self, ServerError> {
        let timeout = Duration::from_millis(config.redis_timeout_ms);
        let client = redis::Client::open(url).map_err(|e| ServerError::Internal(format!("redis url: {e}")))?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = client
            .get_connection_manager_lazy(manager)
            .map_err(|e| ServerError::Internal(format!("redis connection manager: {e}")))?;
        Ok(Self {
            client,
            conn,
            prefix: Arc::from(config.redis_key_prefix.as_str()),
            ttl_ms: config.redis_ttl_ms,
            timeout,
        })
    }

    fn entry_key(&self, key: &str) -> String {
        // `d2`: entries whose deps are the narrow scopes; a previous build's `d:` entries depend
        // on whole trees and are never read (nor are these by it).
        format!("{}d2:{key}", self.prefix)
    }

    fn channel(&self) -> String {
        format!("{}changes", self.prefix)
    }

    pub(super) async fn get(&self, cache: &DecisionCache, key: &str) -> Option<Entry> {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("GET").arg(self.entry_key(key)).to_owned();
        match tokio::time::timeout(self.timeout, cmd.query_async::<Option<Vec<u8>>>(&mut conn)).await {
            Ok(Ok(value)) => {
                cache.redis_ok();
                value.and_then(|v| decode(&v))
            }
            Ok(Err(e)) => {
                cache.redis_failed("get", &e.to_string());
                None
            }
            Err(_) => {
                cache.redis_failed("get", "timed out");
                None
            }
        }
    }

    pub(super) async fn set(&self, cache: &DecisionCache, key: &str, entry: &Entry) {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("SET").arg(self.entry_key(key)).arg(encode(entry)).arg("PX").arg(self.ttl_ms).to_owned();
        match tokio::time::timeout(self.timeout, cmd.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => cache.redis_ok(),
            Ok(Err(e)) => cache.redis_failed("set", &e.to_string()),
            Err(_) => cache.redis_failed("set", "timed out"),
        }
    }

    /// Publishes what writers send, in order.
    pub(super) fn spawn_publisher(&self, cache: Weak<DecisionCache>) -> mpsc::UnboundedSender<(Revision, Vec<String>)> {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Revision, Vec<String>)>();
        let this = self.clone();
        tokio::spawn(async move {
            while let Some((revision, scopes)) = rx.recv().await {
                let Some(cache) = cache.upgrade() else { return };
                let mut conn = this.conn.clone();
                let message = format!("{}\n{}", revision.value(), scopes.join("\n"));
                let cmd = redis::cmd("PUBLISH").arg(this.channel()).arg(message).to_owned();
                match tokio::time::timeout(this.timeout, cmd.query_async::<i64>(&mut conn)).await {
                    Ok(Ok(_)) => cache.redis_ok(),
                    Ok(Err(e)) => cache.redis_failed("publish", &e.to_string()),
                    Err(_) => cache.redis_failed("publish", "timed out"),
                }
            }
        });
        tx
    }

    /// Subscribes to the invalidations, and resubscribes after any failure.
    pub(super) fn spawn_subscriber(&self, cache: Weak<DecisionCache>) {
        let this = self.clone();
        tokio::spawn(async move {
            let connect_timeout = this.timeout.max(Duration::from_millis(500));
            loop {
                if cache.strong_count() == 0 {
                    return;
                }
                let subscribed = async {
                    let mut pubsub = this.client.get_async_pubsub().await?;
                    pubsub.subscribe(this.channel()).await?;
                    Ok::<_, redis::RedisError>(pubsub)
                };
                match tokio::time::timeout(connect_timeout, subscribed).await {
                    Ok(Ok(mut pubsub)) => {
                        tracing::debug!("subscribed to decision cache invalidations");
                        let mut stream = pubsub.on_message();
                        while let Some(msg) = stream.next().await {
                            let Some(cache) = cache.upgrade() else { return };
                            if let Some((revision, scopes)) = parse_message(msg.get_payload_bytes()) {
                                cache.mark(revision, &scopes);
                            }
                        }
                        if let Some(cache) = cache.upgrade() {
                            cache.redis_failed("subscribe", "the subscription ended");
                        }
                    }
                    Ok(Err(e)) => {
                        if let Some(cache) = cache.upgrade() {
                            cache.redis_failed("subscribe", &e.to_string());
                        }
                    }
                    Err(_) => {
                        if let Some(cache) = cache.upgrade() {
                            cache.redis_failed("subscribe", "timed out");
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }
}

fn parse_message(payload: &[u8]) -> Option<(Revision, Vec<String>)> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut lines = text.split('\n');
    let revision = Revision::new(lines.next()?.parse().ok()?);
    Some((revision, lines.filter(|l| !l.is_empty()).map(str::to_owned).collect()))
}

/// `revision (8 bytes BE) | deps count (2) | (len (2) | dep)* | CheckAccessResponse`.
fn encode(entry: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + entry.response.encoded_len());
    out.extend_from_slice(&entry.revision.value().to_be_bytes());
    out.extend_from_slice(&u16::try_from(entry.deps.len()).unwrap_or(0).to_be_bytes());
    for d in entry.deps.iter().take(usize::from(u16::MAX)) {
        let bytes = &d.as_bytes()[..d.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    entry.response.encode(&mut out).unwrap_or_default();
    out
}

fn decode(mut v: &[u8]) -> Option<Entry> {
    fn take<'a>(v: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if v.len() < n {
            return None;
        }
        let (head, tail) = v.split_at(n);
        *v = tail;
        Some(head)
    }
    let revision = Revision::new(u64::from_be_bytes(take(&mut v, 8)?.try_into().ok()?));
    let n = u16::from_be_bytes(take(&mut v, 2)?.try_into().ok()?);
    let mut deps = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let len = u16::from_be_bytes(take(&mut v, 2)?.try_into().ok()?);
        deps.push(String::from_utf8(take(&mut v, usize::from(len))?.to_vec()).ok()?);
    }
    let response = pb::CheckAccessResponse::decode(v).ok()?;
    Some(Entry { revision, deps, response })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_survives_encoding() {
        let e = Entry {
            revision: Revision::new(42),
            deps: vec!["tree:acc_1".to_owned(), "user:usr_2".to_owned()],
            response: pb::CheckAccessResponse {
                allowed: true,
                reason_code: "GRANTED".to_owned(),
                ..Default::default()
            },
        };
        assert_eq!(decode(&encode(&e)), Some(e));
        assert_eq!(decode(&[1, 2, 3]), None);
    }

    #[test]
    fn a_message_is_parsed() {
        assert_eq!(
            parse_message(b"7\ntree:a\nuser:b"),
            Some((Revision::new(7), vec!["tree:a".to_owned(), "user:b".to_owned()]))
        );
        assert_eq!(parse_message(b"x"), None);
    }
}
