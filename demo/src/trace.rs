//! W3C trace context: each request's trace id, taken from its `traceparent` header or made fresh,
//! kept in a task-local while the request is handled (for the exemplars of `/metrics`) and sent
//! back in [`TRACE_ID_HEADER`].

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The response header carrying the request's trace id, so a client can find its request's
/// exemplar (and its trace).
pub const TRACE_ID_HEADER: &str = "x-trace-id";

tokio::task_local! {
    static TRACE_ID: String;
}

/// The exemplar source of the metrics runtime: the trace id of the request being handled.
pub(crate) fn current_trace_id() -> Option<String> {
    TRACE_ID.try_with(String::clone).ok()
}

/// Middleware: handles the request with its trace id in [`TRACE_ID`], and echoes the id.
pub(crate) async fn propagate(request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_traceparent)
        .map(str::to_owned);
    // Without randomness the request is still served, without a trace id.
    let Some(trace_id) = given.or_else(|| random_hex(16).ok()) else {
        return next.run(request).await;
    };
    let echo = HeaderValue::from_str(&trace_id);
    let mut response = TRACE_ID.scope(trace_id, next.run(request)).await;
    if let Ok(echo) = echo {
        response.headers_mut().insert(TRACE_ID_HEADER, echo);
    }
    response
}

/// The trace id of a valid `traceparent` (`00-<32 hex trace id>-<16 hex parent id>-<2 hex
/// flags>`, lowercase), or `None`: then the request gets a fresh one, as the spec asks.
pub(crate) fn parse_traceparent(header: &str) -> Option<&str> {
    let mut fields = header.trim().split('-');
    let version = fields.next()?;
    let trace_id = fields.next()?;
    let parent_id = fields.next()?;
    let flags = fields.next()?;
    // Version 00 has exactly four fields; later versions may append some.
    let valid = is_hex(version, 2)
        && version != "ff"
        && (version != "00" || fields.next().is_none())
        && is_hex(trace_id, 32)
        && is_hex(parent_id, 16)
        && is_hex(flags, 2)
        && !is_zero(trace_id)
        && !is_zero(parent_id);
    valid.then_some(trace_id)
}

fn is_hex(field: &str, length: usize) -> bool {
    field.len() == length
        && field
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_zero(field: &str) -> bool {
    field.bytes().all(|b| b == b'0')
}

/// `bytes` random bytes as lowercase hex digits.
pub(crate) fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut random = vec![0u8; bytes];
    getrandom::fill(&mut random)?;
    Ok(random.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    #[test]
    fn valid_traceparents_give_their_trace_id() {
        for header in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
            // A later version, with a field version 00 does not know.
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(parse_traceparent(header), Some(KNOWN), "{header:?}");
        }
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        for header in [
            // Uppercase hex.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // Wrong lengths.
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47360-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // All-zero ids.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // The forbidden version, and version 00 with a fifth field.
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            // Garbage.
            "",
            "-",
            "---",
            "00",
            "00-4bf92f3577b34da6a3ce929d0e0e4736",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\u{e9}",
            "\u{e9}\u{e9}-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert_eq!(parse_traceparent(header), None, "{header:?}");
        }
    }

    #[test]
    fn fresh_trace_ids_are_valid_and_differ() {
        let (first, second) = (random_hex(16).unwrap(), random_hex(16).unwrap());
        assert_ne!(first, second);
        let traceparent = format!("00-{first}-00f067aa0ba902b7-01");
        assert_eq!(parse_traceparent(&traceparent), Some(first.as_str()));
    }

    #[tokio::test]
    async fn the_trace_id_is_current_only_inside_its_request() {
        assert_eq!(current_trace_id(), None);
        let inside = TRACE_ID.scope(KNOWN.to_owned(), async { current_trace_id() });
        assert_eq!(inside.await.as_deref(), Some(KNOWN));
        assert_eq!(current_trace_id(), None);
    }
}
