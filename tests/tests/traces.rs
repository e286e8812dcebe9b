//! OpenTelemetry traces, exported over OTLP/HTTP (JSON) to a receiver the
//! test starts: one sampled compound's spans, from the API's request through
//! its admission, every adapter on its route and the aggregator's writes,
//! share one trace id with the right parents; a gateway's `traceparent` is
//! continued; sampling is decided once, at the root.

use pharmforge_tests::fakes::chembl::{ChemblFaults, FakeChembl};
use pharmforge_tests::fakes::pubchem::{FakePubchem, PubchemFaults};
use pharmforge_tests::otlp::{OtlpReceiver, ReceivedSpan};
use pharmforge_tests::Stack;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn otel_env(receiver: &OtlpReceiver, sampler: &str, arg: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".into()),
        ("OTEL_TRACES_SAMPLER", sampler.into()),
        ("OTEL_TRACES_SAMPLER_ARG", arg.into()),
        // Export within a fraction of a second.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
    ]
}

async fn submit(stack: &Stack, body: Value, traceparent: Option<&str>) -> String {
    let mut req = stack.http.post(stack.url("/api/v1/runs")).json(&body);
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let run: Value = resp.json().await.unwrap();
    run["run_id"].as_str().unwrap().to_owned()
}

/// Waits until the spans of `trace` satisfy `done`, then returns them.
async fn spans_of(receiver: &OtlpReceiver, trace: &str, done: impl Fn(&[ReceivedSpan]) -> bool) -> Vec<ReceivedSpan> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spans: Vec<ReceivedSpan> = receiver.spans().into_iter().filter(|s| s.trace_id == trace).collect();
        if done(&spans) {
            return spans;
        }
        assert!(Instant::now() < deadline, "the trace never completed; got {:#?}", spans.iter().map(|s| (&s.service, &s.name)).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn one<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.service == service && s.name == name).collect();
    assert_eq!(found.len(), 1, "one {service} span {name:?}: {found:#?}");
    found[0]
}

