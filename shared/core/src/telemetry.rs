//! Logs and traces.
//!
//! Logs go through `tracing`: `RUST_LOG` filters (default `info`), and
//! `LOG_FORMAT=json` switches to one JSON object a line for log collectors.
//!
//! Traces are OpenTelemetry, exported over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set, configured by the standard variables: `OTEL_EXPORTER_OTLP_PROTOCOL`
//! (`http/protobuf`, the default, or `http/json`; gRPC is not built in),
//! `OTEL_SERVICE_NAME` (default: the binary's name), `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default
//! `parentbased_always_on`; `parentbased_traceidratio` with a ratio decides
//! once, at the root: every later span follows its parent's decision), and the
//! SDK's `OTEL_BSP_*` batching variables. With no endpoint nothing is
//! recorded or sent, and the trace context still flows through every hop, so a
//! gateway's trace continues through the services that do export.
//!
//! The W3C trace context (`traceparent`) travels in HTTP headers and in the
//! NATS headers of every record ([`inject`], [`extract`], with the
//! TraceContext propagator); see `pharmforge_core::trace_hop` for the spans of
//! one compound's hops.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use std::sync::OnceLock;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use crate::config::ConfigError;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Logging, and trace export when configured. A bad tracing variable is an
/// error naming it: the process exits with status 2.
pub fn init(service: &'static str) {
    let exporting = match TraceSettings::from_env(service) {
        Ok(settings) => settings.map(|s| s.install()),
        Err(e) => {
            eprintln!("pharmforge-{service}: invalid configuration: {e}");
            std::process::exit(2);
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").map(|v| v.eq_ignore_ascii_case("json")).unwrap_or(false);
    let fmt_layer = match json {
        true => fmt::layer().json().flatten_event(true).with_current_span(true).with_writer(std::io::stderr).boxed(),
        false => fmt::layer().with_target(false).with_writer(std::io::stderr).boxed(),
    };
    // The spans `tracing` makes (the API's requests) become OpenTelemetry
    // spans when exporting; the log filter does not apply to them.
    let otel_layer = exporting.as_ref().map(|tracer| tracing_opentelemetry::layer().with_tracer(tracer.clone()));
    let result = tracing_subscriber::registry().with(fmt_layer.with_filter(filter)).with(otel_layer).try_init();
    if result.is_ok() {
        tracing::info!(service, version = env!("CARGO_PKG_VERSION"), traces = exporting.is_some(), "starting");
    }
}

/// Sends the spans still buffered (call before the process exits).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(e) = provider.shutdown() {
            eprintln!("trace export did not finish: {e}");
        }
    }
}

/// What the `OTEL_*` variables ask for, checked.
struct TraceSettings {
    service_name: Option<String>,
    protocol: opentelemetry_otlp::Protocol,
    sampler: Sampler,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn invalid(name: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError { name: name.into(), value: value.into(), reason: reason.into() }
}

impl TraceSettings {
    /// `None` when no endpoint is set (or `OTEL_SDK_DISABLED=true`, or
    /// `OTEL_TRACES_EXPORTER=none`).
    fn from_env(service: &str) -> Result<Option<Self>, ConfigError> {
        let endpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"));
        let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        match env("OTEL_TRACES_EXPORTER").as_deref() {
            None | Some("otlp") | Some("none") => {}
            Some(other) => return Err(invalid("OTEL_TRACES_EXPORTER", other, "only otlp (or none) is built in")),
        }
        if endpoint.is_none() || disabled || env("OTEL_TRACES_EXPORTER").as_deref() == Some("none") {
            return Ok(None);
        }
        let protocol_var =
            if env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").is_some() { "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" } else { "OTEL_EXPORTER_OTLP_PROTOCOL" };
        let protocol = match env(protocol_var).as_deref() {
            None | Some("http/protobuf") => opentelemetry_otlp::Protocol::HttpBinary,
            Some("http/json") => opentelemetry_otlp::Protocol::HttpJson,
            Some(other) => return Err(invalid(protocol_var, other, "expected http/protobuf or http/json (OTLP over HTTP, port 4318; gRPC is not built in)")),
        };
        let has_name = env("OTEL_SERVICE_NAME").is_some()
            || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.split(',').any(|kv| kv.trim_start().starts_with("service.name=")));
        Ok(Some(TraceSettings { service_name: (!has_name).then(|| format!("pharmforge-{service}")), protocol, sampler: sampler_from_env()? }))
    }

    /// The global tracer provider and propagator; the tracer for `tracing`.
    fn install(self) -> opentelemetry_sdk::trace::SdkTracer {
        use opentelemetry::trace::TracerProvider as _;
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(self.protocol).build();
        let exporter = match exporter {
            Ok(e) => e,
            Err(e) => {
                eprintln!("cannot build the OTLP exporter: {e}");
                std::process::exit(2);
            }
        };
        let mut resource = opentelemetry_sdk::Resource::builder();
        if let Some(name) = self.service_name {
            resource = resource.with_service_name(name);
        }
        let provider =
            SdkTracerProvider::builder().with_batch_exporter(exporter).with_sampler(FollowSampledLinks(self.sampler)).with_resource(resource.build()).build();
        opentelemetry::global::set_tracer_provider(provider.clone());
        let tracer = provider.tracer("pharmforge");
        let _ = PROVIDER.set(provider);
        tracer
    }
}

