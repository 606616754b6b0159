//! The exposition parser the tests read metrics back with: they parse `gather()` (or a server's
//! `/metrics`) and assert exact values.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One parsed scrape of the text exposition format.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Gathers the runtime's registry and parses it; panics with the offending line if it does
    /// not parse.
    pub fn take() -> Scrape {
        Scrape::parse(&metrics_runtime::gather()).unwrap_or_else(|error| panic!("{error}"))
    }

    pub fn parse(text: &str) -> Result<Scrape, String> {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            samples.push(parse_sample(line).ok_or_else(|| format!("unparseable line: {line:?}"))?);
        }
        Ok(Scrape { samples })
    }

    /// The value of the one series `name{handler="..."}` (without an `le` label), if present.
    pub fn find(&self, name: &str, handler: &str) -> Option<f64> {
        let mut matching = self.samples.iter().filter(|s| {
            s.name == name
                && s.labels.get("handler").map(String::as_str) == Some(handler)
                && !s.labels.contains_key("le")
        });
        let found = matching.next()?;
        assert!(
            matching.next().is_none(),
            "more than one series {name}{{handler={handler:?}}}"
        );
        Some(found.value)
    }

    /// Like `find`, but a series that does not exist yet reads as 0.
    pub fn get(&self, name: &str, handler: &str) -> f64 {
        self.find(name, handler).unwrap_or(0.0)
    }

    /// The cumulative count of bucket `le` of a histogram series.
    pub fn bucket(&self, name: &str, handler: &str, le: &str) -> f64 {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.get("handler").map(String::as_str) == Some(handler)
                    && s.labels.get("le").map(String::as_str) == Some(le)
            })
            .map_or(0.0, |s| s.value)
    }

    /// The labels of the one `name{handler=...}` series.
    pub fn labels(&self, name: &str, handler: &str) -> BTreeMap<String, String> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name && s.labels.get("handler").map(String::as_str) == Some(handler)
            })
            .unwrap_or_else(|| panic!("no series {name}{{handler={handler:?}}}"))
            .labels
            .clone()
    }

    /// The answers `<namespace>_edge_responses_total` counted for `route`, `method` and `code`
    /// (0 before the first).
    pub fn edge_responses(&self, namespace: &str, route: &str, method: &str, code: &str) -> f64 {
        let name = format!("{namespace}_edge_responses_total");
        let is = |sample: &Sample, label: &str, value: &str| {
            sample.labels.get(label).map(String::as_str) == Some(value)
        };
        self.samples
            .iter()
            .filter(|sample| sample.name == name && is(sample, "route", route))
            .filter(|sample| is(sample, "method", method) && is(sample, "code", code))
            .map(|sample| sample.value)
            .sum()
    }

    /// The four handler families of one handler (default namespace), for before/after checks.
    pub fn handler(&self, handler: &str) -> HandlerValues {
        self.handler_in("handler", handler)
    }

    pub fn handler_in(&self, namespace: &str, handler: &str) -> HandlerValues {
        HandlerValues {
            requests: self.get(&format!("{namespace}_requests_total"), handler),
            errors: self.get(&format!("{namespace}_request_errors_total"), handler),
            in_flight: self.get(&format!("{namespace}_requests_in_flight"), handler),
            latency_count: self.get(
                &format!("{namespace}_request_latency_seconds_count"),
                handler,
            ),
            latency_sum: self.get(&format!("{namespace}_request_latency_seconds_sum"), handler),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HandlerValues {
    pub requests: f64,
    pub errors: f64,
    pub in_flight: f64,
    pub latency_count: f64,
    pub latency_sum: f64,
}

impl HandlerValues {
    pub fn of(handler: &str) -> HandlerValues {
        Scrape::take().handler(handler)
    }

    /// The change from `before` to these values (the in-flight gauge as it is now).
    pub fn since(&self, before: &HandlerValues) -> HandlerValues {
        HandlerValues {
            requests: self.requests - before.requests,
            errors: self.errors - before.errors,
            in_flight: self.in_flight,
            latency_count: self.latency_count - before.latency_count,
            latency_sum: self.latency_sum - before.latency_sum,
        }
    }
}

/// An exemplar after a sample: `# {trace_id="…"} value timestamp`.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub timestamp: Option<f64>,
}

/// One parsed OpenMetrics exposition, checked strictly: every family declared once by
/// `# TYPE` before its samples, every sample named for its family and type, `# EOF` last.
#[derive(Debug, Clone)]
pub struct OpenMetrics {
    /// The samples, as the text format's parser gives them (exemplars left out).
    pub scrape: Scrape,
    /// `(family name, type)` in order.
    pub families: Vec<(String, String)>,
    /// Each exemplar with the sample it follows.
    pub exemplars: Vec<(Sample, Exemplar)>,
}

impl OpenMetrics {
    pub fn parse(text: &str) -> Result<OpenMetrics, String> {
        let body = text
            .strip_suffix("# EOF\n")
            .ok_or("the exposition does not end with `# EOF`")?;
        let mut families: Vec<(String, String)> = Vec::new();
        let mut samples = Vec::new();
        let mut exemplars = Vec::new();
        for line in body.lines() {
            let bad = |why: &str| format!("{why}: {line:?}");
            if let Some(comment) = line.strip_prefix("# ") {
                let mut words = comment.splitn(3, ' ');
                let (keyword, name) = (words.next(), words.next().ok_or_else(|| bad("no name"))?);
                match keyword {
                    Some("TYPE") => {
                        let kind = words.next().ok_or_else(|| bad("no type"))?;
                        let known = [
                            "counter",
                            "gauge",
                            "histogram",
                            "gaugehistogram",
                            "summary",
                            "info",
                            "stateset",
                            "unknown",
                        ];
                        if !known.contains(&kind) {
                            return Err(bad("unknown type"));
                        }
                        if families.iter().any(|(family, _)| family == name) {
                            return Err(bad("family declared twice"));
                        }
                        // A family takes its name and its samples' names: another family
                        // named like one of them clashes (`foo` counter, `foo_created` gauge).
                        for taken in family_names(name, kind) {
                            let clashes = families.iter().any(|(family, kind)| {
                                family_names(family, kind).any(|name| name == taken)
                            });
                            if clashes {
                                return Err(bad("name clash with an earlier family"));
                            }
                        }
                        families.push((name.to_owned(), kind.to_owned()));
                    }
                    Some("HELP" | "UNIT") => {
                        let declared = families.iter().any(|(family, _)| family == name);
                        if declared {
                            return Err(bad("HELP or UNIT after the family's TYPE"));
                        }
                    }
                    _ => return Err(bad("unknown comment")),
                }
                continue;
            }
            let (sample_text, exemplar_text) = match line.split_once(" # ") {
                Some((sample, exemplar)) => (sample, Some(exemplar)),
                None => (line, None),
            };
            let sample = parse_sample(sample_text).ok_or_else(|| bad("unparseable sample"))?;
            let (family, kind) = families
                .last()
                .ok_or_else(|| bad("sample before any TYPE"))?;
            let suffixes: &[&str] = match kind.as_str() {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                "summary" => &["", "_sum", "_count", "_created"],
                _ => &[""],
            };
            let named_for_family = suffixes
                .iter()
                .any(|suffix| sample.name.strip_suffix(suffix) == Some(family.as_str()));
            if !named_for_family {
                return Err(bad("sample not named for its family"));
            }
            if let Some(exemplar) = exemplar_text {
                let parsed = parse_sample(&format!("x{exemplar}"))
                    .ok_or_else(|| bad("unparseable exemplar"))?;
                let fields: Vec<&str> = exemplar
                    .rsplit('}')
                    .next()
                    .unwrap_or("")
                    .split(' ')
                    .collect();
                let timestamp = match fields.as_slice() {
                    ["", _value] => None,
                    ["", _value, timestamp] => Some(
                        timestamp
                            .parse()
                            .map_err(|_| bad("bad exemplar timestamp"))?,
                    ),
                    _ => return Err(bad("bad exemplar")),
                };
                let characters: usize = parsed
                    .labels
                    .iter()
                    .map(|(name, value)| name.chars().count() + value.chars().count())
                    .sum();
                if characters > 128 {
                    return Err(bad("exemplar labels over 128 characters"));
                }
                exemplars.push((
                    sample.clone(),
                    Exemplar {
                        labels: parsed.labels,
                        value: parsed.value,
                        timestamp,
                    },
                ));
            }
            samples.push(sample);
        }
        Ok(OpenMetrics {
            scrape: Scrape { samples },
            families,
            exemplars,
        })
    }
}

/// The names an OpenMetrics family of `kind` takes: its own and its samples'.
fn family_names<'a>(family: &'a str, kind: &str) -> impl Iterator<Item = String> + 'a {
    let suffixes: &[&str] = match kind {
        "counter" => &["", "_total", "_created"],
        "histogram" => &["", "_bucket", "_count", "_sum", "_created"],
        "gaugehistogram" => &["", "_bucket", "_gcount", "_gsum"],
        "summary" => &["", "_count", "_sum", "_created"],
        "info" => &["", "_info"],
        _ => &[""],
    };
    suffixes
        .iter()
        .map(move |suffix| format!("{family}{suffix}"))
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = after_brace;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=')?;
            let label = rest[..eq].to_owned();
            rest = rest[eq + 1..].strip_prefix('"')?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                let (index, c) = chars.next()?;
                match c {
                    '"' => break index,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        escaped @ ('\\' | '"') => value.push(escaped),
                        _ => return None,
                    },
                    c => value.push(c),
                }
            };
            rest = &rest[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
            if labels.insert(label, value).is_some() {
                return None;
            }
        }
    }
    let value_text = rest.strip_prefix(' ')?.split(' ').next()?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        number => number.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

