//! HTTP route patterns and Spin's precedence between them: exact segments beat
//! `:name` segments beat a trailing `/...`; among otherwise equal patterns the
//! shorter (more exact) wins, so `/jobs` beats `/jobs/...` and `/a/b/...`
//! beats `/a/...`. Also computes the `spin-*` values a match implies. Owns no
//! I/O.

use anyhow::bail;

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Exact(String),
    Param(String),
    /// The trailing `/...`: zero or more further segments.
    Wildcard,
}

impl Segment {
    /// Higher is more specific.
    fn rank(&self) -> u8 {
        match self {
            Segment::Exact(_) => 2,
            Segment::Param(_) => 1,
            Segment::Wildcard => 0,
        }
    }
}

/// A route bound to a component.
#[derive(Debug, Clone)]
pub struct Route {
    /// The component that serves it.
    pub component: String,
    /// The route as written in the manifest (`spin-raw-component-route`).
    pub raw: String,
    /// The route joined to the base path (`spin-matched-route`).
    pub based: String,
    segments: Vec<Segment>,
}

impl Route {
    /// The route as Spin lists it at start-up: the path, with ` (wildcard)`
    /// after the prefix of a `/...` route.
    pub fn display(&self) -> String {
        match self.based.strip_suffix("/...") {
            Some(prefix) => format!("{prefix} (wildcard)"),
            None => self.based.clone(),
        }
    }
}

/// What a request path matched.
#[derive(Debug)]
pub struct RouteMatch<'r> {
    pub route: &'r Route,
    /// `:name` captures in pattern order.
    pub params: Vec<(String, String)>,
    /// The path after a wildcard route's prefix (`spin-path-info`); empty for
    /// exact routes.
    pub path_info: String,
}

impl RouteMatch<'_> {
    /// `spin-component-route`: the raw route without its `/...`.
    pub fn component_route(&self) -> &str {
        self.route
            .raw
            .strip_suffix("/...")
            .unwrap_or(&self.route.raw)
    }
}

/// All routes of the selected HTTP triggers.
#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<Route>,
}

fn trim_trailing_slash(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

/// Joins `route` to `base` the way Spin does: both without a trailing slash,
/// the route made absolute.
fn join_base(base: &str, route: &str) -> String {
    let route = if route.starts_with('/') {
        route.to_string()
    } else {
        format!("/{route}")
    };
    format!(
        "{}{}",
        trim_trailing_slash(base),
        trim_trailing_slash(&route)
    )
}

fn parse_segments(based: &str) -> anyhow::Result<Vec<Segment>> {
    let (body, wildcard) = match based.strip_suffix("/...") {
        Some(prefix) => (prefix, true),
        None => (based, false),
    };
    let mut segments = Vec::new();
    for piece in body.split('/').filter(|s| !s.is_empty()) {
        if let Some(name) = piece.strip_prefix(':') {
            if name.is_empty() {
                bail!("route {based:?}: a `:` segment needs a name");
            }
            segments.push(Segment::Param(name.to_string()));
        } else if piece == "..." {
            bail!("route {based:?}: `...` is only allowed at the end");
        } else {
            segments.push(Segment::Exact(piece.to_string()));
        }
    }
    if wildcard {
        segments.push(Segment::Wildcard);
    }
    Ok(segments)
}

impl Router {
    /// Builds the router from `(component, raw route)` pairs. A later entry
    /// with the same raw route replaces an earlier one, as in Spin.
    pub fn build<'a>(
        base: &str,
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<Router> {
        let mut routes: Vec<Route> = Vec::new();
        for (component, raw) in entries {
            let based = join_base(base, raw);
            let segments = parse_segments(&based)?;
            let route = Route {
                component: component.to_string(),
                raw: raw.to_string(),
                based,
                segments,
            };
            match routes.iter_mut().find(|r| r.raw == route.raw) {
                Some(existing) => *existing = route,
                None => routes.push(route),
            }
        }
        Ok(Router { routes })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The best route for `path` (no query), or `None` (a 404).
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let trimmed = path.trim_start_matches('/').trim_end_matches('/');
        let pieces: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        let mut best: Option<(&Route, Params, Option<String>)> = None;
        for route in &self.routes {
            let Some((params, rest)) = matches(&route.segments, &pieces) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((current, _, _)) => more_specific(&route.segments, &current.segments),
            };
            if better {
                best = Some((route, params, rest));
            }
        }
        best.map(|(route, params, rest)| RouteMatch {
            route,
            params,
            path_info: path_info(rest.as_deref(), path),
        })
    }
}

/// `:name` captures, in pattern order.
type Params = Vec<(String, String)>;

/// Matches `segments` against path pieces; yields the captures and, for a
/// wildcard route, the captured remainder.
fn matches(segments: &[Segment], pieces: &[&str]) -> Option<(Params, Option<String>)> {
    let mut params = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Wildcard => {
                return Some((params, Some(pieces[i.min(pieces.len())..].join("/"))));
            }
            Segment::Exact(text) => {
                if pieces.get(i) != Some(&text.as_str()) {
                    return None;
                }
            }
            Segment::Param(name) => {
                let piece = pieces.get(i)?;
                params.push((name.clone(), (*piece).to_string()));
            }
        }
    }
    (pieces.len() == segments.len()).then_some((params, None))
}

/// Whether pattern `a` beats pattern `b`: the first differing segment decides
/// (exact over param over wildcard); if one is a prefix of the other, the
/// shorter wins.
fn more_specific(a: &[Segment], b: &[Segment]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x.rank() != y.rank() {
            return x.rank() > y.rank();
        }
    }
    a.len() < b.len()
}

