//! The aggregator against DynamoDB Local and its stream: a random history of purchases, scanner
//! sweeps, clicks, confirmations and changed answers, handed to the fold as badly as Lambda's
//! event source mapping may (batches delivered again after they were folded, split in two,
//! delivered twice at once, shards split with an item's history on both sides, shards served in
//! any order), must leave rollups equal to a recount of the raw items, and their NPS equal to the
//! scoring crate's on the raw scores. Rebuilds, alone or racing answers, folds and each other,
//! must leave the same.
//!
//! The seed is printed; `NPS_SEED=<seed>` replays a failure.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::http::{Method, StatusCode};
use nps_adapters::dynamo::{CapacityMeter, Change, Counted, DynamoRollups, TableStream};
use nps_aggregation::Aggregator;
use nps_domain::Timestamp;
use nps_domain::rollup::{Counts, Deltas, RollupKey, WeightKey};
use nps_domain::survey::SurveyId;
use nps_scoring::{Histogram, Score, Summary};
use serde_json::json;
use support::{Stack, capture_call, emailed_links, purchase, stack, unique};

const LINKS: &str = "https://nps.example";
const PRODUCTS: [&str; 3] = ["boots", "hats", "socks"];

fn aggregator(s: &Stack, meter: Option<Arc<CapacityMeter>>) -> Aggregator {
    let table = match meter {
        Some(meter) => s.table.clone().metered(meter),
        None => s.table.clone(),
    };
    Aggregator::new(DynamoRollups::new(table))
}

/// Lambda's event source mapping at its worst, for the table's stream: each record goes to one of
/// a few shards by its item (as DynamoDB keeps an item's changes in one shard), a shard may split
/// (its child takes the item's later changes, and waits until the parent is read to its end), and
/// batches of random size are handed to the fold from any shard, some of them again after they
/// were folded (whole, or one half after the other, as a retry after a crash and a bisect would),
/// some twice at once.
struct Adversary {
    stream: TableStream,
    /// How far each real shard is read.
    read: BTreeMap<String, String>,
    shards: Vec<FakeShard>,
    /// Shard of each item, by key.
    homes: BTreeMap<String, usize>,
    redelivered: usize,
    split: usize,
    raced: usize,
    /// Records the fold skipped as folded already.
    skipped: usize,
}

struct FakeShard {
    id: String,
    parent: Option<usize>,
    /// Closed: its later records go to its child.
    closed: bool,
    pending: Vec<Change>,
    /// Batches already folded, for redelivery.
    folded: Vec<Vec<Change>>,
}

impl Adversary {
    async fn new(s: &Stack) -> Adversary {
        let shards = (0..3)
            .map(|i| FakeShard {
                id: format!("shard-{i}"),
                parent: None,
                closed: false,
                pending: vec![],
                folded: vec![],
            })
            .collect();
        let stream = support::table_stream(&s.table).await;
        Adversary {
            stream,
            read: BTreeMap::new(),
            shards,
            homes: BTreeMap::new(),
            redelivered: 0,
            split: 0,
            raced: 0,
            skipped: 0,
        }
    }

    /// Reads what the stream holds past the last read into the fake shards.
    async fn read(&mut self, rng: &mut fastrand::Rng) {
        for shard in self.stream.shards().await.unwrap() {
            let mut iterator =
                self.stream.start(&shard.id, self.read.get(&shard.id).map(String::as_str)).await.unwrap();
            while let Some(at) = iterator {
                let page = self.stream.page(&at).await.unwrap();
                if page.changes.is_empty() {
                    break;
                }
                for change in page.changes {
                    self.read.insert(shard.id.clone(), change.sequence.clone());
                    // An item's changes stay on one shard (those the rollups do not count, on any).
                    let counted = [&change.new, &change.old]
                        .into_iter()
                        .find_map(|read| read.as_ref().ok().and_then(Option::as_ref));
                    let key = counted.map(|c| format!("{:?}", c.id())).unwrap_or_default();
                    let home = *self.homes.entry(key.clone()).or_insert_with(|| rng.usize(..3));
                    // Follow the item to the newest child of its shard.
                    let mut at = home;
                    while self.shards[at].closed {
                        at = self.shards.iter().position(|s| s.parent == Some(at)).unwrap();
                    }
                    self.homes.insert(key, at);
                    self.shards[at].pending.push(change);
                }
                iterator = page.next;
            }
        }
        // Now and then a shard splits: its child takes the changes from here on.
        if rng.u8(..4) == 0 {
            let open: Vec<usize> = (0..self.shards.len()).filter(|i| !self.shards[*i].closed).collect();
            let parent = open[rng.usize(..open.len())];
            self.shards[parent].closed = true;
            let id = format!("{}-child", self.shards[parent].id);
            self.shards.push(FakeShard { id, parent: Some(parent), closed: false, pending: vec![], folded: vec![] });
        }
    }

