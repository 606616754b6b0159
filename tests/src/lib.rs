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

/// The protobuf exposition as an independent decoder reads it: `tests/proto/decode.py`, the
/// published `metrics.proto` compiled by `protoc` for Python's `protobuf` package.
pub mod protobuf {
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Every field set, by path: `family[0].metric[1].histogram.schema` → `3`.
    pub struct Decoded(pub BTreeMap<String, String>);

    /// Debian's interpreter, which `python3-protobuf` installs for; `DECODER_PYTHON` to use
    /// another.
    fn python() -> String {
        std::env::var("DECODER_PYTHON").unwrap_or_else(|_| {
            if std::path::Path::new("/usr/bin/python3").exists() {
                "/usr/bin/python3".to_owned()
            } else {
                "python3".to_owned()
            }
        })
    }

    impl Decoded {
        /// Decodes `bytes`; panics, saying what to install, if the decoder cannot run.
        pub fn of(bytes: &[u8]) -> Decoded {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/proto/decode.py");
            let mut child = Command::new(python())
                .arg(script)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect(
                    "python3 runs (apt-get install python3 python3-protobuf protobuf-compiler)",
                );
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(bytes)
                .expect("the decoder reads the exposition");
            let output = child.wait_with_output().expect("the decoder ends");
            assert!(
                output.status.success(),
                "the decoder failed (needs python3-protobuf and protobuf-compiler): {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let fields = String::from_utf8(output.stdout)
                .expect("UTF-8")
                .lines()
                .map(|line| {
                    let (path, value) = line.split_once(" = ").expect("`path = value`");
                    (path.to_owned(), value.to_owned())
                })
                .collect();
            Decoded(fields)
        }

        /// The value at `path`, as the decoder printed it (strings in quotes).
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

        /// The string at `path`, without its quotes; panics if there is none.
        pub fn string(&self, path: &str) -> String {
            let value = self.get(path).unwrap_or_else(|| panic!("no field {path}"));
            value.trim_matches('\'').to_owned()
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
}
