use metrics_runtime::{Authenticate, authenticated};

struct Token(&'static str);

impl Authenticate for Token {
    type Rejection = ();
    fn authenticate(&self) -> Result<(), ()> {
        Ok(())
    }
}

#[authenticated]
fn get_instances((token, name): (Token, &str)) {
    let _ = (token, name);
}

fn main() {}
