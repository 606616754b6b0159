//! Jupyter-style token authentication: `Authorization: token <T>` or `Authorization: Bearer <T>`.

use std::fmt;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::trace::random_hex;

/// The server's access token. `Debug` does not show it.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// A token given on the command line or in the environment. It must fit in an HTTP header
    /// unchanged, so it may contain only visible ASCII characters (no spaces).
    pub fn new(token: impl Into<String>) -> Result<Token, String> {
        let token = token.into();
        if token.is_empty() {
            return Err("the token is empty".to_owned());
        }
        if !token.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(
                "the token may contain only visible ASCII characters, no spaces".to_owned(),
            );
        }
        Ok(Token(token))
    }

    /// 24 random bytes as 48 hex digits, the shape of a Jupyter server token.
    pub fn generate() -> Result<Token, String> {
        random_hex(24)
            .map(Token)
            .map_err(|error| format!("cannot generate a random token ({error}); pass --token"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant time in the token's content, so response timing does not reveal how many leading
    /// characters of a guess were right. (A guess of another length is rejected at once: the
    /// length is not the secret.)
    fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// What a request's `Authorization` header carried.
pub(crate) enum Credentials {
    Missing,
    Malformed,
    Token(String),
}

impl Credentials {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Credentials {
        Credentials::from_authorization(headers.get(AUTHORIZATION))
    }

    /// From the `Authorization` header's value, if there is one.
    pub(crate) fn from_authorization(value: Option<&HeaderValue>) -> Credentials {
        let Some(value) = value else {
            return Credentials::Missing;
        };
        let Some((scheme, token)) = value.to_str().ok().and_then(|v| v.trim().split_once(' '))
        else {
            return Credentials::Malformed;
        };
        let token = token.trim_start();
        // Auth schemes are case-insensitive (RFC 9110 §11.1).
        let known_scheme =
            scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer");
        if !known_scheme || token.is_empty() || token.contains(' ') {
            return Credentials::Malformed;
        }
        Credentials::Token(token.to_owned())
    }

    pub(crate) fn verify(&self, expected: &Token) -> Result<(), ApiError> {
        match self {
            Credentials::Token(token) if expected.matches(token) => Ok(()),
            // Upstream's body, whatever was wrong: it tells a prober nothing.
            Credentials::Token(_) | Credentials::Missing | Credentials::Malformed => {
                Err(ApiError::forbidden())
            }
        }
    }
}