/// The configured sampler, except for a root span linked to a sampled
/// context (a batch holding a sampled compound's record): that is sampled
/// too, so every sampled compound's batch spans are exported. The
/// specification lets a sampler decide on links; the standard ones do not.
#[derive(Debug, Clone)]
struct FollowSampledLinks(Sampler);

impl opentelemetry_sdk::trace::ShouldSample for FollowSampledLinks {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: opentelemetry::trace::TraceId,
        name: &str,
        span_kind: &opentelemetry::trace::SpanKind,
        attributes: &[opentelemetry::KeyValue],
        links: &[opentelemetry::trace::Link],
    ) -> opentelemetry_sdk::trace::SamplingResult {
        let root = !parent_context.is_some_and(|cx| cx.span().span_context().is_valid());
        if root && links.iter().any(|l| l.span_context.is_sampled()) {
            return opentelemetry_sdk::trace::SamplingResult {
                decision: opentelemetry_sdk::trace::SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: Default::default(),
            };
        }
        self.0.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

/// `OTEL_TRACES_SAMPLER` and its argument, as the specification names them.
fn sampler_from_env() -> Result<Sampler, ConfigError> {
    let name = env("OTEL_TRACES_SAMPLER").unwrap_or_else(|| "parentbased_always_on".into());
    let ratio = || -> Result<f64, ConfigError> {
        let arg = env("OTEL_TRACES_SAMPLER_ARG").unwrap_or_else(|| "1.0".into());
        match arg.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err(invalid("OTEL_TRACES_SAMPLER_ARG", &arg, "a sampling ratio from 0 to 1")),
        }
    };
    Ok(match name.as_str() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio()?),
        "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio()?))),
        other => {
            return Err(invalid(
                "OTEL_TRACES_SAMPLER",
                other,
                "expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
            ))
        }
    })
}

/// NATS headers as the propagator reads and writes them.
struct NatsHeaders<'a>(&'a mut async_nats::HeaderMap);
struct NatsHeadersRef<'a>(&'a async_nats::HeaderMap);

impl Injector for NatsHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

impl Extractor for NatsHeadersRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

/// HTTP headers as the propagator reads them.
pub struct HttpHeaders<'a>(pub &'a http::HeaderMap);

impl Extractor for HttpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The trace context a message carries (an empty context when none).
pub fn extract(headers: Option<&async_nats::HeaderMap>) -> Context {
    match headers {
        Some(h) => TraceContextPropagator::new().extract(&NatsHeadersRef(h)),
        None => Context::new(),
    }
}

/// The trace context of HTTP request headers (a gateway's `traceparent`).
pub fn extract_http(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HttpHeaders(headers))
}

/// Writes `cx`'s span context into a message's headers (nothing when invalid).
pub fn inject(cx: &Context, headers: &mut async_nats::HeaderMap) {
    TraceContextPropagator::new().inject_context(cx, &mut NatsHeaders(headers));
}

/// `cx`'s span context as a `traceparent` value, when it has a valid one.
pub fn traceparent_of(cx: &Context) -> Option<String> {
    let span = cx.span();
    let sc: &SpanContext = span.span_context();
    sc.is_valid().then(|| format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()))
}

/// The context a stored `traceparent` value names (empty when malformed).
pub fn context_of(traceparent: &str) -> Context {
    struct One<'a>(&'a str);
    impl Extractor for One<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            (key == "traceparent").then_some(self.0)
        }
        fn keys(&self) -> Vec<&str> {
            vec!["traceparent"]
        }
    }
    TraceContextPropagator::new().extract(&One(traceparent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_survives_headers_both_ways() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let cx = context_of(tp);
        assert_eq!(traceparent_of(&cx).as_deref(), Some(tp));
        let mut headers = async_nats::HeaderMap::new();
        inject(&cx, &mut headers);
        assert_eq!(headers.get("traceparent").map(|v| v.as_str()), Some(tp));
        assert_eq!(traceparent_of(&extract(Some(&headers))).as_deref(), Some(tp));
        assert_eq!(traceparent_of(&context_of("garbage")), None);
        assert_eq!(traceparent_of(&extract(None)), None);
    }

    #[test]
    fn bad_sampler_settings_are_errors_naming_the_variable() {
        // One test touches these variables, so no other sees them.
        std::env::set_var("OTEL_TRACES_SAMPLER", "parentbased_traceidratio");
        std::env::set_var("OTEL_TRACES_SAMPLER_ARG", "1.5");
        assert_eq!(sampler_from_env().unwrap_err().name, "OTEL_TRACES_SAMPLER_ARG");
        std::env::set_var("OTEL_TRACES_SAMPLER_ARG", "0.01");
        assert!(matches!(sampler_from_env().unwrap(), Sampler::ParentBased(_)));
        std::env::set_var("OTEL_TRACES_SAMPLER", "sometimes");
        assert_eq!(sampler_from_env().unwrap_err().name, "OTEL_TRACES_SAMPLER");
        std::env::remove_var("OTEL_TRACES_SAMPLER");
        std::env::remove_var("OTEL_TRACES_SAMPLER_ARG");
        assert!(matches!(sampler_from_env().unwrap(), Sampler::ParentBased(_)));
    }
}