#[test]
fn openmetrics_families_whose_names_clash_are_rejected() {
    let counter = "# TYPE a counter\na_total 1\n";
    for (clashing, why) in [
        ("# TYPE a gauge\na 1\n", "family declared twice"),
        ("# TYPE a_created gauge\na_created 1\n", "name clash"),
        ("# TYPE a_total gauge\na_total 1\n", "name clash"),
    ] {
        let error = OpenMetrics::parse(&format!("{counter}{clashing}# EOF\n")).unwrap_err();
        assert!(error.starts_with(why), "{error}");
    }
    let histogram = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n";
    for suffix in ["_bucket", "_count", "_sum", "_created"] {
        let clashing = format!("# TYPE h{suffix} gauge\nh{suffix} 1\n");
        assert!(OpenMetrics::parse(&format!("{histogram}{clashing}# EOF\n")).is_err());
        // The same gauge after a family it does not clash with.
        assert!(OpenMetrics::parse(&format!("{counter}{clashing}# EOF\n")).is_ok());
    }
}

#[test]
fn parses_labels_escapes_and_special_values() {
    let scrape = Scrape::parse(
        "# HELP x y\nx_total{handler=\"a\\\"b\\\\c\\nd\",module=\"m\"} 3\nup 1\nh_bucket{le=\"+Inf\"} +Inf\n",
    )
    .unwrap();
    assert_eq!(scrape.samples.len(), 3);
    assert_eq!(scrape.samples[0].labels["handler"], "a\"b\\c\nd");
    assert_eq!(scrape.samples[0].value, 3.0);
    assert_eq!(scrape.samples[1].name, "up");
    assert!(scrape.samples[2].value.is_infinite());
    assert!(Scrape::parse("x{a=\"1\"\n").is_err());
    assert!(Scrape::parse("x 1.0.0\n").is_err());
    assert!(Scrape::parse("x{a=\"1\",a=\"2\"} 1\n").is_err());
}

