//! Path and method dispatch that behaves the same for API Gateway events and
//! `cargo lambda watch`: parameters come from the path itself, a trailing
//! slash names the same route, and a known path with a wrong method is a 405.
//!
//! The route table also says who may call each route: an [`Endpoint`] is
//! either public or takes the authenticated caller as an argument, so a
//! handler that needs the caller cannot be routed without authentication.

use std::future::Future;
use std::pin::Pin;

use http::Method;
use lambda_http::{Body, Response};

use crate::app::RequestCtx;
use crate::error::ApiError;
use crate::store::users::User;

/// What every handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, ApiError>> + Send>>;

/// A route's handler and who may call it.
#[derive(Clone, Copy)]
pub enum Endpoint {
    /// Anyone, with or without a token (register, login, health, ...).
    Public(fn(RequestCtx) -> HandlerFuture),
    /// Only the holder of a valid access token, who is handed to the handler.
    Authenticated(fn(User, RequestCtx) -> HandlerFuture),
}

/// `public!(module::handler)`: a route anyone may call; the handler is an
/// `async fn(RequestCtx)`.
#[macro_export]
macro_rules! public {
    ($handler:path) => {
        $crate::router::Endpoint::Public(|ctx| ::std::boxed::Box::pin($handler(ctx)))
    };
}

/// `authenticated!(module::handler)`: a route for signed-in callers only; the
/// handler is an `async fn(User, RequestCtx)`.
#[macro_export]
macro_rules! authenticated {
    ($handler:path) => {
        $crate::router::Endpoint::Authenticated(|user, ctx| {
            ::std::boxed::Box::pin($handler(user, ctx))
        })
    };
}

/// Routes of one function: a path pattern (`/api/conversations/{id}`) with the
/// methods it answers, each naming a handler by a value of `R`.
pub struct Router<R = Endpoint> {
    paths: matchit::Router<Vec<(Method, R)>>,
    table: Vec<(String, Method, R)>,
}

/// The named segments of a matched path.
#[derive(Debug, Default, Clone)]
pub struct PathParams(Vec<(String, String)>);

impl PathParams {
    /// A text segment, percent-decoded; `None` when it is not UTF-8.
    pub fn text(&self, name: &str) -> Option<String> {
        let (_, raw) = self.0.iter().find(|(key, _)| key == name)?;
        percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .ok()
            .map(|text| text.into_owned())
    }

    /// A positive integer id from the path; anything else names no object.
    pub fn id(&self, name: &str) -> Result<i64, ApiError> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.parse::<i64>().ok())
            .filter(|id| *id > 0)
            .ok_or(ApiError::NotFound)
    }
}

impl<R: Copy> Router<R> {
    /// Panics on a malformed or conflicting pattern: the table is fixed at
    /// compile time and a bad one must fail at the first test.
    pub fn new(routes: &[(&str, Method, R)]) -> Self {
        let mut grouped: Vec<(&str, Vec<(Method, R)>)> = Vec::new();
        for (path, method, route) in routes {
            match grouped.iter_mut().find(|(p, _)| p == path) {
                Some((_, methods)) => methods.push((method.clone(), *route)),
                None => grouped.push((path, vec![(method.clone(), *route)])),
            }
        }
        let mut paths = matchit::Router::new();
        for (path, methods) in grouped {
            if let Err(err) = paths.insert(path, methods) {
                panic!("invalid route {path}: {err}");
            }
        }
        let table = routes
            .iter()
            .map(|(path, method, route)| (path.to_string(), method.clone(), *route))
            .collect();
        Router { paths, table }
    }

    /// Every path pattern and method this router answers, with its handler,
    /// in table order.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &Method, R)> {
        self.table
            .iter()
            .map(|(path, method, route)| (path.as_str(), method, *route))
    }

    pub fn at(&self, method: &Method, path: &str) -> Result<(R, PathParams), ApiError> {
        let path = match path.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() => trimmed,
            _ => path,
        };
        let matched = self.paths.at(path).map_err(|_| ApiError::NotFound)?;
        let route = matched
            .value
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, route)| *route)
            .ok_or_else(|| ApiError::MethodNotAllowed {
                allow: matched
                    .value
                    .iter()
                    .map(|(m, _)| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let params = matched
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok((route, PathParams(params)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum R {
        List,
        Create,
        One,
    }

    fn router() -> Router<R> {
        Router::new(&[
            ("/api/things", Method::GET, R::List),
            ("/api/things", Method::POST, R::Create),
            ("/api/things/{id}", Method::GET, R::One),
        ])
    }

    #[test]
    fn a_trailing_slash_names_the_same_route() {
        assert_eq!(
            router().at(&Method::GET, "/api/things/").unwrap().0,
            R::List
        );
        assert_eq!(
            router().at(&Method::POST, "/api/things").unwrap().0,
            R::Create
        );
    }

    #[test]
    fn path_parameters_come_from_the_path() {
        let (route, params) = router().at(&Method::GET, "/api/things/42/").unwrap();
        assert_eq!(route, R::One);
        assert_eq!(params.id("id").unwrap(), 42);
    }

    #[test]
    fn ids_that_are_not_positive_integers_are_not_found() {
        for raw in ["abc", "-1", "0", "99999999999999999999999", "1.5"] {
            let (_, params) = router()
                .at(&Method::GET, &format!("/api/things/{raw}"))
                .unwrap();
            assert!(matches!(params.id("id"), Err(ApiError::NotFound)), "{raw}");
        }
    }

    #[test]
    fn a_wrong_method_is_405_with_allow() {
        match router().at(&Method::DELETE, "/api/things") {
            Err(ApiError::MethodNotAllowed { allow }) => assert_eq!(allow, "GET, POST"),
            other => panic!("expected 405, got {:?}", other.map(|(r, _)| r)),
        }
    }

    #[test]
    fn an_unknown_path_is_404() {
        assert!(matches!(
            router().at(&Method::GET, "/api/nothing"),
            Err(ApiError::NotFound)
        ));
        assert!(matches!(
            router().at(&Method::GET, "/"),
            Err(ApiError::NotFound)
        ));
        assert!(matches!(
            router().at(&Method::GET, ""),
            Err(ApiError::NotFound)
        ));
    }
}
