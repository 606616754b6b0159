//! The two exposition formats `/metrics` can answer in, and choosing one from a request's
//! `Accept` header.

/// The `Content-Type` of [`gather`](crate::gather)'s output: Prometheus text exposition
/// format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An exposition format: the Prometheus text format, or OpenMetrics, which carries exemplars.
///
/// ```
/// use metrics_runtime::Format;
///
/// // What Prometheus 2.x sends when it scrapes.
/// let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
///               version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// let format = Format::negotiate(Some(accept));
/// assert_eq!(format, Format::OpenMetrics);
/// assert_eq!(format.content_type(), "application/openmetrics-text; version=1.0.0; charset=utf-8");
///
/// // A browser, curl, or no header at all: the text format.
/// assert_eq!(Format::negotiate(Some("text/html,*/*;q=0.8")), Format::Text);
/// assert_eq!(Format::negotiate(None), Format::Text);
/// let body = metrics_runtime::gather_as(format);
/// assert!(body.ends_with("# EOF\n"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Format {
    /// The text exposition format 0.0.4: what [`gather`](crate::gather) returns.
    #[default]
    Text,
    /// OpenMetrics 1.0.0, with exemplars on the latency buckets and the error counters.
    OpenMetrics,
}

impl Format {
    /// The format to answer a request with, from its `Accept` header: the acceptable format
    /// with the highest `q` (the first listed among equals); `Text` for anything unknown,
    /// malformed or absent.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut best: Option<(f32, Format)> = None;
        for range in accept.split(',') {
            let Some((format, quality)) = media_range(range) else {
                continue;
            };
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, format));
            }
        }
        best.map_or(Format::Text, |(_, format)| format)
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The format a media range asks for and its quality, if we can answer it.
fn media_range(range: &str) -> Option<(Format, f32)> {
    let mut parts = range.split(';').map(str::trim);
    let media_type = parts.next()?.to_ascii_lowercase();
    let mut version = None;
    let mut quality = 1.0;
    for parameter in parts {
        let (name, value) = parameter.split_once('=')?;
        let value = value.trim().trim_matches('"');
        match name.trim().to_ascii_lowercase().as_str() {
            "version" => version = Some(value.to_owned()),
            "q" => {
                quality = value
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))?
            }
            _ => {}
        }
    }
    let format = match (media_type.as_str(), version.as_deref()) {
        // 0.0.1 is OpenMetrics' pre-release version, which 1.0.0 parsers read too.
        ("application/openmetrics-text", None | Some("1.0.0" | "0.0.1")) => Format::OpenMetrics,
        ("text/plain", None | Some("0.0.4")) | ("*/*" | "text/*", _) => Format::Text,
        _ => return None,
    };
    Some((format, quality))
}

#[cfg(test)]
mod tests {
    use super::{CONTENT_TYPE, Format};

    #[test]
    fn prometheus_gets_openmetrics() {
        let prometheus_2_42 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(
            Format::negotiate(Some(prometheus_2_42)),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; version=0.0.1")),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some("Application/OpenMetrics-Text")),
            Format::OpenMetrics
        );
    }

    #[test]
    fn quality_decides() {
        let prefers_text =
            "application/openmetrics-text;version=1.0.0;q=0.2,text/plain;version=0.0.4;q=0.9";
        assert_eq!(Format::negotiate(Some(prefers_text)), Format::Text);
        let refuses_text = "text/plain;q=0,application/openmetrics-text;q=0.1";
        assert_eq!(Format::negotiate(Some(refuses_text)), Format::OpenMetrics);
    }

    #[test]
    fn browsers_curl_and_garbage_get_text() {
        for accept in [
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "*/*",
            "",
            "garbage",
            ";;;,,=",
            "application/openmetrics-text;version=2.0.0",
            "application/openmetrics-text;q=banana",
            "application/json",
        ] {
            assert_eq!(Format::negotiate(Some(accept)), Format::Text, "{accept:?}");
        }
        assert_eq!(Format::negotiate(None), Format::Text);
    }

    #[test]
    fn content_types() {
        assert_eq!(Format::Text.content_type(), CONTENT_TYPE);
        assert_eq!(
            Format::OpenMetrics.content_type(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
    }
}