/// Runs `scrape` while `threads` threads call `call` without pause, the `n`th call of thread
/// `t` with `n * 7 + t` (spread values, different on each thread); returns the calls of all
/// threads together and what `scrape` returned.
pub fn while_threads_call<T>(
    threads: u64,
    call: impl Fn(u64) + Sync,
    scrape: impl FnOnce() -> T,
) -> (u64, T) {
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let (stop, call) = (&stop, &call);
                scope.spawn(move || {
                    let mut calls = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        call(calls * 7 + thread);
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        let scraped = scrape();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let calls = workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .sum();
        (calls, scraped)
    })
}

/// Prometheus's tools, at the paths the package's build script found (`tests/find_tools.rs`,
/// which the demo's build script runs too). A test that runs one says so on itself, and is
/// ignored with that reason where the tool is missing (never under `CI`, where the build fails):
///
/// ```text
/// #[test]
/// #[cfg_attr(not(has_promtool), ignore = "needs promtool (Debian: apt-get install prometheus)")]
/// fn rules_pass() {
///     let output = handler_metrics_tests::promtool!().args(["check", "rules"]).output();
/// }
/// ```
pub mod tools {
    use std::process::Command;

    /// `tool` at `found`, the path the build script found (empty: none); panics if there is
    /// none, saying how to gate the test.
    #[track_caller]
    pub fn command(tool: &str, cfg: &str, found: &str) -> Command {
        assert!(
            !found.is_empty(),
            "{tool} was not found when this test was built (HANDLER_METRICS_{upper}, else PATH; \
             Debian: apt-get install prometheus); a test that runs it needs \
             #[cfg_attr(not({cfg}), ignore = \"needs {tool} (Debian: apt-get install prometheus)\")]",
            upper = tool.to_uppercase()
        );
        Command::new(found)
    }
}

