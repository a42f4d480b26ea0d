//! The Redis tier: entries under `<prefix>d4:<key>`, invalidations on `<prefix>changes`. Every call
//! is bounded by the configured timeout; a failure is a miss (or a lost message), never an error.
//!
//! An entry is stored in a compact binary layout of its own (see [`encode`]), not in the API's
//! encoding: the decision caches hold domain answers, and the wire format of the API may change
//! without touching what the replicas share. Anything that does not decode whole — another
//! layout, a truncated value, an id that does not validate — is a miss.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt;
use guichet_domain::{
    AccountId, Answer, CacheTier, DelegationId, Freshness, Level, MembershipId, Path, Reason, Revision, RoleName,
    Timestamp,
};
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
        // `d4`: entries whose deps are the narrow scopes, with the instant the answer holds until
        // and the answer in the layout of `encode`. A previous build's `d3:` entries (the same
        // without that instant: its answers knew no expiry), `d2:` (the answer as a protobuf
        // message) and `d:` entries (whole trees) are never read, nor are these by it.
        format!("{}d4:{key}", self.prefix)
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

    /// Stores `entry`, evaluated at `now`. Its time to live is the configured one, or less when
    /// the answer holds until an earlier instant (a cleanup bound only: every reader compares the
    /// stored instant with its own clock, see [`Entry::live_at`]).
    pub(super) async fn set(&self, cache: &DecisionCache, key: &str, entry: &Entry, now: Timestamp) {
        let ttl_ms = match entry.valid_until {
            None => self.ttl_ms,
            Some(until) => {
                let left = u64::try_from(until.as_millis().saturating_sub(now.as_millis())).unwrap_or(0);
                if left == 0 {
                    return;
                }
                left.min(self.ttl_ms)
            }
        };
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("SET").arg(self.entry_key(key)).arg(encode(entry)).arg("PX").arg(ttl_ms).to_owned();
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

/// An entry: `revision (8 bytes BE) | valid until (8 bytes BE, milliseconds since the epoch;
/// `i64::MAX`: no bound) | deps count (2) | (len (2) | dep)* | answer`, the answer
/// being `allowed (1) | required (1) | effective (1) | reason (1) | path kind (1) | (len (1) | id)*`
/// — levels as their rank (none 0, view 1, full 2), the reason as its index in [`Reason::ALL`],
/// the path kind 0 (none), 1 (direct: membership, account, role), 2 (inherited: membership,
/// ancestor, role) or 3 (delegated: delegation, from, membership, into, role). The answer's
/// revision is the entry's; a stored answer is always from the store (tier none) and as requested.
/// Ids are at most 255 bytes (ids and role names are at most 64 characters).
fn encode(entry: &Entry) -> Vec<u8> {
    let a = &entry.answer;
    let mut out = Vec::with_capacity(
        16 + entry.deps.iter().map(|d| d.len() + 2).sum::<usize>() + 5 + a.granted_by.as_ref().map_or(0, |_| 200),
    );
    out.extend_from_slice(&entry.revision.value().to_be_bytes());
    out.extend_from_slice(&entry.valid_until.map_or(i64::MAX, Timestamp::as_millis).to_be_bytes());
    out.extend_from_slice(&u16::try_from(entry.deps.len()).unwrap_or(0).to_be_bytes());
    for d in entry.deps.iter().take(usize::from(u16::MAX)) {
        let bytes = &d.as_bytes()[..d.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let reason = Reason::ALL.iter().position(|r| *r == a.reason).and_then(|i| u8::try_from(i).ok()).unwrap_or(u8::MAX);
    out.extend_from_slice(&[u8::from(a.allowed), level_byte(a.required), level_byte(a.effective), reason]);
    let ids: &[&str] = match &a.granted_by {
        None => {
            out.push(0);
            &[]
        }
        Some(Path::Direct { membership, account, role }) => {
            out.push(1);
            &[membership.as_str(), account.as_str(), role.as_str()]
        }
        Some(Path::Inherited { membership, ancestor, role }) => {
            out.push(2);
            &[membership.as_str(), ancestor.as_str(), role.as_str()]
        }
        Some(Path::Delegated { delegation, from_account, membership, into, role }) => {
            out.push(3);
            &[delegation.as_str(), from_account.as_str(), membership.as_str(), into.as_str(), role.as_str()]
        }
    };
    for id in ids {
        // Longer than any id validates: written empty, it is refused on reading (a miss).
        let bytes = if id.len() <= usize::from(u8::MAX) { id.as_bytes() } else { &[] };
        out.push(u8::try_from(bytes.len()).unwrap_or(0));
        out.extend_from_slice(bytes);
    }
    out
}

fn level_byte(l: Level) -> u8 {
    match l {
        Level::None => 0,
        Level::View => 1,
        Level::Full => 2,
    }
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
    fn byte(v: &mut &[u8]) -> Option<u8> {
        take(v, 1).map(|b| b[0])
    }
    fn level(v: &mut &[u8]) -> Option<Level> {
        match byte(v)? {
            0 => Some(Level::None),
            1 => Some(Level::View),
            2 => Some(Level::Full),
            _ => None,
        }
    }
    fn id<T, E>(v: &mut &[u8], parse: impl Fn(&str) -> Result<T, E>) -> Option<T> {
        let len = byte(v)?;
        parse(std::str::from_utf8(take(v, usize::from(len))?).ok()?).ok()
    }
    let revision = Revision::new(u64::from_be_bytes(take(&mut v, 8)?.try_into().ok()?));
    let until = i64::from_be_bytes(take(&mut v, 8)?.try_into().ok()?);
    let valid_until = (until != i64::MAX).then_some(Timestamp::from_millis(until));
    let n = u16::from_be_bytes(take(&mut v, 2)?.try_into().ok()?);
    let mut deps = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let len = u16::from_be_bytes(take(&mut v, 2)?.try_into().ok()?);
        deps.push(String::from_utf8(take(&mut v, usize::from(len))?.to_vec()).ok()?);
    }
    let allowed = match byte(&mut v)? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let required = level(&mut v)?;
    let effective = level(&mut v)?;
    let reason = *Reason::ALL.get(usize::from(byte(&mut v)?))?;
    let granted_by = match byte(&mut v)? {
        0 => None,
        1 => Some(Path::Direct {
            membership: id(&mut v, MembershipId::parse)?,
            account: id(&mut v, AccountId::parse)?,
            role: id(&mut v, RoleName::parse)?,
        }),
        2 => Some(Path::Inherited {
            membership: id(&mut v, MembershipId::parse)?,
            ancestor: id(&mut v, AccountId::parse)?,
            role: id(&mut v, RoleName::parse)?,
        }),
        3 => Some(Path::Delegated {
            delegation: id(&mut v, DelegationId::parse)?,
            from_account: id(&mut v, AccountId::parse)?,
            membership: id(&mut v, MembershipId::parse)?,
            into: id(&mut v, AccountId::parse)?,
            role: id(&mut v, RoleName::parse)?,
        }),
        _ => return None,
    };
    if !v.is_empty() {
        return None;
    }
    let answer = Answer {
        allowed,
        required,
        effective,
        reason,
        granted_by,
        revision,
        tier: CacheTier::None,
        freshness: Freshness::AsRequested,
    };
    Some(Entry { revision, deps, answer, valid_until })
}

#[cfg(test)]
mod tests {

    use super::*;

    fn entry(allowed: bool, reason: Reason, granted_by: Option<Path>) -> Entry {
        let revision = Revision::new(42);
        Entry {
            revision,
            deps: vec!["acct:acc_1".to_owned(), "user:usr_2".to_owned(), "res:f7".to_owned()],
            answer: Answer {
                allowed,
                required: Level::View,
                effective: if allowed { Level::Full } else { Level::None },
                reason,
                granted_by,
                revision,
                tier: CacheTier::None,
                freshness: Freshness::AsRequested,
            },
            valid_until: None,
        }
    }

    fn every_kind_of_entry() -> Vec<Entry> {
        let mut out: Vec<Entry> = Reason::ALL.iter().map(|r| entry(false, *r, None)).collect();
        // An answer bounded by an expiry keeps its instant.
        out.push(Entry {
            valid_until: Some(Timestamp::from_millis(1_795_000_060_000)),
            ..entry(true, Reason::Allowed, None)
        });
        out.push(entry(
            true,
            Reason::Allowed,
            Some(Path::Direct {
                membership: MembershipId::parse("m1").unwrap(),
                account: AccountId::parse("c1566").unwrap(),
                role: RoleName::parse("account_manager").unwrap(),
            }),
        ));
        out.push(entry(
            true,
            Reason::Allowed,
            Some(Path::Inherited {
                membership: MembershipId::parse("m2").unwrap(),
                ancestor: AccountId::parse("p1").unwrap(),
                role: RoleName::parse("admin").unwrap(),
            }),
        ));
        out.push(entry(
            true,
            Reason::Allowed,
            Some(Path::Delegated {
                delegation: DelegationId::parse("dl1").unwrap(),
                from_account: AccountId::parse("p2").unwrap(),
                membership: MembershipId::parse("m3").unwrap(),
                into: AccountId::parse("c1566").unwrap(),
                role: RoleName::parse("admin").unwrap(),
            }),
        ));
        out
    }

    #[test]
    fn every_kind_of_entry_survives_encoding() {
        for e in every_kind_of_entry() {
            assert_eq!(decode(&encode(&e)), Some(e));
        }
    }

    #[test]
    fn anything_that_does_not_decode_whole_is_a_miss() {
        assert_eq!(decode(&[1, 2, 3]), None);
        assert_eq!(decode(&[]), None);
        for e in every_kind_of_entry() {
            let bytes = encode(&e);
            // Every truncation, and a byte too many.
            for n in 0..bytes.len() {
                assert_eq!(decode(&bytes[..n]), None, "{n} of {} bytes", bytes.len());
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(decode(&longer), None);
        }
        let bytes = encode(&every_kind_of_entry().pop().unwrap());
        // The answer: 4 bytes, the path kind, then five ids, each after its length.
        let answer_at = bytes.len() - (4 + 1 + 5 + "dl1p2m3c1566admin".len());
        // A flag, a level, a reason or a path kind out of range, and an id that does not validate.
        for (offset, value) in [(0, 2), (1, 3), (2, 9), (3, 13), (4, 4)] {
            let mut bad = bytes.clone();
            bad[answer_at + offset] = value;
            assert_eq!(decode(&bad), None, "byte {offset} of the answer set to {value}");
        }
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] = b'/';
        assert_eq!(decode(&bad), None, "a role name with a slash");
    }

    #[test]
    fn a_protobuf_entry_of_the_previous_layout_is_a_miss() {
        // What a `d2:` entry held after its deps: a CheckAccessResponse (allowed, reason_code).
        let mut bytes = Revision::new(42).value().to_be_bytes().to_vec();
        bytes.extend_from_slice(&i64::MAX.to_be_bytes());
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&[0x08, 0x01, 0x22, 0x07]);
        bytes.extend_from_slice(b"allowed");
        assert_eq!(decode(&bytes), None);
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
