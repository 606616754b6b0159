//! The expositions, one file a format (as client_rust's `encoding/`): `text`, `openmetrics`
//! and `protobuf` (feature `native-histograms`) write the handler families and the registry's
//! others; `families` names the handler families and gives their values in the prometheus
//! crate's model; `format` chooses a format from a scrape's `Accept` header.

pub(crate) mod families;
pub(crate) mod format;
pub(crate) mod openmetrics;
#[cfg(feature = "native-histograms")]
pub(crate) mod protobuf;
pub(crate) mod text;

use std::collections::HashSet;

use prometheus::proto::MetricFamily;

use crate::series::{Series, Snapshot};
use format::Format;

/// The handler families as the runtime writes them itself, next to the registry's others.
pub(crate) struct Handlers<'a> {
    pub(crate) families: &'a families::Families,
    #[cfg(feature = "native-histograms")]
    pub(crate) bounds_seconds: &'a [f64],
    /// The bounds as the text format writes them in `le`.
    pub(crate) bounds_le: &'a [String],
    /// The names the handler families take in OpenMetrics: theirs and their samples'.
    pub(crate) openmetrics_names: &'a [String],
    pub(crate) snapshots: Vec<(&'static Series, Snapshot)>,
}

/// The exposition in `format` of the registry's families `others` and, when the runtime
/// writes them itself, of `ours`. `gathered_as_ours` tells a family the registry gathered from
/// the runtime's own collector.
pub(crate) fn render(
    format: Format,
    others: &[MetricFamily],
    ours: Option<Handlers<'_>>,
    gathered_as_ours: impl Fn(&MetricFamily) -> bool,
) -> Vec<u8> {
    #[cfg(feature = "native-histograms")]
    if format == Format::Protobuf {
        let mut exposition = Vec::new();
        protobuf::write_families(&mut exposition, others);
        if let Some(ours) = &ours {
            protobuf::write_handler_families(
                &mut exposition,
                ours.families,
                ours.bounds_seconds,
                &ours.snapshots,
            );
        }
        return exposition;
    }
    let mut exposition = String::new();
    match format {
        Format::OpenMetrics => {
            // The handler families keep their names: a family of the server's that
            // collides with them is the one left out.
            let mut taken = HashSet::new();
            if let Some(ours) = &ours {
                taken.extend(ours.openmetrics_names.iter().cloned());
            }
            openmetrics::write_families(&mut exposition, others, &mut taken, gathered_as_ours);
        }
        _ => {
            let encoded = prometheus::TextEncoder::new().encode_utf8(others, &mut exposition);
            if let Err(error) = encoded {
                // A comment keeps the scrape parseable and makes the failure visible in it.
                exposition.push_str(&format!("# metrics_runtime: encoding failed: {error}\n"));
            }
        }
    }
    if let Some(ours) = &ours {
        let write = match format {
            Format::OpenMetrics => openmetrics::write_handler_families,
            _ => text::write_handler_families,
        };
        write(
            &mut exposition,
            ours.families,
            ours.bounds_le,
            &ours.snapshots,
        );
    }
    if format == Format::OpenMetrics {
        exposition.push_str("# EOF\n");
    }
    exposition.into_bytes()
}
