//! `make demo`: something meaningful on the dashboard, in the inbox and in the metrics API within
//! a minute of `make dev`. Two parts:
//!
//! - history (the last `days` days before today), written straight into the table, because answers
//!   cannot be given in the past through HTTP: a request and a confirmed response per purchase, over
//!   four products and three regions, mostly promoters, some comments; one product (stoves) drops
//!   in the last week. The stream's pump folds it like any other answer and the hourly drop check
//!   alerts on stoves; its detractors are too old to alert one by one.
//! - today, through the real HTTP endpoints: signed purchases to the trigger, their emails read
//!   back from the local inbox, people clicking a score and confirming it (some with a comment),
//!   some only clicking, and link scanners sweeping every link of a few emails.
//! - a list: `members` people added to the relationship survey `accounts` through the API (100 a
//!   call), on a one-day cadence, whose first wave goes out over that day, a minute in `make dev`
//!   (`NPS_CADENCE_DAY_SECONDS`); the demo watches the inbox while dispatch sends it, has a third
//!   of the members answer, then pauses the list so the inbox stays readable.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nps_adapters::dynamo::{
    DynamoFollowUps, DynamoRequests, DynamoResponses, DynamoRollups, DynamoSurveys, Saved, Table,
};
use nps_domain::Timestamp;
use nps_domain::fixtures;
use nps_domain::follow_up::{Edit, FollowUp, Status};
use nps_domain::response::{Click, Comment, Response};
use nps_domain::survey::{Locale, Survey, SurveyId, SurveyKind};
use nps_domain::weight::Weights;
use nps_scoring::Score;
use serde_json::{Value, json};

const DAY: i64 = 86_400;
/// The stoves' detractors of the history that support has already called back.
const CONTACTED: usize = 3;
/// Stoves sell twice as often as the rest: enough answers in a week for their drop to be called.
const PRODUCTS: [&str; 5] = ["boots", "tents", "stoves", "stoves", "jackets"];
const REGIONS: [&str; 3] = ["eu", "us", "apac"];
const CHANNELS: [&str; 2] = ["web", "store"];
/// Each product's price range: stoves are what the unhappy customers of the last week paid for.
const PRICES: [(&str, u32, u32); 4] =
    [("boots", 90, 180), ("tents", 200, 450), ("stoves", 120, 260), ("jackets", 150, 320)];
/// Scores drawn for a usual answer (promoters first, as real answers lean) and for the product
/// whose week went wrong.
const USUAL: [u8; 20] = [10, 10, 10, 10, 9, 9, 9, 9, 9, 8, 8, 8, 7, 7, 6, 5, 4, 3, 9, 10];
const BAD_WEEK: [u8; 10] = [2, 3, 4, 5, 6, 6, 7, 1, 0, 9];
const PRAISE: [&str; 5] = [
    "Arrived a day early and fits perfectly.",
    "Great quality for the price.",
    "Support answered within minutes.",
    "Exactly as described, would buy again.",
    "Packaging was plastic-free, thank you!",
];
const NEUTRAL: [&str; 3] =
    ["Fine, but delivery took a while.", "Good product, the size chart could be clearer.", "Okay overall."];
const COMPLAINTS: [&str; 5] = [
    "The burner stopped working after two uses.",
    "Took three weeks to arrive.",
    "Nobody answered my emails about the return.",
    "Cheaply made, the zip broke.",
    "Charged twice for the same order.",
];
/// What the stoves' detractors say: the reason `/v1/themes` and the dashboard should name.
const STOVE_COMPLAINTS: [&str; 4] = [
    "The stove arrived broken.",
    "Stove arrived broken, the burner is cracked.",
    "Broken stove, and still no refund.",
    "The burner of my stove broke on the first trip.",
];
const PERSON: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
const SCANNER: &str = "Mozilla/5.0 (compatible; SafeLinks link checker)";

pub struct Demo {
    pub table: Table,
    pub trigger_url: String,
    pub webhook_secret: String,
    pub inbox_url: String,
    pub days: i64,
    pub per_day: usize,
    pub live: usize,
    /// The API (`/v1/surveys/{id}/members`) and its write key.
    pub api_url: String,
    pub api_key: String,
    /// People on the list (0: no list).
    pub members: usize,
    /// How long a cadence's day lasts here (`NPS_CADENCE_DAY_SECONDS`).
    pub cadence_day: Duration,
}