/// `promtool`, as a `Command`, at the path the calling package's build script found.
#[macro_export]
macro_rules! promtool {
    () => {
        $crate::tools::command(
            "promtool",
            "has_promtool",
            env!("HANDLER_METRICS_PROMTOOL_FOUND"),
        )
    };
}

/// `prometheus`, as a `Command`, at the path the calling package's build script found.
#[macro_export]
macro_rules! prometheus {
    () => {
        $crate::tools::command(
            "prometheus",
            "has_prometheus",
            env!("HANDLER_METRICS_PROMETHEUS_FOUND"),
        )
    };
}

/// The protobuf exposition as an independent decoder reads it: rust-protobuf's dynamic
/// messages over the published `tests/proto/metrics.proto` (read by its pure-Rust parser), so
/// nothing of the runtime's own encoder is used.
pub mod protobuf {
    use std::collections::BTreeMap;
    use std::sync::OnceLock;

    use protobuf::CodedInputStream;
    use protobuf::MessageDyn;
    use protobuf::reflect::{FileDescriptor, MessageDescriptor, ReflectFieldRef, ReflectValueRef};

    /// Every field set, by path: `family[0].metric[1].histogram.schema` → `3`. Strings are
    /// kept as they are, enums by their names, numbers in Rust's notation (`inf` included).
    pub struct Decoded(pub BTreeMap<String, String>);