/// Spin's `spin-path-info`: `/rest` for a wildcard capture, keeping a
/// trailing slash the request had; empty for exact routes.
fn path_info(rest: Option<&str>, path: &str) -> String {
    let Some(rest) = rest else {
        return String::new();
    };
    match (rest.is_empty(), path.ends_with('/')) {
        (true, false) => String::new(),
        (true, true) => "/".to_string(),
        (false, false) => format!("/{rest}"),
        (false, true) => format!("/{rest}/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(entries: &[(&str, &str)]) -> Router {
        Router::build("/", entries.iter().copied()).unwrap()
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.route.component.clone())
    }

    #[test]
    fn a_root_wildcard_matches_everything_including_the_root() {
        let r = router(&[("all", "/...")]);
        for path in ["/", "/foo", "/foo/bar", "/abc/"] {
            assert_eq!(component(&r, path).as_deref(), Some("all"), "{path}");
        }
    }

    #[test]
    fn a_wildcard_also_matches_its_bare_prefix() {
        let r = router(&[("jobs", "/jobs/...")]);
        assert_eq!(component(&r, "/jobs").as_deref(), Some("jobs"));
        assert_eq!(component(&r, "/jobs/1").as_deref(), Some("jobs"));
        assert_eq!(component(&r, "/jobsx"), None);
        assert_eq!(component(&r, "/"), None);
    }

    #[test]
    fn exact_beats_wildcard() {
        let r = router(&[("wild", "/..."), ("exact", "/one"), ("jobs", "/jobs/...")]);
        assert_eq!(component(&r, "/one").as_deref(), Some("exact"));
        assert_eq!(component(&r, "/one/two").as_deref(), Some("wild"));
        let r = router(&[("wild", "/jobs/..."), ("exact", "/jobs")]);
        assert_eq!(component(&r, "/jobs").as_deref(), Some("exact"));
        assert_eq!(component(&r, "/jobs/").as_deref(), Some("exact"));
    }

    #[test]
    fn the_longest_wildcard_prefix_wins_in_any_order() {
        for entries in [
            [
                ("one", "/one/..."),
                ("two", "/one/two/..."),
                ("three", "/one/two/three/..."),
            ],
            [
                ("three", "/one/two/three/..."),
                ("two", "/one/two/..."),
                ("one", "/one/..."),
            ],
        ] {
            let r = router(&entries);
            assert_eq!(
                component(&r, "/one/two/three/four").as_deref(),
                Some("three")
            );
            assert_eq!(component(&r, "/one/two/x").as_deref(), Some("two"));
            assert_eq!(component(&r, "/one").as_deref(), Some("one"));
        }
    }

    #[test]
    fn an_exact_segment_beats_a_parameter_which_beats_a_wildcard() {
        let r = router(&[
            ("param", "/users/:id"),
            ("me", "/users/me"),
            ("wild", "/users/..."),
        ]);
        assert_eq!(component(&r, "/users/me").as_deref(), Some("me"));
        assert_eq!(component(&r, "/users/42").as_deref(), Some("param"));
        assert_eq!(component(&r, "/users/42/x").as_deref(), Some("wild"));
    }

    #[test]
    fn no_match_is_none() {
        let r = router(&[("a", "/a")]);
        assert!(r.route("/b").is_none());
        assert!(r.route("/a/b").is_none());
    }

    #[test]
    fn parameters_are_captured() {
        let r = router(&[("c", "/1/:two/...")]);
        let m = r.route("/1/2/3").unwrap();
        assert_eq!(m.params, vec![("two".to_string(), "2".to_string())]);
        assert_eq!(m.path_info, "/3");
    }

    #[test]
    fn path_info_keeps_spins_trailing_slash_rules() {
        let r = router(&[("c", "/test/...")]);
        assert_eq!(r.route("/test").unwrap().path_info, "");
        assert_eq!(r.route("/test/").unwrap().path_info, "/");
        assert_eq!(r.route("/test/hello").unwrap().path_info, "/hello");
        assert_eq!(r.route("/test/hello/").unwrap().path_info, "/hello/");
        let r = router(&[("c", "/...")]);
        assert_eq!(r.route("/1/2/3").unwrap().path_info, "/1/2/3");
        let r = router(&[("c", "/exact")]);
        assert_eq!(r.route("/exact").unwrap().path_info, "");
    }

    #[test]
    fn header_values_follow_spin() {
        let r = router(&[("c", "/foo/...")]);
        let m = r.route("/foo/bar").unwrap();
        assert_eq!(m.route.based, "/foo/...");
        assert_eq!(m.route.raw, "/foo/...");
        assert_eq!(m.component_route(), "/foo");
        let r = router(&[("c", "/...")]);
        let m = r.route("/x").unwrap();
        assert_eq!(m.route.based, "/...");
        assert_eq!(m.component_route(), "");
    }

    #[test]
    fn routes_display_like_spin() {
        let r = router(&[("a", "/..."), ("b", "/whee/..."), ("c", "/exact")]);
        let shown: Vec<_> = r.routes().iter().map(Route::display).collect();
        assert_eq!(shown, [" (wildcard)", "/whee (wildcard)", "/exact"]);
    }

    #[test]
    fn a_base_prefixes_every_route() {
        let r = Router::build("/base", [("foo", "/foo")]).unwrap();
        assert_eq!(component(&r, "/base/foo").as_deref(), Some("foo"));
        assert_eq!(component(&r, "/foo"), None);
    }
}