#[tokio::test]
async fn a_gateways_sampled_trace_runs_through_the_api_every_adapter_and_the_aggregator() {
    let receiver = OtlpReceiver::start().await;
    let pubchem = FakePubchem::start(PubchemFaults::none()).await;
    let chembl = FakeChembl::start(ChemblFaults::none()).await;
    // Roots are never sampled (ratio 0): only the gateway's sampled
    // context makes a trace, and every service follows that decision.
    let mut env = otel_env(&receiver, "parentbased_traceidratio", "0");
    env.extend(pharmforge_tests::fakes::service_env(&pubchem, &chembl, Some(100)));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, &**v)).collect();
    let stack = Stack::start_with_env(&["rdkit_local", "admet_ai", "pubchem", "chembl"], &env).await;

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let gateway_span = "00f067aa0ba902b7";
    let sampled = submit(&stack, json!({"input_smiles": ["CC(=O)Oc1ccccc1C(=O)O"]}), Some(&format!("00-{trace}-{gateway_span}-01"))).await;
    let unsampled = submit(&stack, json!({"input_smiles": ["c1ccccc1O"]}), None).await;
    for run in [&sampled, &unsampled] {
        let done = stack.wait_finished(run, Duration::from_secs(120)).await;
        assert_eq!(done["status"], "completed", "{done}");
    }

    // Every stage and every write: api (request, admission), four adapters,
    // four aggregator writes (one per stage's message). Each service exports
    // on its own schedule: an aggregator's span for chembl's message can
    // arrive before chembl's own, so all of them are waited for.
    let spans = spans_of(&receiver, trace, |s| {
        s.iter().filter(|s| s.service == "pharmforge-aggregator" && s.name == "aggregator").count() >= 4
            && ["rdkit_local", "admet_ai", "pubchem", "chembl"].iter().all(|name| s.iter().any(|s| s.name == *name))
            && s.iter().any(|s| s.name == "admit")
    })
    .await;
    let request = one(&spans, "pharmforge-api", "POST /api/v1/runs");
    assert_eq!(request.parent_span_id, gateway_span, "the request continues the gateway's span");
    let admit = one(&spans, "pharmforge-api", "admit");
    assert_eq!(admit.parent_span_id, request.span_id, "admission is a child of the request that created the run");
    let mut parent = admit;
    let mut adapter_spans = Vec::new();
    for (service, name) in
        [("pharmforge-rdkit-local", "rdkit_local"), ("pharmforge-admet-ai", "admet_ai"), ("pharmforge-pubchem", "pubchem"), ("pharmforge-chembl", "chembl")]
    {
        let span = one(&spans, service, name);
        assert_eq!(span.parent_span_id, parent.span_id, "{name} is a child of the hop before it ({})", parent.name);
        adapter_spans.push(span);
        parent = span;
    }
    let mut written: Vec<&str> =
        spans.iter().filter(|s| s.service == "pharmforge-aggregator" && s.name == "aggregator").map(|s| s.parent_span_id.as_str()).collect();
    written.sort_unstable();
    let mut expected: Vec<&str> = adapter_spans.iter().map(|s| s.span_id.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(written, expected, "the aggregator writes each stage's message as a child of the adapter span that published it");

    // A batch's span is a trace of its own, linked to its records' spans.
    let rdkit = adapter_spans[0];
    let batch = receiver
        .spans()
        .into_iter()
        .find(|s| s.name == "rdkit_local batch" && s.links.iter().any(|(t, sp)| t == trace && sp == &rdkit.span_id))
        .expect("rdkit_local's batch span links to the compound's span");
    assert_ne!(batch.trace_id, trace);

    // The results carry the run's trace id; the unsampled run exported nothing.
    let results = stack.all_results(&sampled).await;
    assert_eq!(results[0]["trace_id"], trace);
    let other = stack.all_results(&unsampled).await;
    let other_trace = other[0]["trace_id"].as_str().unwrap().to_owned();
    assert_ne!(other_trace, trace);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let leaked: Vec<ReceivedSpan> = receiver.spans().into_iter().filter(|s| s.trace_id == other_trace).collect();
    assert!(leaked.is_empty(), "an unsampled root exported spans: {leaked:#?}");
}

#[tokio::test]
async fn a_request_without_a_traceparent_is_the_root_of_its_runs_trace() {
    let receiver = OtlpReceiver::start().await;
    let env = otel_env(&receiver, "parentbased_always_on", "1");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, &**v)).collect();
    let stack = Stack::start_with_env(&["rdkit_local"], &env).await;
    let run = submit(&stack, json!({"input_smiles": ["CCO", "CCN"], "pipeline_config": {"adapters": ["rdkit_local"]}}), None).await;
    stack.wait_finished(&run, Duration::from_secs(60)).await;
    let results = stack.all_results(&run).await;
    let trace = results[0]["trace_id"].as_str().unwrap().to_owned();
    assert_eq!(results[1]["trace_id"], trace.as_str(), "a run's compounds share its trace");
    // Each service exports on its own schedule: wait for every one's spans,
    // not only the aggregator's (CI once saw them before rdkit_local's).
    let spans = spans_of(&receiver, &trace, |s| {
        let count = |name: &str| s.iter().filter(|s| s.name == name).count();
        count("aggregator") >= 2 && count("rdkit_local") >= 2 && count("admit") >= 2 && s.iter().any(|s| s.name.starts_with("POST "))
    })
    .await;
    let request = spans.iter().find(|s| s.service == "pharmforge-api" && s.name.starts_with("POST ")).expect("the request's span");
    assert!(request.parent_span_id.is_empty(), "the request is the root: {request:?}");
    let admits: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name == "admit").collect();
    assert_eq!(admits.len(), 2);
    for admit in &admits {
        assert_eq!(admit.parent_span_id, request.span_id);
        let hop = spans.iter().find(|s| s.name == "rdkit_local" && s.parent_span_id == admit.span_id).expect("each compound's rdkit_local span");
        assert!(spans.iter().any(|s| s.name == "aggregator" && s.parent_span_id == hop.span_id), "its write");
    }
}
