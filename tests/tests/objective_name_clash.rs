//! Two different objectives with one name would be one set of alerts: `install` and
//! `AlertRules::render` refuse them with a `ConfigError`, and handlers keep working.

use metrics_runtime::{AlertRules, Config, ConfigError, Objective, prometheus_metrics};

mod scopes {
    use super::*;

    pub const CATALOGUE: Objective = Objective::new("catalogue").availability(99.9);

    #[prometheus_metrics(objective = CATALOGUE)]
    pub fn list_scopes() {}
}

mod rses {
    use super::*;

    pub const CATALOGUE: Objective = Objective::new("catalogue").availability(99.0);

    #[prometheus_metrics(objective = CATALOGUE)]
    pub fn list_rses() {}
}

#[test]
fn objectives_sharing_a_name_are_refused_by_install_and_by_the_rules() {
    let error = Config::new().install().unwrap_err();
    assert!(
        matches!(&error, ConfigError::ObjectiveNameClash { name } if name == "catalogue"),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("two different objectives are named \"catalogue\"")
    );
    let error = AlertRules::new().render().unwrap_err();
    assert!(
        matches!(error, ConfigError::ObjectiveNameClash { .. }),
        "{error:?}"
    );

    // Not a panic in a handler: the default runtime serves them.
    scopes::list_scopes();
    rses::list_rses();
    assert!(metrics_runtime::gather().contains("handler=\"list_rses\""));
}