/// The relationship survey of the demo's list: every member asked once a (cadence) day.
fn list_survey(paused: bool) -> Result<Survey> {
    Ok(Survey {
        id: SurveyId::parse("accounts")?,
        kind: SurveyKind::Relationship,
        product_name: "Demo Shop".into(),
        sender: "Demo Shop <accounts@demo-shop.example>".into(),
        default_locale: Locale::En,
        throttle_days: 0,
        delay_seconds: 0,
        reminder_after_days: None,
        segment_properties: ["plan"].map(String::from).to_vec(),
        weight_properties: vec![],
        cadence: Some(nps_domain::survey::Cadence { frequency_days: 1, paused }),
    })
}

/// Plans of the demo's accounts.
const PLANS: [&str; 3] = ["free", "team", "enterprise"];
/// The longest the demo watches a first wave go out.
const MAX_WATCH: Duration = Duration::from_secs(180);

/// The `default` survey `make dev` seeds and the demo answers.
pub fn survey() -> Result<Survey> {
    Ok(Survey {
        id: SurveyId::parse("default")?,
        kind: SurveyKind::Transactional,
        product_name: "Demo Shop".into(),
        sender: "Demo Shop <surveys@demo-shop.example>".into(),
        default_locale: Locale::En,
        throttle_days: 90,
        delay_seconds: 0,
        reminder_after_days: Some(3),
        segment_properties: ["product", "channel", "region", "plan", "variant"].map(String::from).to_vec(),
        weight_properties: vec!["amount".to_owned()],
        cadence: None,
    })
}

/// The relationship survey `make dev` seeds: every member of its list asked once a quarter.
pub fn relationship_survey() -> Result<Survey> {
    Ok(Survey {
        id: SurveyId::parse("relationship")?,
        kind: SurveyKind::Relationship,
        product_name: "Demo Shop".into(),
        sender: "Demo Shop <surveys@demo-shop.example>".into(),
        default_locale: Locale::En,
        throttle_days: 0,
        delay_seconds: 0,
        reminder_after_days: None,
        segment_properties: ["plan", "region"].map(String::from).to_vec(),
        weight_properties: vec![],
        cadence: Some(nps_domain::survey::Cadence { frequency_days: 90, paused: false }),
    })
}

/// Four in ten answers carry a comment, eight in ten unhappy stove buyers': most say what broke.
fn comment_for(score: u8, product: &str, rng: &mut fastrand::Rng) -> Option<&'static str> {
    let unhappy_stove = product == "stoves" && score <= 6;
    if rng.u8(..10) >= if unhappy_stove { 8 } else { 4 } {
        return None;
    }
    Some(match score {
        9..=10 => PRAISE[rng.usize(..PRAISE.len())],
        7..=8 => NEUTRAL[rng.usize(..NEUTRAL.len())],
        _ if unhappy_stove && rng.u8(..10) < 7 => STOVE_COMPLAINTS[rng.usize(..STOVE_COMPLAINTS.len())],
        _ => COMPLAINTS[rng.usize(..COMPLAINTS.len())],
    })
}

/// A purchase's properties, as a shop sends them: what was bought, where, and what it cost (in
/// euros in the EU, dollars elsewhere).
fn properties(product: &str, rng: &mut fastrand::Rng) -> BTreeMap<String, String> {
    let region = REGIONS[rng.usize(..REGIONS.len())];
    let (low, high) = PRICES.iter().find(|(p, ..)| *p == product).map_or((20, 50), |(_, low, high)| (*low, *high));
    BTreeMap::from([
        ("product".to_owned(), product.to_owned()),
        ("region".to_owned(), region.to_owned()),
        ("channel".to_owned(), CHANNELS[rng.usize(..CHANNELS.len())].to_owned()),
        ("amount".to_owned(), format!("{}.{:02}", rng.u32(low..high), rng.u8(..100))),
        ("currency".to_owned(), if region == "eu" { "EUR" } else { "USD" }.to_owned()),
    ])
}

