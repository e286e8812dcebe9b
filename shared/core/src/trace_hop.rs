//! The spans of one compound's way through the pipeline. Its record carries
//! the trace context in its NATS headers from hop to hop: the API's admission
//! span (a child of the run's, which continues the request that created the
//! run), then one span per adapter on its route, each a child of the hop
//! before, then the aggregator's write. A batch of records gets a span of its
//! own, linked to each record's context. With no exporter configured these
//! are no-ops that pass the incoming context on unchanged.

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{global, Context, KeyValue};
use std::borrow::Cow;
use std::sync::OnceLock;

/// The tracer, fetched once (after `telemetry::init` installed the provider).
fn tracer() -> &'static global::BoxedTracer {
    static TRACER: OnceLock<global::BoxedTracer> = OnceLock::new();
    TRACER.get_or_init(|| global::tracer("pharmforge"))
}

/// Starts a span called `name`, a child of `parent`'s span; the returned
/// context holds it (end it with [`end`]; pass it on with `telemetry::inject`).
pub fn start(name: impl Into<Cow<'static, str>>, parent: &Context, kind: SpanKind, attributes: Vec<KeyValue>) -> Context {
    let span = tracer().span_builder(name).with_kind(kind).with_attributes(attributes).start_with_context(tracer(), parent);
    parent.with_span(span)
}

/// Starts a root span (its own trace) linked to each sampled context of
/// `records` (at most 128, the SDK's default limit): a batch's span. With no
/// sampled record in the batch there is nothing to link and no span (an
/// empty context): a batch is traced when one of its compounds is.
pub fn start_batch<'a>(name: impl Into<Cow<'static, str>>, records: impl IntoIterator<Item = &'a Context>, attributes: Vec<KeyValue>) -> Context {
    let links: Vec<Link> = records
        .into_iter()
        .map(|cx| cx.span().span_context().clone())
        .filter(|sc| sc.is_valid() && sc.is_sampled())
        .take(128)
        .map(Link::with_context)
        .collect();
    if links.is_empty() {
        return Context::new();
    }
    let root = Context::new();
    let span = tracer().span_builder(name).with_kind(SpanKind::Consumer).with_links(links).with_attributes(attributes).start_with_context(tracer(), &root);
    root.with_span(span)
}

/// Ends the span `cx` holds.
pub fn end(cx: &Context) {
    cx.span().end();
}

/// Marks the span `cx` holds as failed, with why.
pub fn fail(cx: &Context, why: &str) {
    cx.span().set_status(opentelemetry::trace::Status::error(why.to_owned()));
}
