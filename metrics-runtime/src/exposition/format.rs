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
    /// The protobuf exposition (length-delimited `io.prometheus.client.MetricFamily`
    /// messages), which a Prometheus with `--enable-feature=native-histograms` prefers: the
    /// latency histograms carry their native buckets (see
    /// [`Config::native_histograms`](crate::Config::native_histograms)) next to the classic
    /// ones, and the exemplars. Binary: render it with [`gather_bytes`](crate::gather_bytes).
    #[cfg(feature = "native-histograms")]
    Protobuf,
}

/// The `Content-Type` of the protobuf exposition.
#[cfg(feature = "native-histograms")]
const PROTOBUF: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

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
            #[cfg(feature = "native-histograms")]
            Format::Protobuf => PROTOBUF,
        }
    }
}

/// The format a media range asks for and its quality, if we can answer it.
fn media_range(range: &str) -> Option<(Format, f32)> {
    let mut parts = range.split(';').map(str::trim);
    let media_type = parts.next()?.to_ascii_lowercase();
    let mut version = None;
    let mut proto = None;
    let mut encoding = None;
    let mut quality = 1.0;
    for parameter in parts {
        let (name, value) = parameter.split_once('=')?;
        let value = value.trim().trim_matches('"');
        match name.trim().to_ascii_lowercase().as_str() {
            "version" => version = Some(value.to_owned()),
            "proto" => proto = Some(value.to_owned()),
            "encoding" => encoding = Some(value.to_ascii_lowercase()),
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
        #[cfg(feature = "native-histograms")]
        ("application/vnd.google.protobuf", _)
            if proto.as_deref() == Some("io.prometheus.client.MetricFamily")
                && encoding.as_deref() == Some("delimited") =>
        {
            Format::Protobuf
        }
        _ => return None,
    };
    // Without the feature no media type names these parameters' values.
    let _ = (proto, encoding);
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

    #[cfg(feature = "native-histograms")]
    #[test]
    fn prometheus_with_native_histograms_gets_protobuf() {
        let prometheus_2_42_native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(
            Format::negotiate(Some(prometheus_2_42_native)),
            Format::Protobuf
        );
        assert_eq!(
            Format::Protobuf.content_type(),
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
        );
        // Another message or the text encoding of protobuf: not ours to answer.
        for accept in [
            "application/vnd.google.protobuf;proto=other.Message;encoding=delimited",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
            "application/vnd.google.protobuf",
        ] {
            assert_eq!(Format::negotiate(Some(accept)), Format::Text, "{accept}");
        }
    }

    #[cfg(not(feature = "native-histograms"))]
    #[test]
    fn without_the_feature_protobuf_is_never_chosen() {
        let prometheus_2_42_native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(
            Format::negotiate(Some(prometheus_2_42_native)),
            Format::OpenMetrics
        );
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