impl Demo {
    pub async fn run(&self) -> Result<()> {
        let mut rng = fastrand::Rng::with_seed(7);
        // The survey as make dev seeded it (make openapi-check may have replaced it with random ones).
        DynamoSurveys::new(self.table.clone()).put(&survey()?).await?;
        let history = self.history(&mut rng).await?;
        eprintln!("history: {history} answers over the {} days before today, written to the table", self.days);
        let (purchases, answered, swept) = self.today(&mut rng).await?;
        eprintln!(
            "today: {purchases} purchases through the trigger, {answered} answered through the emailed links, \
             {swept} emails swept by a link scanner"
        );
        // The history is folded by now (the pump hands the stream over within a second): check it
        // for drops at the next tick rather than at the next full hour.
        DynamoRollups::new(self.table.clone()).release_drop_check().await?;
        if self.members > 0 {
            self.list(&mut rng).await?;
        }
        Ok(())
    }

    /// A list added through the API, its first wave watched going out, a third answering.
    async fn list(&self, rng: &mut fastrand::Rng) -> Result<()> {
        let surveys = DynamoSurveys::new(self.table.clone());
        surveys.put(&list_survey(false)?).await?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let stamp = Timestamp::now().unix();
        let emails: Vec<String> = (0..self.members).map(|i| format!("account-{stamp}-{i}@example.com")).collect();
        for chunk in emails.chunks(100) {
            let members: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, email)| json!({"email": email, "properties": {"plan": PLANS[i % PLANS.len()]}}))
                .collect();
            let answer = http
                .post(format!("{}/v1/surveys/accounts/members", self.api_url))
                .bearer_auth(&self.api_key)
                .json(&json!({"members": members}))
                .send()
                .await
                .context("the api function (is make dev running?)")?;
            if !answer.status().is_success() {
                bail!("adding members answered {}: {}", answer.status(), answer.text().await.unwrap_or_default());
            }
        }
        eprintln!(
            "list: {} members added to the relationship survey accounts; its first wave goes out over a day \
             ({} s here)",
            self.members,
            self.cadence_day.as_secs()
        );
        // Watch the inbox while dispatch (every 30 s in make dev) sends the wave, if it is short.
        let watch = self.cadence_day + Duration::from_secs(45);
        if watch > MAX_WATCH {
            eprintln!("list: its cadence's days are real days here, so the wave is not watched");
            return Ok(());
        }
        let started = std::time::Instant::now();
        let mut asked: BTreeMap<String, String> = BTreeMap::new();
        while asked.len() < emails.len() && started.elapsed() < watch {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let store: Value = http.get(format!("{}/store", self.inbox_url)).send().await?.json().await?;
            for mail in store["emails"].as_array().context("the inbox's store")? {
                let to = mail["destination"]["to"][0].as_str().unwrap_or_default();
                let link = mail["body"]["text"].as_str().unwrap_or("").split_whitespace().find(|w| w.contains("/r/"));
                if let (true, Some(link)) = (to.starts_with(&format!("account-{stamp}-")), link) {
                    asked.entry(to.to_owned()).or_insert_with(|| link.split('?').next().unwrap_or(link).to_owned());
                }
            }
            eprintln!("list: {} of {} asked after {} s", asked.len(), emails.len(), started.elapsed().as_secs());
        }
        // One wave is enough to see: paused at once, so the inbox is not refilled every cadence
        // day (the first members' second wave may have begun by now; a few are asked twice).
        surveys.put(&list_survey(true)?).await?;
        // A third answer, the enterprise accounts less happy than the rest.
        let mut answered = 0;
        for (email, page) in asked.iter().step_by(3) {
            let enterprise = emails.iter().position(|e| e == email).is_some_and(|n| n % PLANS.len() == 2);
            let score =
                if enterprise { BAD_WEEK[rng.usize(..BAD_WEEK.len())] } else { USUAL[rng.usize(..USUAL.len())] };
            let form = format!("score={score}");
            let confirmed = http
                .post(page)
                .header("user-agent", PERSON)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await?;
            answered += usize::from(confirmed.status().is_success());
        }
        eprintln!(
            "list: {} of {} members of accounts asked in its first wave, {answered} answered; the list is paused now \
             (resume it: PUT /v1/surveys/accounts with \"paused\": false)",
            asked.len(),
            emails.len()
        );
        Ok(())
    }

    /// Past answers, straight into the table (a request as sent, a response as confirmed).
    async fn history(&self, rng: &mut fastrand::Rng) -> Result<usize> {
        let (requests, responses) = (DynamoRequests::new(self.table.clone()), DynamoResponses::new(self.table.clone()));
        let survey = survey()?;
        let mut contacted = 0;
        let today = Timestamp::now().unix() / DAY * DAY;
        let mut written = 0;
        for days_back in 1..=self.days {
            for i in 0..self.per_day {
                let product = PRODUCTS[rng.usize(..PRODUCTS.len())];
                let sent = Timestamp::from_unix(today - days_back * DAY + 8 * 3600 + rng.i64(0..8 * 3600));
                let n = usize::try_from(days_back)? * 10_000 + i;
                // As the trigger keeps an event's properties: the survey's segments, its weights, the rest.
                let all = properties(product, rng);
                let (segments, others): (BTreeMap<_, _>, BTreeMap<_, _>) =
                    all.clone().into_iter().partition(|(k, _)| survey.segment_properties.contains(k));
                let segments: Vec<(&str, &str)> = segments.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let mut request = fixtures::sent_request(n, "default", &segments, sent);
                request.weights = Weights::from_properties(&survey.weight_properties, &all);
                request.person_properties = others;
                let expires = sent.plus(Duration::from_secs(730 * 86_400));
                requests.create(&request, None, expires, sent).await?;
                let bad_week = product == "stoves" && days_back <= 7;
                let score =
                    if bad_week { BAD_WEEK[rng.usize(..BAD_WEEK.len())] } else { USUAL[rng.usize(..USUAL.len())] };
                let clicked = sent.plus(Duration::from_secs(600 + rng.u64(..40_000)));
                let mut response = Response::new(&request, SurveyKind::Transactional, clicked);
                response.record_click(Click::new(clicked, Score::try_from(score)?, PERSON, Some(sent)));
                let comment = comment_for(score, product, rng).map(Comment::parse).transpose()?.flatten();
                let confirmed = clicked.plus(Duration::from_secs(20 + rng.u64(..200)));
                response.confirm(Score::try_from(score)?, comment, confirmed, Duration::from_secs(7 * 86_400))?;
                if responses.save(&mut response, expires).await? != Saved::Done {
                    bail!("a demo response was saved twice");
                }
                // Support has called back the first few unhappy stove buyers.
                if bad_week && score <= 6 && contacted < CONTACTED {
                    self.contacted(&response, sent, expires).await?;
                    contacted += 1;
                }
                written += 1;
            }
        }
        Ok(written)
    }

    /// A stove buyer support called back: contacted, owned, tagged, with a note.
    async fn contacted(&self, response: &Response, sent: Timestamp, expires: Timestamp) -> Result<()> {
        let mut follow_up = FollowUp::default();
        let edit = Edit {
            status: Some(Status::Contacted),
            owner: Some("Dana (support)".into()),
            tags: Some(vec!["stove".into(), "replacement".into()]),
            note: Some("Called back: a replacement burner ships today.".into()),
        };
        follow_up.apply(edit, "make demo", sent.plus(Duration::from_secs(DAY as u64)))?;
        if DynamoFollowUps::new(self.table.clone()).save(response.request_id, &mut follow_up, expires).await?
            != Saved::Done
        {
            bail!("a demo follow-up was saved twice");
        }
        Ok(())
    }

    /// Today's purchases through the trigger, and the people (and scanners) behind them, decided
    /// up front (seeded) and sent [`IN_FLIGHT`] at a time.
    async fn today(&self, rng: &mut fastrand::Rng) -> Result<(usize, usize, usize)> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let stamp = Timestamp::now().unix();
        let buyers: Vec<Buyer> = (0..self.live)
            .map(|i| {
                let product = PRODUCTS[rng.usize(..PRODUCTS.len())];
                let score = if product == "stoves" {
                    BAD_WEEK[rng.usize(..BAD_WEEK.len())]
                } else {
                    USUAL[rng.usize(..USUAL.len())]
                };
                Buyer {
                    i,
                    email: format!("buyer-{stamp}-{i}@example.com"),
                    event: json!({
                        "event_id": format!("demo-{stamp}-{i}"),
                        "email": format!("buyer-{stamp}-{i}@example.com"),
                        "name": format!("Demo Buyer {i}"),
                        "transaction_id": format!("order-{stamp}-{i}"),
                        "properties": properties(product, rng),
                    }),
                    score,
                    comment: comment_for(score, product, rng),
                }
            })
            .collect();
        let (url, secret) = (self.trigger_url.clone(), self.webhook_secret.clone());
        in_flight(&buyers, |buyer| {
            let (http, url, secret) = (http.clone(), url.clone(), secret.clone());
            async move { buyer.purchase(&http, &url, &secret).await.map(|()| Done::Purchased) }
        })
        .await?;

        let store: Value = http.get(format!("{}/store", self.inbox_url)).send().await?.json().await?;
        let emails = store["emails"].as_array().context("the inbox's store")?;
        let mut mailed = Vec::new();
        for buyer in buyers {
            let Some(mail) = emails.iter().find(|e| e["destination"]["to"][0] == buyer.email.as_str()) else {
                continue;
            };
            let text = mail["body"]["text"].as_str().unwrap_or("");
            let links: Vec<String> = text
                .split_whitespace()
                .filter(|w| w.contains("/r/") && w.contains("score="))
                .map(str::to_owned)
                .collect();
            if !links.is_empty() {
                mailed.push((buyer, links));
            }
        }
        let done = in_flight(&mailed, |(buyer, links)| {
            let http = http.clone();
            async move { buyer.read(&http, &links).await }
        })
        .await?;
        let answered = done.iter().filter(|d| **d == Done::Answered).count();
        let swept = done.iter().filter(|d| **d == Done::Swept).count();
        Ok((self.live, answered, swept))
    }
}