    /// Hands batches to the fold until every shard is empty, the shards in random order.
    async fn deliver(&mut self, aggregator: &Aggregator, rng: &mut fastrand::Rng) {
        loop {
            let ready: Vec<usize> = (0..self.shards.len())
                .filter(|&i| !self.shards[i].pending.is_empty())
                .filter(|&i| self.shards[i].parent.is_none_or(|p| self.shards[p].pending.is_empty()))
                .collect();
            if ready.is_empty() {
                return;
            }
            let i = ready[rng.usize(..ready.len())];
            let n = rng.usize(1..=self.shards[i].pending.len().min(40));
            let batch: Vec<Change> = self.shards[i].pending.drain(..n).collect();
            let id = self.shards[i].id.clone();
            match rng.u8(..6) {
                0 => {
                    // Delivered twice at once (a duplicate invocation): one folds, the other skips.
                    self.raced += 1;
                    let (a, b) = tokio::join!(
                        aggregator.fold(&id, &batch, Timestamp::now()),
                        aggregator.fold(&id, &batch, Timestamp::now())
                    );
                    a.unwrap();
                    b.unwrap();
                }
                1 if batch.len() > 1 => {
                    // Folded, then the invocation "failed": the mapping splits it and retries both halves.
                    self.split += 1;
                    aggregator.fold(&id, &batch, Timestamp::now()).await.unwrap();
                    let (first, second) = batch.split_at(batch.len() / 2);
                    self.skipped += aggregator.fold(&id, first, Timestamp::now()).await.unwrap().skipped;
                    self.skipped += aggregator.fold(&id, second, Timestamp::now()).await.unwrap().skipped;
                }
                _ => {
                    aggregator.fold(&id, &batch, Timestamp::now()).await.unwrap();
                }
            }
            // Now and then an earlier batch of any shard comes again (a retry after a crash).
            let folded: Vec<usize> = (0..self.shards.len()).filter(|&j| !self.shards[j].folded.is_empty()).collect();
            if !folded.is_empty() && rng.u8(..3) == 0 {
                self.redelivered += 1;
                let j = folded[rng.usize(..folded.len())];
                let old = self.shards[j].folded[rng.usize(..self.shards[j].folded.len())].clone();
                let id = self.shards[j].id.clone();
                // Skipped, up to the shard's last fold (records counting for nothing after it are
                // simply read again).
                self.skipped += aggregator.fold(&id, &old, Timestamp::now()).await.unwrap().skipped;
            }
            self.shards[i].folded.push(batch);
        }
    }
}

/// Every item of the table, raw.
async fn scan(s: &Stack) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = s
            .table
            .client()
            .scan()
            .table_name(s.table.name())
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return items,
        }
    }
}

