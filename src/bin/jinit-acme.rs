//! `jinit-acme`: the Let's Encrypt client of the web image (`jinit acme` runs it). A binary of
//! its own so that the TLS stack and the ACME code stay out of every image's PID 1.

use jinit::cli::client;
use jinit::problem::EXIT_INVALID;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match client::acme(&args) {
        Ok(code) => code,
        Err(message) => {
            jinit::log::error(&message);
            EXIT_INVALID
        }
    };
    ExitCode::from(code as u8)
}
