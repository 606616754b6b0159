//! The demo's service-level objectives: one for the routes that call Rucio, which can be no more
//! available than Rucio is, and one for the routes the server answers alone. Each impl block of
//! `handlers` names its objective; `--print-alert-rules` prints the alerts they get.

use std::time::Duration;

use metrics_runtime::Objective;

/// `files`, `did`, `did-search`, `list-scopes` and `list-rses`: they wait on Rucio.
pub const RUCIO: Objective = Objective::new("rucio")
    .availability(99.5)
    .latency(Duration::from_millis(250), 99.0);

/// Every other measured route: the server's own state, answered in microseconds.
pub const LOCAL: Objective = Objective::new("local")
    .availability(99.9)
    .latency(Duration::from_millis(10), 99.0);