    /// `io.prometheus.client.MetricFamily`, from the `.proto` file, parsed once.
    fn metric_family() -> &'static MessageDescriptor {
        static DESCRIPTOR: OnceLock<MessageDescriptor> = OnceLock::new();
        DESCRIPTOR.get_or_init(|| {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");
            let parsed = protobuf_parse::Parser::new()
                .pure()
                .include(dir)
                .input(format!("{dir}/metrics.proto"))
                .parse_and_typecheck()
                .expect("tests/proto/metrics.proto parses");
            let files = FileDescriptor::new_dynamic_fds(parsed.file_descriptors, &[])
                .expect("tests/proto/metrics.proto and its imports resolve");
            files
                .iter()
                .find_map(|file| file.message_by_full_name(".io.prometheus.client.MetricFamily"))
                .expect("metrics.proto declares io.prometheus.client.MetricFamily")
        })
    }

    impl Decoded {
        /// Decodes `bytes`, a length-delimited stream of `MetricFamily` messages; panics if it
        /// does not decode, if a message carries a field the schema does not know (an unknown
        /// field number or enum value), or if a message is not written as the schema writes it
        /// (its size re-encoded differs: a field twice, a non-minimal varint).
        pub fn of(bytes: &[u8]) -> Decoded {
            Decoded::try_of(bytes).unwrap_or_else(|error| panic!("{error}"))
        }

        /// Like `of`, with the reason as an error.
        pub fn try_of(bytes: &[u8]) -> Result<Decoded, String> {
            let descriptor = metric_family();
            let mut input = CodedInputStream::from_bytes(bytes);
            let mut fields = BTreeMap::new();
            let mut index = 0;
            while !input.eof().map_err(|error| error.to_string())? {
                let what = format!("family[{index}]");
                let size = input
                    .read_raw_varint32()
                    .map_err(|error| format!("{what}: no length: {error}"))?;
                let message = input
                    .read_raw_bytes(size)
                    .map_err(|error| format!("{what}: the stream ends inside it: {error}"))?;
                let family = descriptor
                    .parse_from_bytes(&message)
                    .map_err(|error| format!("{what} does not decode: {error}"))?;
                flatten(&what, &*family, &mut fields)?;
                let written = family.compute_size_dyn();
                if written != u64::from(size) {
                    return Err(format!(
                        "{what}: {size} bytes, re-encoded {written}: not written as the schema \
                         writes it"
                    ));
                }
                index += 1;
            }
            Ok(Decoded(fields))
        }

        /// The value at `path`, as text.
        pub fn get(&self, path: &str) -> Option<&str> {
            self.0.get(path).map(String::as_str)
        }

        /// The number at `path`; panics if there is none.
        pub fn number(&self, path: &str) -> f64 {
            let value = self.get(path).unwrap_or_else(|| panic!("no field {path}"));
            value
                .parse()
                .unwrap_or_else(|_| panic!("{path} = {value} is no number"))
        }

        /// The string at `path`; panics if there is none.
        pub fn string(&self, path: &str) -> String {
            self.get(path)
                .unwrap_or_else(|| panic!("no field {path}"))
                .to_owned()
        }

        /// How many elements the repeated field `path` (without an index) has.
        pub fn len(&self, path: &str) -> usize {
            (0..)
                .take_while(|index| {
                    let prefix = format!("{path}[{index}]");
                    self.0
                        .range(prefix.clone()..)
                        .next()
                        .is_some_and(|(key, _)| key.starts_with(&prefix))
                })
                .count()
        }

        /// The index of the family named `name`.
        pub fn family(&self, name: &str) -> usize {
            (0..self.len("family"))
                .find(|index| self.string(&format!("family[{index}].name")) == name)
                .unwrap_or_else(|| panic!("no family {name}"))
        }

        /// The path of the series of family `name` whose first label (`handler`) is `handler`.
        pub fn series(&self, name: &str, handler: &str) -> String {
            let family = self.family(name);
            let metric = (0..self.len(&format!("family[{family}].metric")))
                .find(|metric| {
                    self.string(&format!("family[{family}].metric[{metric}].label[0].value"))
                        == handler
                })
                .unwrap_or_else(|| panic!("no series of {handler} in {name}"));
            format!("family[{family}].metric[{metric}]")
        }

        /// The native buckets of the histogram at `path`, as (index, count), from its spans
        /// and deltas.
        pub fn native_buckets(&self, path: &str) -> Vec<(i64, u64)> {
            let mut buckets = Vec::new();
            let mut index = 0i64;
            let mut count = 0i64;
            let mut delta = 0;
            for span in 0..self.len(&format!("{path}.positive_span")) {
                let span_path = format!("{path}.positive_span[{span}]");
                let offset = self
                    .get(&format!("{span_path}.offset"))
                    .map_or(0, |o| o.parse::<i64>().expect("sint32"));
                let length = self
                    .get(&format!("{span_path}.length"))
                    .map_or(0, |l| l.parse::<i64>().expect("uint32"));
                index += offset;
                for _ in 0..length {
                    count += self.number(&format!("{path}.positive_delta[{delta}]")) as i64;
                    delta += 1;
                    buckets.push((
                        index,
                        u64::try_from(count).expect("counts are never negative"),
                    ));
                    index += 1;
                }
            }
            assert_eq!(
                delta,
                self.len(&format!("{path}.positive_delta")),
                "a delta per bucket"
            );
            buckets
        }
    }

    /// Adds every field of `message` that is set, under `path`; fails on unknown fields.
    fn flatten(
        path: &str,
        message: &dyn MessageDyn,
        fields: &mut BTreeMap<String, String>,
    ) -> Result<(), String> {
        let unknown: Vec<u32> = message
            .unknown_fields_dyn()
            .iter()
            .map(|(number, _)| number)
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "{path}: fields this decoder does not know: {} numbers {unknown:?}",
                message.descriptor_dyn().full_name()
            ));
        }
        for field in message.descriptor_dyn().fields() {
            match field.get_reflect(message) {
                ReflectFieldRef::Optional(value) => {
                    if let Some(value) = value.value() {
                        add(&format!("{path}.{}", field.name()), value, fields)?;
                    }
                }
                ReflectFieldRef::Repeated(values) => {
                    for index in 0..values.len() {
                        let item = format!("{path}.{}[{index}]", field.name());
                        add(&item, values.get(index), fields)?;
                    }
                }
                ReflectFieldRef::Map(_) => return Err(format!("{path}: a map field")),
            }
        }
        Ok(())
    }

    fn add(
        path: &str,
        value: ReflectValueRef<'_>,
        fields: &mut BTreeMap<String, String>,
    ) -> Result<(), String> {
        let text = match value {
            ReflectValueRef::Message(message) => return flatten(path, &*message, fields),
            ReflectValueRef::Enum(descriptor, number) => descriptor
                .value_by_number(number)
                .ok_or_else(|| format!("{path} = {number}: not a {}", descriptor.full_name()))?
                .name()
                .to_owned(),
            ReflectValueRef::String(text) => text.to_owned(),
            ReflectValueRef::F64(number) => format!("{number:?}"),
            ReflectValueRef::F32(number) => format!("{number:?}"),
            ReflectValueRef::U32(number) => number.to_string(),
            ReflectValueRef::U64(number) => number.to_string(),
            ReflectValueRef::I32(number) => number.to_string(),
            ReflectValueRef::I64(number) => number.to_string(),
            ReflectValueRef::Bool(flag) => flag.to_string(),
            ReflectValueRef::Bytes(bytes) => format!("{bytes:?}"),
        };
        fields.insert(path.to_owned(), text);
        Ok(())
    }

    /// One length-delimited message.
    #[cfg(test)]
    fn delimited(message: &[u8]) -> Vec<u8> {
        let mut bytes = vec![u8::try_from(message.len()).unwrap()];
        bytes.extend_from_slice(message);
        bytes
    }

    #[test]
    fn decodes_the_fields_of_the_published_schema_and_rejects_anything_else() {
        // name = "x", type = HISTOGRAM, one metric with a gauge of 2.5.
        let mut gauge = vec![0x09];
        gauge.extend_from_slice(&2.5f64.to_le_bytes());
        let mut metric = vec![0x12, gauge.len() as u8];
        metric.extend_from_slice(&gauge);
        let mut family = vec![0x0a, 1, b'x', 0x18, 4, 0x22, metric.len() as u8];
        family.extend_from_slice(&metric);
        let decoded = Decoded::of(&delimited(&family));
        assert_eq!(decoded.string("family[0].name"), "x");
        assert_eq!(decoded.get("family[0].type"), Some("HISTOGRAM"));
        assert_eq!(decoded.number("family[0].metric[0].gauge.value"), 2.5);
        assert_eq!(decoded.0.len(), 3, "{:?}", decoded.0);

        let error = |bytes: &[u8]| Decoded::try_of(bytes).err().unwrap_or_default();
        // Field 99, on the family and inside a metric.
        let unknown = error(&delimited(&[0x0a, 1, b'x', 0x98, 0x06, 1]));
        assert!(
            unknown.contains("family[0]: fields this decoder does not know"),
            "{unknown}"
        );
        assert!(unknown.contains("[99]"), "{unknown}");
        let nested = error(&delimited(&[0x22, 3, 0x98, 0x06, 1]));
        assert!(
            nested.starts_with("family[0].metric[0]: fields this decoder"),
            "{nested}"
        );
        // A metric type the schema does not have.
        let kind = error(&delimited(&[0x18, 99]));
        assert!(kind.starts_with("family[0].type = 99: not a"), "{kind}");
        // The name twice: the last wins, and the message is longer than the schema writes it.
        let twice = error(&delimited(&[0x0a, 1, b'x', 0x0a, 1, b'y']));
        assert!(twice.contains("6 bytes, re-encoded 3"), "{twice}");
        // A length past the end of the stream.
        let cut = error(&[9, 0x0a, 1, b'x']);
        assert!(cut.contains("the stream ends inside it"), "{cut}");
        assert!(Decoded::try_of(&[]).is_ok_and(|decoded| decoded.0.is_empty()));
    }
}
