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
    assert!(
        bad_conf.message().contains("confidence") && bad_conf.message().contains("0..=1"),
        "{}",
        bad_conf.message()
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
