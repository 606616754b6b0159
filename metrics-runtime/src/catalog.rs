//! The link-time list of handlers: every `#[prometheus_metrics]` and `#[authenticated]` fn
//! registers itself before `main`, so the first scrape can show every series at 0 and a test can
//! find handlers that were never instrumented.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::error::ConfigError;
use crate::objective::Objective;
use crate::site::CallSite;

/// One fn carrying our attributes, as the macros register it. Not public API.
#[doc(hidden)]
pub struct Registration {
    site: Option<&'static CallSite>,
    name: &'static str,
    module: &'static str,
    file: &'static str,
    line: u32,
    authenticated: bool,
    skipped: bool,
    objective: Option<&'static Objective>,
}

impl Registration {
    /// `site` is the call site of an instrumented fn, `None` for one without metrics.
    pub const fn new(
        site: Option<&'static CallSite>,
        name: &'static str,
        module: &'static str,
        file: &'static str,
        line: u32,
        authenticated: bool,
        skipped: bool,
    ) -> Self {
        Registration {
            site,
            name,
            module,
            file,
            line,
            authenticated,
            skipped,
            objective: None,
        }
    }

    /// The objective the fn serves (`#[prometheus_metrics(objective = PATH)]`).
    pub const fn objective(mut self, objective: &'static Objective) -> Self {
        self.objective = Some(objective);
        self
    }
}

inventory::collect!(Registration);

/// Whether a handler is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Measured {
    /// It carries `#[prometheus_metrics]`.
    Yes,
    /// It carries `#[prometheus_metrics(skip)]`: deliberately not measured.
    Skipped,
    /// It carries `#[authenticated]` only.
    No,
}

/// A handler found at link time: see [`handlers`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandlerInfo {
    /// The `handler` label of its series. `None` when it is not measured, and for a method whose
    /// label derives from `Self` until its first call (Rust cannot name `Self` at link time; give
    /// `#[prometheus_metrics(handler = "…")]` to know it from the start).
    pub label: Option<String>,
    /// The fn's name.
    pub name: &'static str,
    /// `module_path!()` of the fn: its `module` label.
    pub module: &'static str,
    /// Source file of the fn.
    pub file: &'static str,
    /// Line of the fn's name in `file`.
    pub line: u32,
    /// Whether `#[authenticated]` guards it.
    pub authenticated: bool,
    /// Whether it is measured.
    pub measured: Measured,
    /// Whether another fn in the list has the same `handler` and `module` labels: their calls
    /// add up in one series. Give one of them `#[prometheus_metrics(handler = "…")]` to tell
    /// them apart.
    pub shares_series: bool,
    /// The service-level objective it serves, if any.
    pub objective: Option<&'static Objective>,
}

/// Every fn in the program that carries `#[prometheus_metrics]` or `#[authenticated]`, sorted by
/// module, file and line.
///
/// ```
/// use metrics_runtime::{Measured, handlers, prometheus_metrics};
///
/// #[prometheus_metrics]
/// fn list_rses() {}
///
/// let found = handlers();
/// let rses = found.iter().find(|h| h.name == "list_rses").unwrap();
/// assert_eq!(rses.label.as_deref(), Some("list_rses"));
/// assert_eq!(rses.measured, Measured::Yes);
/// assert!(!rses.authenticated);
/// ```
pub fn handlers() -> Vec<HandlerInfo> {
    let mut found: Vec<HandlerInfo> = inventory::iter::<Registration>
        .into_iter()
        .map(|registration| HandlerInfo {
            label: registration.site.and_then(CallSite::label),
            name: registration.name,
            module: registration.module,
            file: registration.file,
            line: registration.line,
            authenticated: registration.authenticated,
            measured: match (registration.site, registration.skipped) {
                (Some(_), _) => Measured::Yes,
                (None, true) => Measured::Skipped,
                (None, false) => Measured::No,
            },
            shares_series: false,
            objective: registration.objective,
        })
        .collect();
    let mut labelled: HashMap<(&str, &str), usize> = HashMap::new();
    for handler in &found {
        if let Some(label) = &handler.label {
            *labelled.entry((label, handler.module)).or_default() += 1;
        }
    }
    let shared: HashSet<(String, &str)> = labelled
        .into_iter()
        .filter(|&(_, fns)| fns > 1)
        .map(|((label, module), _)| (label.to_owned(), module))
        .collect();
    for handler in &mut found {
        handler.shares_series = handler
            .label
            .as_ref()
            .is_some_and(|label| shared.contains(&(label.clone(), handler.module)));
    }
    found.sort_by(|a, b| (a.module, a.file, a.line).cmp(&(b.module, b.file, b.line)));
    found
}

