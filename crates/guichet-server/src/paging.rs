//! Page sizes and opaque page tokens.
//!
//! A token is `base64url("v1:" + sort key)`; anything else is refused with a field violation on
//! `page_token`, so a client that mangles one gets a clear error rather than a wrong page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guichet_store::PageRequest;

use crate::error::ServerError;

/// The page size used when the request says 0.
pub(crate) const DEFAULT_PAGE_SIZE: u64 = 50;
/// The largest page size accepted.
pub(crate) const MAX_PAGE_SIZE: i32 = 1000;

/// Reads `page_size` and `page_token`.
pub(crate) fn page_request(page_size: i32, page_token: &str) -> Result<PageRequest, ServerError> {
    let mut violations = Vec::new();
    let limit = match page_size {
        0 => DEFAULT_PAGE_SIZE,
        n if (1..=MAX_PAGE_SIZE).contains(&n) => u64::try_from(n).unwrap_or(DEFAULT_PAGE_SIZE),
        _ => {
            violations.push(guichet_domain::FieldViolation::new(
                "page_size",
                format!("must be between 0 and {MAX_PAGE_SIZE} (0 means the default, {DEFAULT_PAGE_SIZE})"),
            ));
            DEFAULT_PAGE_SIZE
        }
    };
    let after = if page_token.is_empty() {
        None
    } else {
        match decode(page_token) {
            Some(a) => Some(a),
            None => {
                violations.push(guichet_domain::FieldViolation::new(
                    "page_token",
                    "not a page token returned by guichet: pass next_page_token unchanged, or leave it empty for the first page",
                ));
                None
            }
        }
    };
    if violations.is_empty() { Ok(PageRequest { after, limit }) } else { Err(ServerError::InvalidArgument(violations)) }
}

fn decode(token: &str) -> Option<String> {
    if token.len() > 512 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let key = text.strip_prefix("v1:")?;
    (!key.is_empty()).then(|| key.to_owned())
}

/// The token for the next page, empty when there is none.
pub(crate) fn next_token(next_after: Option<&str>) -> String {
    next_after.map(|a| URL_SAFE_NO_PAD.encode(format!("v1:{a}"))).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let t = next_token(Some("acc_1"));
        assert_eq!(page_request(10, &t).unwrap(), PageRequest { after: Some("acc_1".into()), limit: 10 });
        assert_eq!(next_token(None), "");
        for bad in ["%%%", "djI6eA", "not-a-token"] {
            let ServerError::InvalidArgument(v) = page_request(0, bad).unwrap_err() else { panic!() };
            assert_eq!(v[0].field, "page_token");
        }
        let ServerError::InvalidArgument(v) = page_request(1001, "").unwrap_err() else { panic!() };
        assert_eq!(v[0].field, "page_size");
        assert_eq!(page_request(0, "").unwrap().limit, 50);
    }
}
