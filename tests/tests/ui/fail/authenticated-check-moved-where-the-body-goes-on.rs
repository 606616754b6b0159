// An attribute between `#[authenticated]` and `#[prometheus_metrics]` moved the check into a
// block after which the body goes on (written here as such an attribute would): measuring from
// there would change what `return` means, so it is refused.
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
fn moved(request: &Request) -> Result<u32, u16> {
    let checked: Result<u32, u16> = {
        metrics_runtime::__private::authenticated_check! {}
        if let Err(rejection) = metrics_runtime::__private::Authenticate::authenticate(&request) {
            return Err(rejection);
        }
        Ok(1)
    };
    checked
}

fn main() {
    let _ = moved(&Request);
}