/// In debug builds, says once on standard error which fns share a series, so that a label
/// given twice by mistake does not go unnoticed.
pub(crate) fn warn_about_shared_series() {
    if !cfg!(debug_assertions) {
        return;
    }
    for handler in handlers().iter().filter(|handler| handler.shares_series) {
        eprintln!(
            "metrics_runtime: `{}` ({}:{}) shares the series handler={:?}, module={:?} with \
             another fn; give one of them #[prometheus_metrics(handler = \"…\")] if that is \
             not intended",
            handler.name,
            handler.file,
            handler.line,
            handler.label.as_deref().unwrap_or_default(),
            handler.module,
        );
    }
}

/// The handlers that carry `#[authenticated]` but neither `#[prometheus_metrics]` nor
/// `#[prometheus_metrics(skip)]`: put `assert!(handlers_without_metrics().is_empty())` in a test
/// so that a handler nobody decided about fails it instead of going unmeasured.
///
/// ```
/// use metrics_runtime::{Authenticate, authenticated, handlers_without_metrics, prometheus_metrics};
///
/// struct Token;
/// impl Authenticate for Token {
///     type Rejection = ();
///     fn authenticate(&self) -> Result<(), ()> { Ok(()) }
/// }
///
/// #[authenticated]
/// #[prometheus_metrics(skip)] // decided: not worth measuring
/// fn oidc_auth_check(token: &Token) {}
///
/// #[authenticated]
/// fn forgotten(token: &Token) {}
///
/// let missing: Vec<_> = handlers_without_metrics().iter().map(|h| h.name).collect();
/// assert!(missing.contains(&"forgotten"));
/// assert!(!missing.contains(&"oidc_auth_check"));
/// ```
pub fn handlers_without_metrics() -> Vec<HandlerInfo> {
    handlers()
        .into_iter()
        .filter(|handler| handler.authenticated && handler.measured == Measured::No)
        .collect()
}

/// Creates the series of every instrumented fn whose labels are known, at 0.
pub(crate) fn create_known_series() {
    for registration in inventory::iter::<Registration> {
        if let Some(site) = registration.site {
            site.create_series_if_label_known();
        }
    }
}

/// An objective and the `handler` labels of the fns that serve it.
pub(crate) struct ObjectiveUse {
    pub(crate) objective: &'static Objective,
    pub(crate) handlers: Vec<String>,
}

/// Every objective in the program, by name, checked again (the macro checks each at compile
/// time, but two objectives may share a name only by being equal).
pub(crate) fn objectives() -> Result<Vec<ObjectiveUse>, ConfigError> {
    let mut by_name: BTreeMap<&str, (&'static Objective, BTreeSet<String>)> = BTreeMap::new();
    for registration in inventory::iter::<Registration> {
        let (Some(objective), Some(site)) = (registration.objective, registration.site) else {
            continue;
        };
        if let Some(problem) = objective.problem() {
            return Err(ConfigError::InvalidObjective {
                name: objective.name().to_owned(),
                reason: problem.message(),
            });
        }
        let (known, handlers) = by_name
            .entry(objective.name())
            .or_insert_with(|| (objective, BTreeSet::new()));
        if *known != objective {
            return Err(ConfigError::ObjectiveNameClash {
                name: objective.name().to_owned(),
            });
        }
        // The macro refuses an objective on a fn whose label is known only from its first call.
        handlers.extend(site.label());
    }
    Ok(by_name
        .into_values()
        .filter(|(_, handlers)| !handlers.is_empty())
        .map(|(objective, handlers)| ObjectiveUse {
            objective,
            handlers: handlers.into_iter().collect(),
        })
        .collect())
}

/// The histogram buckets `buckets` with every objective's latency threshold added as a bound.
pub(crate) fn with_thresholds(mut buckets: Vec<f64>) -> Vec<f64> {
    for registration in inventory::iter::<Registration> {
        let threshold = registration
            .objective
            .and_then(Objective::threshold_seconds);
        let new = |bound: &f64| *bound > 0.0 && !buckets.contains(bound);
        if let Some(threshold) = threshold.filter(new) {
            let at = buckets.partition_point(|&bound| bound < threshold);
            buckets.insert(at, threshold);
        }
    }
    buckets
}