/// The rollups of the generation in use: `ROLLUP#<generation>#<survey>#<dimension>=<value>` / day.
/// Fails if the table holds rollup items of any other generation.
async fn stored_rollups(s: &Stack) -> BTreeMap<RollupKey, Counts> {
    let generation = DynamoRollups::new(s.table.clone()).checkpoint().await.unwrap().generation;
    let prefix = format!("ROLLUP#{generation}#");
    let mut rollups = BTreeMap::new();
    for item in scan(s).await {
        let pk = item["pk"].as_s().unwrap();
        if !pk.starts_with("ROLLUP#") || *pk == format!("ROLLUP#{generation}") {
            continue; // not a rollup, or the rebuild's claim of the generation in use
        }
        let rest = pk.strip_prefix(&prefix).unwrap_or_else(|| panic!("{pk}: a rollup of a generation not in use"));
        if item["sk"].as_s().unwrap().starts_with("VALUE#") {
            continue;
        }
        let (survey, pair) = rest.split_once('#').unwrap();
        let (dimension, value) = pair.split_once('=').unwrap();
        let field = |name: &str| item.get(name).map(|v| v.as_n().unwrap().parse::<i64>().unwrap()).unwrap_or(0);
        let mut counts = Counts {
            unconfirmed: field("unconfirmed"),
            suspected_bot: field("suspected_bot"),
            sent: field("sent"),
            comments: field("comments"),
            ..Counts::default()
        };
        for (i, bucket) in counts.scores.iter_mut().enumerate() {
            *bucket = field(&format!("h{i}"));
        }
        // `w#<property>#<currency>#<n|s|q><category>`.
        for (name, value) in item.iter().filter(|(name, _)| name.starts_with("w#")) {
            let parts: Vec<&str> = name.split('#').collect();
            let [_, property, currency, column] = parts[..] else { panic!("{name}") };
            let key = WeightKey { property: property.into(), currency: currency.into() };
            let totals = counts.weights.entry(key);
            let category = usize::from(column.as_bytes()[1] - b'0');
            let value: i128 = value.as_n().unwrap().parse().unwrap();
            match &column[..1] {
                "n" => totals.n[category] = value as i64,
                "s" => totals.sums[category] = value,
                "q" => totals.squares[category] = value,
                _ => panic!("{name}"),
            }
        }
        counts.weights.retain_nonzero();
        let key = RollupKey {
            survey: SurveyId::parse(survey).unwrap(),
            dimension: dimension.into(),
            value: value.into(),
            day: item["sk"].as_s().unwrap().clone(),
        };
        if !counts.is_zero() {
            rollups.insert(key, counts);
        }
    }
    rollups
}

/// What the raw requests and responses count, and their confirmed scores.
async fn recount(s: &Stack) -> (BTreeMap<RollupKey, Counts>, Vec<Score>) {
    recount_without(s, "").await
}

/// [`recount`], leaving out the item of partition key `left_out`.
async fn recount_without(s: &Stack, left_out: &str) -> (BTreeMap<RollupKey, Counts>, Vec<Score>) {
    let mut deltas = Deltas::default();
    let mut scores = Vec::new();
    for item in scan(s).await.into_iter().filter(|i| i["pk"].as_s().unwrap() != left_out) {
        let Some(counted) = Counted::parse(&item).unwrap() else { continue };
        if let Counted::Response(r) = &counted {
            scores.extend(r.score);
        }
        deltas.add(Some(counted.image()), 1);
    }
    (deltas.iter().map(|(k, c)| (k.clone(), c.clone())).collect(), scores)
}

