//! `cargo run -p actix-example [-- --addr HOST:PORT]`: serves the example on 127.0.0.1:8080 with
//! the access token from `API_TOKEN`.

use std::process::ExitCode;

use actix_example::Api;
use actix_web::{App, HttpServer};
use metrics_runtime::EdgeMiddleware;

#[actix_web::main]
async fn main() -> ExitCode {
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("actix-example: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let addr = match (args.next().as_deref(), args.next(), args.next()) {
        (None, ..) => "127.0.0.1:8080".to_owned(),
        (Some("--addr"), Some(addr), None) => addr,
        _ => return Err("usage: actix-example [--addr HOST:PORT]".to_owned()),
    };
    let token = std::env::var("API_TOKEN")
        .ok()
        .filter(|token| !token.is_empty())
        .ok_or("set API_TOKEN to the token clients must present")?;
    let api = Api::new(&token);
    // The edge outermost: it sees every answer, the default service's 404s included.
    let server = HttpServer::new(move || {
        App::new()
            .configure(|config| api.configure(config))
            .wrap(EdgeMiddleware::new())
    })
    .bind(&addr)
    .map_err(|error| format!("cannot listen on {addr}: {error}"))?;
    // The real address, also when the port was 0.
    for addr in server.addrs() {
        println!("listening on http://{addr} (metrics at /metrics)");
    }
    server.run().await.map_err(|error| error.to_string())
}
