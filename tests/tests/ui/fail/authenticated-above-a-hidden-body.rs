// `#[authenticated]` above an attribute that hid the body inside its own code: the sign it left
// (written here as such an attribute leaves it) tells `#[prometheus_metrics]` below to refuse
// rather than count rejected calls as requests.
use metrics_runtime::{Authenticate, prometheus_metrics as measured};

struct Request;

impl Authenticate for Request {
    type Rejection = u16;
    fn authenticate(&self) -> Result<(), u16> {
        Ok(())
    }
}

#[measured]
#[metrics_runtime::__private::authenticated_above]
fn hidden(request: &Request) -> Result<u32, u16> {
    let _ = request;
    std::convert::identity(Ok(1))
}

fn main() {
    let _ = hidden(&Request);
}
