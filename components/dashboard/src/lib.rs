//! The dashboard, `/ui/...`: the third Spin component.
//!
//! It serves server-rendered page shells (headings, labelled forms, empty tables) and one
//! small script that fills them from the public API (`/jobs`, `/stats`, `/me`) with the
//! API key the user typed. The key lives in the tab's `sessionStorage`: it is never in a
//! URL, never sent to this component, and gone when the tab closes. So the dashboard
//! reads and stores nothing itself and adds no second path to the data: whatever a key
//! may not do through the API, it may not do here (a read-only key sees no action
//! buttons, and the API refuses those actions anyway).
//!
//! No CDN and no network at run time: the script and the stylesheet are in this
//! component, and the Content-Security-Policy allows nothing else.

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

const STYLE: &str = include_str!("../assets/style.css");
const SCRIPT: &str = include_str!("../assets/app.js");
const LAYOUT: &str = include_str!("../assets/layout.html");
const OVERVIEW: &str = include_str!("../assets/overview.html");
const JOBS: &str = include_str!("../assets/jobs.html");
const JOB: &str = include_str!("../assets/job.html");

/// The page or file at a path under `/ui`.
enum Page<'a> {
    Overview,
    Jobs,
    Job(&'a str),
    Style,
    Script,
}

impl<'a> Page<'a> {
    fn parse(path: &'a str) -> Option<Page<'a>> {
        let rest = path.strip_prefix("/ui")?;
        match rest.trim_end_matches('/') {
            "" => Some(Page::Overview),
            "/jobs" => Some(Page::Jobs),
            "/style.css" => Some(Page::Style),
            "/app.js" => Some(Page::Script),
            other => {
                let id = other.strip_prefix("/jobs/")?;
                is_job_id(id).then_some(Page::Job(id))
            }
        }
    }
}

/// A job id as the API writes it: 36 characters of lowercase hex and hyphens. Checked
/// here only because it is written into the page; the API checks it properly.
fn is_job_id(id: &str) -> bool {
    id.len() == 36
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-')
}

#[http_component]
fn handle(req: Request) -> Response {
    let path = req.path().split('?').next().unwrap_or_default();
    let Some(page) = Page::parse(path) else {
        return text(404, "text/plain; charset=utf-8", "Not found".to_owned());
    };
    if !matches!(req.method(), Method::Get | Method::Head) {
        let mut response = text(
            405,
            "text/plain; charset=utf-8",
            "Method not allowed".into(),
        );
        response.set_header("allow", "GET, HEAD");
        return response;
    }
    match page {
        Page::Style => text(200, "text/css; charset=utf-8", STYLE.to_owned()),
        Page::Script => text(200, "text/javascript; charset=utf-8", SCRIPT.to_owned()),
        Page::Overview => html(render("Overview", "overview", OVERVIEW, "")),
        Page::Jobs => html(render("Jobs", "jobs", JOBS, "")),
        Page::Job(id) => html(render(&format!("Job {id}"), "job", JOB, id)),
    }
}

/// A page: the layout around `body`, with its title, which nav entry is current, and
/// the job id it shows (if any) for the script.
fn render(title: &str, page: &str, body: &str, job_id: &str) -> String {
    LAYOUT
        .replace("{{title}}", title)
        .replace("{{page}}", page)
        .replace("{{job_id}}", job_id)
        .replace(
            "{{current_overview}}",
            if page == "overview" {
                "aria-current=\"page\""
            } else {
                ""
            },
        )
        .replace(
            "{{current_jobs}}",
            if page == "overview" {
                ""
            } else {
                "aria-current=\"page\""
            },
        )
        .replace("{{body}}", &body.replace("{{job_id}}", job_id))
}

fn html(body: String) -> Response {
    text(200, "text/html; charset=utf-8", body)
}

fn text(status: u16, content_type: &str, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        // Only this component's own script and style; the API on the same origin; images
        // of results as blobs. Nothing from elsewhere, no frames, no inline script.
        .header(
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        )
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-cache")
        .body(body)
        .build()
}