#[tokio::test]
async fn rollups_equal_a_recount_after_a_random_history_delivered_as_badly_as_lambda_may() {
    let seed = std::env::var("NPS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| fastrand::u64(..));
    println!("NPS_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let s = stack("aggregation", LINKS, &["product"]).await;
    let aggregator = aggregator(&s, None);
    let mut adversary = Adversary::new(&s).await;

    // Customers, each sent a survey about one product; some purchases are folded early.
    let mut links = Vec::new();
    for i in 0..24 {
        let email = unique(&format!("agg{i}"));
        // Some purchases name no product: they count in `all` only.
        let mut properties = match PRODUCTS.get(rng.usize(..=PRODUCTS.len())) {
            Some(product) => json!({ "product": product }),
            None => json!({}),
        };
        // Most carry an amount that weighs the answer, some in no currency.
        if rng.u8(..4) > 0 {
            properties["amount"] = json!(format!("{}.{:02}", rng.u32(..5000), rng.u8(..100)));
            if let Some(currency) = ["usd", "EUR"].get(rng.usize(..3)) {
                properties["currency"] = json!(currency);
            }
        }
        let answer = purchase(&s, &email, &format!("order-{i}-{email}"), properties).await;
        assert_eq!(answer["status"], "sent", "{answer}");
        let (link, _) = emailed_links(&s, &email, 0).await;
        links.push(link.replace(LINKS, "").split('?').next().unwrap().to_owned());
        if rng.u8(..4) == 0 {
            adversary.read(&mut rng).await;
            adversary.deliver(&aggregator, &mut rng).await;
        }
    }

    for _ in 0..160 {
        let path = &links[rng.usize(..links.len())];
        let score = rng.u8(..=10);
        match rng.u8(..12) {
            0..=3 => {
                let agent = if rng.bool() { "Mozilla/5.0 (person)" } else { "Mimecast link scanner" };
                let page =
                    s.capture.handle(capture_call(Method::GET, &format!("{path}?score={score}"), agent, "")).await;
                assert_eq!(page.status(), StatusCode::OK);
            }
            4..=7 => {
                let comment = if rng.bool() { "&comment=because" } else { "" };
                let form = format!("score={score}{comment}");
                let page = s.capture.handle(capture_call(Method::POST, path, "Mozilla/5.0 (person)", &form)).await;
                assert_eq!(page.status(), StatusCode::OK);
            }
            8 => {
                // Sweep all eleven scores within a second, as a scanner does.
                for sweep in 0..=10 {
                    let sweep_path = format!("{path}?score={sweep}");
                    s.capture.handle(capture_call(Method::GET, &sweep_path, "Mozilla/5.0 (sandbox)", "")).await;
                }
            }
            9 | 10 => {
                adversary.read(&mut rng).await;
                adversary.deliver(&aggregator, &mut rng).await;
            }
            _ => {
                s.capture.handle(capture_call(Method::HEAD, &format!("{path}?score={score}"), "curl/8", "")).await;
            }
        }
    }
    adversary.read(&mut rng).await;
    adversary.deliver(&aggregator, &mut rng).await;
    println!(
        "{} fake shards, {} batches redelivered, {} split after folding, {} raced, {} records skipped",
        adversary.shards.len(),
        adversary.redelivered,
        adversary.split,
        adversary.raced,
        adversary.skipped
    );
    assert!(adversary.shards.iter().any(|s| s.parent.is_some()), "a shard split (seed {seed})");

    let stored = stored_rollups(&s).await;
    let (expected, scores) = recount(&s).await;
    assert_eq!(stored, expected, "rollups == a recount of the raw items (seed {seed})");
    let currencies: BTreeSet<&str> =
        stored.values().flat_map(|c| c.weights.iter()).map(|(k, _)| k.currency.as_str()).collect();
    assert!(!currencies.is_empty(), "the answers' amounts weigh in the rollups (seed {seed})");
    assert!(adversary.skipped > 0, "records were delivered again and skipped (seed {seed})");
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for key in expected.keys().filter(|k| k.dimension != "all") {
        values.entry(key.dimension.clone()).or_default().insert(key.value.clone());
    }
    let default = SurveyId::parse("default").unwrap();
    let rollups = DynamoRollups::new(s.table.clone());
    let generation = rollups.checkpoint().await.unwrap().generation;
    let listed = rollups.segment_values(generation, &default, None).await.unwrap();
    assert_eq!(listed, values, "every segment value with rollups is listed, and no other");
    // By month: each value is listed for the months it has rollups in (an item per value).
    let months: BTreeSet<&str> = expected.keys().map(|k| &k.day[..7]).collect();
    let (first, last) = (*months.first().unwrap(), *months.last().unwrap());
    assert_eq!(rollups.segment_values(generation, &default, Some((first, last))).await.unwrap(), values);
    let before = rollups.segment_values(generation, &default, Some(("2000-01", "2000-12"))).await.unwrap();
    assert!(before.is_empty(), "no value has rollups in 2000: {before:?}");

    // NPS over all days of the `all` rollups == the scoring crate on the raw confirmed scores.
    let mut folded = Counts::default();
    for (key, counts) in &stored {
        if key.dimension == "all" {
            folded.add(counts, 1);
        }
    }
    let mut raw = Histogram::EMPTY;
    for score in &scores {
        raw.insert(*score);
    }
    assert_eq!(folded.histogram(), Some(raw));
    assert_eq!(Summary::of(&folded.histogram().unwrap()), Summary::of(&raw));
    assert_eq!(folded.sent, 24);

    // And a rebuild from the raw items counts exactly what the folds counted.
    aggregator.rebuild(&adversary.stream, Timestamp::now()).await.unwrap();
    assert_eq!(stored_rollups(&s).await, stored, "rebuild == incremental (seed {seed})");
}

#[tokio::test]
async fn idle_it_is_never_invoked_and_its_own_writes_never_reach_it() {
    let s = stack("aggregation-idle", LINKS, &["product"]).await;
    let email = unique("idle");
    purchase(&s, &email, &format!("order-{email}"), json!({"product": "boots"})).await;
    // The fold's own writes (rollups, the shard's position) are in the stream too, read by the
    // same pass; the mapping's filter keeps them from the function.
    let first = support::aggregate(&s.table, &aggregator(&s, None), Timestamp::now()).await;
    assert!(
        first.folds > 0 && first.pumped.delivered < first.pumped.read,
        "the filter passes requests only: {first:?}"
    );

    // Nothing new: nothing is invoked, read or written.
    let meter = Arc::new(CapacityMeter::default());
    let idle = support::aggregate(&s.table, &aggregator(&s, Some(meter.clone())), Timestamp::now()).await;
    assert_eq!((idle.pumped.invocations, meter.read_units(), meter.write_units()), (0, 0.0, 0.0), "{idle:?}");
}

#[tokio::test]
async fn a_record_that_cannot_be_read_is_left_alone_and_the_others_count() {
    let s = stack("aggregation-poison", LINKS, &["product"]).await;
    for i in 0..3 {
        let email = unique(&format!("poison{i}"));
        purchase(&s, &email, &format!("order-{email}"), json!({"product": "boots"})).await;
    }
    // A request item this code never writes (no state), between the good ones.
    let id = nps_domain::request::RequestId::new(Timestamp::now());
    let mut item = std::collections::HashMap::new();
    item.insert("pk".to_owned(), AttributeValue::S(format!("REQUEST#{id}")));
    item.insert("sk".to_owned(), AttributeValue::S("REQUEST".to_owned()));
    s.table.client().put_item().table_name(s.table.name()).set_item(Some(item)).send().await.unwrap();
    for i in 3..6 {
        let email = unique(&format!("poison{i}"));
        purchase(&s, &email, &format!("order-{email}"), json!({"product": "boots"})).await;
    }
    let run = support::aggregate(&s.table, &aggregator(&s, None), Timestamp::now()).await;
    // Split until it stands alone, retried, then given up: the dead letters' one record.
    assert_eq!(run.pumped.discarded, 1, "{run:?}");
    let (expected, _) = recount_without(&s, &format!("REQUEST#{id}")).await;
    assert_eq!(stored_rollups(&s).await, expected, "every other record counted");
    assert_eq!(expected.values().filter(|_| true).map(|c| c.sent).max(), Some(6));
}

#[tokio::test]
async fn a_rebuild_recounts_what_the_folds_counted_and_they_go_on_from_it() {
    let s = stack("aggregation-rebuild", LINKS, &["product"]).await;
    let aggregator = aggregator(&s, None);
    let stream = support::table_stream(&s.table).await;
    let mut links = Vec::new();
    for (i, product) in ["boots", "hats", "boots", "socks"].into_iter().enumerate() {
        let email = unique(&format!("rebuild{i}"));
        purchase(&s, &email, &format!("order-{email}"), json!({ "product": product })).await;
        let (link, _) = emailed_links(&s, &email, 0).await;
        links.push(link.replace(LINKS, "").split('?').next().unwrap().to_owned());
    }
    let answer =
        |path: &str, score: u8| capture_call(Method::POST, path, "Mozilla/5.0 (person)", &format!("score={score}"));
    for (path, score) in links.iter().zip([9, 3, 10, 7]) {
        s.capture.handle(answer(path, score)).await;
    }
    s.capture.handle(capture_call(Method::GET, &format!("{}?score=2", links[3]), "Mozilla/5.0 (person)", "")).await;
    support::aggregate(&s.table, &aggregator, Timestamp::now()).await;
    let incremental = stored_rollups(&s).await;
    assert_eq!(incremental, recount(&s).await.0);

    let rebuilt = aggregator.rebuild(&stream, Timestamp::now()).await.unwrap();
    assert_eq!(rebuilt.generation, 2);
    assert!(rebuilt.deleted > 0, "the first generation's items are gone: {rebuilt:?}");
    assert_eq!(stored_rollups(&s).await, incremental, "rebuild == incremental");

    // The mapping behind the rebuild: a change the rebuild counted, delivered after its switch, is
    // skipped (the shard's floor).
    s.capture.handle(answer(&links[1], 8)).await;
    aggregator.rebuild(&stream, Timestamp::now()).await.unwrap();
    let behind = support::aggregate(&s.table, &aggregator, Timestamp::now()).await;
    assert!(behind.folds == 0 && behind.skipped > 0, "{behind:?}");
    assert_eq!(stored_rollups(&s).await, recount(&s).await.0);

    // Folds go on into the new generation.
    s.capture.handle(answer(&links[2], 6)).await;
    let run = support::aggregate(&s.table, &aggregator, Timestamp::now()).await;
    assert!(run.folds > 0, "{run:?}");
    assert_eq!(stored_rollups(&s).await, recount(&s).await.0);

    // A rebuild while a person answers and the mapping folds.
    let (rebuilt, page, _) = tokio::join!(
        aggregator.rebuild(&stream, Timestamp::now()),
        s.capture.handle(answer(&links[0], 4)),
        support::aggregate(&s.table, &aggregator, Timestamp::now())
    );
    rebuilt.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    support::aggregate(&s.table, &aggregator, Timestamp::now()).await;
    let (expected, _) = recount(&s).await;
    assert_eq!(stored_rollups(&s).await, expected, "a rebuild racing a fold");

    // A rebuild that died after writing part of its generation, before the switch: the next
    // rebuild claims another generation and deletes the leftovers.
    let rollups = DynamoRollups::new(s.table.clone());
    let next = rollups.checkpoint().await.unwrap().generation + 1;
    let crashed = rollups.claim_generation(next, Timestamp::now()).await.unwrap();
    let mut partial = Deltas::default();
    let stray = RollupKey {
        survey: SurveyId::parse("default").unwrap(),
        dimension: "product".into(),
        value: "boots".into(),
        day: "2026-01-01".into(),
    };
    partial.add_to(&[stray], &Counts { sent: 7, ..Counts::default() }, 1);
    rollups.write_generation(crashed, &partial).await.unwrap();
    let rebuilt = aggregator.rebuild(&stream, Timestamp::now()).await.unwrap();
    assert!(rebuilt.generation > crashed, "{rebuilt:?}");
    assert_eq!(stored_rollups(&s).await, expected, "no rollups of the crashed generation are left");

    // Two rebuilds at once: one switches; the other, overtaken, leaves nothing behind.
    let (a, b) =
        tokio::join!(aggregator.rebuild(&stream, Timestamp::now()), aggregator.rebuild(&stream, Timestamp::now()));
    for result in [&a, &b] {
        if let Err(e) = result {
            assert!(matches!(e, nps_aggregation::RebuildError::Overtaken(_)), "{e}");
        }
    }
    assert!(a.is_ok() || b.is_ok());
    assert_eq!(stored_rollups(&s).await, expected, "and no rollups of another generation are left");
}