/// HTTP calls of today's traffic in flight at once.
const IN_FLIGHT: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    Purchased,
    Answered,
    Clicked,
    Swept,
}

/// `work` on every item, [`IN_FLIGHT`] workers taking every `IN_FLIGHT`th item each; what each did.
async fn in_flight<T, F, W>(items: &[T], work: W) -> Result<Vec<Done>>
where
    T: Clone + Send + 'static,
    W: Fn(T) -> F,
    F: std::future::Future<Output = Result<Done>> + Send + 'static,
{
    let mut workers = tokio::task::JoinSet::new();
    for first in 0..IN_FLIGHT {
        let jobs: Vec<F> = items.iter().skip(first).step_by(IN_FLIGHT).cloned().map(&work).collect();
        workers.spawn(async move {
            let mut done = Vec::new();
            for job in jobs {
                done.push(job.await?);
            }
            Ok::<_, anyhow::Error>(done)
        });
    }
    let mut done = Vec::new();
    while let Some(worker) = workers.join_next().await {
        done.extend(worker??);
    }
    Ok(done)
}

/// One of today's buyers: the purchase the shop sends, and what they will do with the email.
#[derive(Clone)]
struct Buyer {
    i: usize,
    email: String,
    event: Value,
    score: u8,
    comment: Option<&'static str>,
}

