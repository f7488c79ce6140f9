//! Associations and the graph: learning, listing, deleting, paths.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn associations_are_learned_listed_and_deleted() {
    let app = app();
    let (a, b, c, _) = graph(&app).await;
    let out = get(
        &app,
        &format!("/v1/memories/g/concepts/{a}/associations?direction=out"),
    )
    .await;
    assert_eq!(out.json["associations"].as_array().map(Vec::len), Some(2));
    let strong = get(
        &app,
        &format!("/v1/memories/g/concepts/{a}/associations?min_confidence=0.5"),
    )
    .await;
    assert_eq!(strong.json["associations"][0]["target"], b);
    assert_eq!(strong.json["associations"][0]["confidence"], 0.9);
    let semantic_in = get(
        &app,
        &format!("/v1/memories/g/concepts/{c}/associations?direction=in&kinds=semantic"),
    )
    .await;
    assert_eq!(
        semantic_in.json["associations"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(semantic_in.json["associations"][0]["source"], a);
    let bad_kind = put(
        &app,
        "/v1/memories/g/associations",
        json!({"source": a, "target": b, "kind": "friendship"}),
    )
    .await;
    assert_eq!(bad_kind.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_kind.message().contains("semantic, causal"),
        "{}",
        bad_kind.message()
    );
    let missing_end = put(
        &app,
        "/v1/memories/g/associations",
        json!({"source": a, "target": "ffffffffffffffffffffffffffffffff", "kind": "causal"}),
    )
    .await;
    assert_eq!(
        (missing_end.status, missing_end.code()),
        (StatusCode::NOT_FOUND, "concept_not_found")
    );
    let bad_conf = put(
        &app,
        "/v1/memories/g/associations",
        json!({"source": a, "target": b, "kind": "causal", "confidence": 1.5}),
    )
    .await;
    assert_eq!(bad_conf.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad_conf.message(),
        "invalid confidence: must be from 0 to 1, not 1.5"
    );
    let del = delete(&app, &format!("/v1/memories/g/associations/{a}/{b}/causal")).await;
    assert_eq!(del.status, StatusCode::OK);
    let again = delete(&app, &format!("/v1/memories/g/associations/{a}/{b}/causal")).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::NOT_FOUND, "association_not_found")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn paths_give_the_reasoning_trail() {
    let app = app();
    let (a, b, c, d) = graph(&app).await;
    let shortest = post(&app, "/v1/memories/g/paths", json!({"from": a, "to": d})).await;
    assert_eq!(shortest.status, StatusCode::OK, "{}", shortest.text);
    let path = &shortest.json["paths"][0];
    let ids: Vec<&str> = path["concepts"]
        .as_array()
        .expect("concepts")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec![a.as_str(), c.as_str(), d.as_str()]);
    assert_eq!(path["concepts"][1]["content"], "c");
    assert_eq!(path["steps"][0]["kind"], "semantic");
    assert_eq!(path["confidence"], 0.1);
    let confident = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": a, "to": d, "algorithm": "most_confident"}),
    )
    .await;
    let ids: Vec<&str> = confident.json["paths"][0]["concepts"]
        .as_array()
        .expect("c")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec![a.as_str(), b.as_str(), c.as_str(), d.as_str()]);
    let k = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": a, "to": d, "algorithm": "k_best", "k": 5}),
    )
    .await;
    assert_eq!(k.json["paths"].as_array().map(Vec::len), Some(2));
    assert_eq!(k.json["budget_exhausted"], false);
    let back = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": d, "to": a, "direction": "both", "kinds": ["causal", "temporal"]}),
    )
    .await;
    assert_eq!(back.json["paths"][0]["steps"][0]["reversed"], true);
    assert_eq!(
        back.json["paths"][0]["concepts"].as_array().map(Vec::len),
        Some(4)
    );
    let deep = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": a, "to": d, "max_depth": 17}),
    )
    .await;
    assert_eq!(
        (deep.status, deep.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded")
    );
    assert_eq!(
        deep.message(),
        "max_depth is too large: 17 exceeds the limit of 16"
    );
    let many = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": a, "to": d, "algorithm": "k_best", "k": 11}),
    )
    .await;
    assert_eq!(many.message(), "k is too large: 11 exceeds the limit of 10");
    let tight = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": a, "to": d, "algorithm": "most_confident", "visited_max": 1}),
    )
    .await;
    assert_eq!(tight.json["budget_exhausted"], true);
    let algo = post(
        &app,
        "/v1/memories/g/paths",
        json!({"from": a, "to": d, "algorithm": "fastest"}),
    )
    .await;
    assert_eq!(algo.status, StatusCode::UNPROCESSABLE_ENTITY);
    let hood = get(
        &app,
        &format!("/v1/memories/g/concepts/{a}/neighbourhood?depth=1&direction=forward"),
    )
    .await;
    assert_eq!(hood.json["concepts"].as_array().map(Vec::len), Some(3));
    assert_eq!(hood.json["associations"].as_array().map(Vec::len), Some(3));
    let too_deep = get(
        &app,
        &format!("/v1/memories/g/concepts/{a}/neighbourhood?depth=5"),
    )
    .await;
    assert_eq!(too_deep.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Knowledge model v2 over HTTP: facts with labels (part of the key), metadata and validity;
/// invalidation keeps a fact but hides it from reads of now; `as_of` and `include_invalid` see
/// it; paths show labels; every bad new field is refused by name.
#[tokio::test(flavor = "multi_thread")]
async fn labelled_facts_are_invalidated_not_deleted() {
    let app = app();
    memory(&app, "kg", None).await;
    let alice = concept(&app, "kg", json!({"content": "alice"})).await;
    let acme = concept(&app, "kg", json!({"content": "acme"})).await;
    for (label, from) in [("works_at", 1_000), ("founded", 500)] {
        let r = put(
            &app,
            "/v1/memories/kg/associations",
            json!({"source": alice, "target": acme, "kind": "semantic", "label": label,
                   "metadata": {"doc": "hr.pdf", "page": 3}, "valid_from_ms": from}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let listed = |query: &'static str| {
        let app = &app;
        let alice = alice.clone();
        async move {
            let r = get(
                app,
                &format!("/v1/memories/kg/concepts/{alice}/associations{query}"),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.json["associations"]
                .as_array()
                .expect("list")
                .iter()
                .map(|a| a["label"].as_str().expect("label").to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("").await, ["founded", "works_at"]);
    let invalidate = post(
        &app,
        &format!(
            "/v1/memories/kg/associations/{alice}/{acme}/semantic/invalidate?label=works_at&valid_until_ms=2000"
        ),
        json!(null),
    )
    .await;
    assert_eq!(invalidate.status, StatusCode::OK, "{}", invalidate.text);
    assert_eq!(listed("").await, ["founded"], "hidden now");
    assert_eq!(listed("?as_of=1500").await, ["founded", "works_at"]);
    assert_eq!(listed("?as_of=700").await, ["founded"], "not yet valid");
    let all = get(
        &app,
        &format!("/v1/memories/kg/concepts/{alice}/associations?include_invalid=true"),
    )
    .await;
    let works = &all.json["associations"][1];
    assert_eq!(
        (
            &works["label"],
            &works["valid_from_ms"],
            &works["valid_until_ms"],
            &works["metadata"]
        ),
        (
            &json!("works_at"),
            &json!(1000),
            &json!(2000),
            &json!({"doc": "hr.pdf", "page": 3})
        )
    );
    let path = post(
        &app,
        "/v1/memories/kg/paths",
        json!({"from": alice, "to": acme, "algorithm": "k_best", "k": 3, "include_invalid": true}),
    )
    .await;
    assert_eq!(path.status, StatusCode::OK, "{}", path.text);
    let trail: Vec<&str> = path.json["paths"]
        .as_array()
        .expect("paths")
        .iter()
        .map(|p| p["steps"][0]["label"].as_str().expect("label"))
        .collect();
    assert_eq!(trail, ["founded", "works_at"]);
    // Deleting names the label; the unlabelled one does not exist.
    let none = delete(
        &app,
        &format!("/v1/memories/kg/associations/{alice}/{acme}/semantic"),
    )
    .await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::NOT_FOUND, "association_not_found")
    );
    let gone = delete(
        &app,
        &format!("/v1/memories/kg/associations/{alice}/{acme}/semantic?label=founded"),
    )
    .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.text);
    assert_eq!(listed("?include_invalid=true").await, ["works_at"]);
    // Only some labels (a JSON array, URL-encoded).
    assert_eq!(
        listed("?include_invalid=true&labels=%5B%22works_at%22%5D").await,
        ["works_at"]
    );
    assert!(listed("?include_invalid=true&labels=%5B%22founded%22%5D")
        .await
        .is_empty());

    // Bad input, each refused by name with a 422 (or a 404 for what does not exist).
    let cases = [
        (
            json!({"source": alice, "target": acme, "kind": "causal", "label": "x".repeat(257)}),
            "label (bytes) is too large: 257 exceeds the limit of 256",
        ),
        (
            json!({"source": alice, "target": acme, "kind": "causal", "label": "a\tb"}),
            "invalid label: labels are one line of text: '\\t' is a control character",
        ),
        (
            json!({"source": alice, "target": acme, "kind": "causal", "valid_from_ms": 10, "valid_until_ms": 9}),
            "invalid valid_until_ms: 9 (1970-01-01T00:00:00.009Z) is before valid_from_ms 10 (1970-01-01T00:00:00.010Z)",
        ),
        (
            json!({"source": alice, "target": acme, "kind": "causal", "metadata": {"": 1}}),
            "invalid metadata: metadata keys must not be empty",
        ),
    ];
    for (body, message) in cases {
        let r = put(&app, "/v1/memories/kg/associations", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.message(), message);
    }
    let before = post(
        &app,
        &format!(
            "/v1/memories/kg/associations/{alice}/{acme}/semantic/invalidate?label=works_at&valid_until_ms=999"
        ),
        json!(null),
    )
    .await;
    assert_eq!(
        before.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        before.text
    );
    assert_eq!(
        before.message(),
        "invalid valid_until_ms: 999 (1970-01-01T00:00:00.999Z) is before the association's valid_from_ms 1000 (1970-01-01T00:00:01Z)"
    );
    let missing = post(
        &app,
        &format!("/v1/memories/kg/associations/{alice}/{acme}/causal/invalidate"),
        json!(null),
    )
    .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "association_not_found")
    );
    let both = get(
        &app,
        &format!("/v1/memories/kg/concepts/{alice}/associations?as_of=1&include_invalid=true"),
    )
    .await;
    assert_eq!(
        both.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        both.text
    );
    assert_eq!(both.json["error"]["field"], "include_invalid");
}
