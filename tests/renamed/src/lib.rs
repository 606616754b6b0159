//! Handlers of a crate that depends on the runtime under another name (`hm`), as a crate that
//! also depends on the unrelated `metrics-runtime` package would.

use hm::{Authenticate, authenticated, prometheus_handlers, prometheus_metrics};

pub struct Token(pub &'static str);

impl Authenticate for Token {
    type Rejection = &'static str;

    fn authenticate(&self) -> Result<(), &'static str> {
        if self.0 == "secret" {
            Ok(())
        } else {
            Err("forbidden")
        }
    }
}

#[prometheus_metrics(crate = "hm")]
pub fn list_scopes() -> Vec<&'static str> {
    vec!["user.alice"]
}

#[authenticated(token, crate = "hm")]
#[prometheus_metrics(crate = "hm")]
pub async fn purge_cache(token: &Token) -> Result<(), &'static str> {
    let _ = token;
    Ok(())
}

#[authenticated(crate = "hm")]
#[prometheus_metrics(skip)]
pub fn whoami(token: &Token) -> &'static str {
    let _ = token;
    "alice"
}

pub struct InstancesHandler;

#[prometheus_handlers(crate = "hm")]
impl InstancesHandler {
    #[prometheus_metrics]
    pub fn get(&self) -> usize {
        2
    }
}