impl Buyer {
    /// The shop's signed webhook for the purchase.
    async fn purchase(&self, http: &reqwest::Client, url: &str, secret: &str) -> Result<()> {
        let body = serde_json::to_vec(&self.event)?;
        let signature = nps_domain::crypto::sign_timestamped(secret.as_bytes(), Timestamp::now().unix(), &body);
        let answer = http
            .post(url)
            .header("content-type", "application/json")
            .header("x-nps-signature", signature)
            .body(body)
            .send()
            .await
            .context("the trigger function (is make dev running?)")?;
        if !answer.status().is_success() {
            bail!("the trigger answered {}: {}", answer.status(), answer.text().await.unwrap_or_default());
        }
        Ok(())
    }

    /// What happens to the email with the score `links`: a scanner sweeps it, or the person
    /// clicks a score and (mostly) confirms it.
    async fn read(&self, http: &reqwest::Client, links: &[String]) -> Result<Done> {
        if self.i % 8 == 7 {
            // A mail gateway's scanner: every link at once, HEAD and GET, before anyone reads it.
            for link in links {
                http.head(link).header("user-agent", SCANNER).send().await?;
                http.get(link).header("user-agent", SCANNER).send().await?;
            }
            return Ok(Done::Swept);
        }
        let page = links[0].split('?').next().unwrap_or(&links[0]);
        http.get(format!("{page}?score={}", self.score)).header("user-agent", PERSON).send().await?;
        if self.i % 5 == 4 {
            return Ok(Done::Clicked); // never confirmed
        }
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("score", &self.score.to_string());
            if let Some(comment) = self.comment {
                form.append_pair("comment", comment);
            }
            form.finish()
        };
        let confirmed = http
            .post(page)
            .header("user-agent", PERSON)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await?;
        Ok(if confirmed.status().is_success() { Done::Answered } else { Done::Clicked })
    }
}
