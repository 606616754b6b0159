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
