//! Lists on a cadence: what a member costs, against DynamoDB Local, in its own capacity figures
//! (`ReturnConsumedCapacity=TOTAL`, indexes included), with a mailer that only counts:
//!
//!     NPS_BENCH_MEMBERS=100000 infra/scripts/with-stack.sh cargo bench -p nps-system-tests --bench lists
//!
//! 1. A list of `NPS_BENCH_MEMBERS` (100,000) people is scheduled from a CSV file by
//!    `nps-cli members import` (32 in flight): the time, and read and write units per member.
//! 2. An idle dispatch run (nobody due) on an empty list, a list of 1,000 and the big list: its
//!    units, which must not grow with the list.
//! 3. The first day of each list's first wave (a thirtieth of it): dispatch runs until nobody is
//!    due; units and time per member asked (found, asked through the intake's rules, sent, moved
//!    on), which must not grow with the list either.

#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nps_adapters::dynamo::{CapacityMeter, DynamoSurveys, Table};
use nps_domain::Timestamp;
use nps_domain::mail::{MailError, Mailer, MessageId, OutgoingEmail};
use nps_domain::survey::{Cadence, Locale, Survey, SurveyId, SurveyKind};
use nps_local_stack::testing::{dynamodb, fresh_table_with};
use nps_sending::{Outbox, SendingConfig};

const PERIOD_DAYS: u32 = 30;

#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl Mailer for Counting {
    async fn send(&self, _: &OutgoingEmail) -> Result<MessageId, MailError> {
        Ok(MessageId(format!("m-{}", self.0.fetch_add(1, Ordering::Relaxed))))
    }
}

struct Units {
    meter: Arc<CapacityMeter>,
    read: f64,
    write: f64,
}

impl Units {
    fn new(meter: Arc<CapacityMeter>) -> Self {
        Units { meter, read: 0.0, write: 0.0 }
    }

    /// Units since the last call.
    fn take(&mut self) -> (f64, f64) {
        let (read, write) = (self.meter.read_units(), self.meter.write_units());
        let taken = (read - self.read, write - self.write);
        (self.read, self.write) = (read, write);
        taken
    }
}

/// A fresh table (no stream: nothing here aggregates) with a relationship survey on a 30-day cadence.
async fn list_table(meter: Arc<CapacityMeter>) -> Table {
    let client = dynamodb().await;
    let table = Table::new(client.clone(), fresh_table_with(&client, "bench-lists", false).await).metered(meter);
    let survey = Survey {
        id: SurveyId::parse("relationship").unwrap(),
        kind: SurveyKind::Relationship,
        product_name: "Bench Shop".into(),
        sender: "Bench Shop <accounts@bench.example>".into(),
        default_locale: Locale::En,
        throttle_days: 0,
        delay_seconds: 0,
        reminder_after_days: None,
        segment_properties: vec!["plan".into()],
        weight_properties: vec![],
        cadence: Some(Cadence { frequency_days: PERIOD_DAYS, paused: false }),
    };
    DynamoSurveys::new(table.clone()).put(&survey).await.unwrap();
    table
}

fn outbox(table: &Table, mailer: Counting) -> Outbox<Counting> {
    let vars = BTreeMap::from([
        ("NPS_PERSON_KEY", support::PERSON_KEY),
        ("NPS_TOKEN_KEYS", support::TOKEN_KEYS),
        ("NPS_CAPTURE_BASE_URL", "https://nps.example"),
    ]);
    Outbox::new(
        table.clone(),
        mailer,
        SendingConfig::from_lookup(&|k: &str| vars.get(k).map(|v| v.to_string())).unwrap(),
    )
}

/// Enrols `members` people from a CSV file through `nps-cli members import`: seconds taken.
async fn enrol(table: &Table, members: usize) -> f64 {
    let path = std::env::temp_dir().join(format!("nps-bench-members-{}-{members}.csv", std::process::id()));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(file, "email,name,plan").unwrap();
    for i in 0..members {
        writeln!(file, "member-{i}@bench.example,Member {i},{}", ["pro", "free", "team"][i % 3]).unwrap();
    }
    file.into_inner().unwrap().sync_all().unwrap();
    let options = nps_cli::members::Options {
        survey: SurveyId::parse("relationship").unwrap(),
        remove: false,
        dry_run: false,
        columns: BTreeMap::new(),
        person_key: nps_domain::person::PersonKey::new(support::PERSON_KEY).unwrap(),
        progress: false,
        cadence_day: nps_domain::survey::CADENCE_DAY,
    };
    let started = Instant::now();
    let report = nps_cli::members::run(table, &[path.to_string_lossy().into_owned()], &options, &mut Vec::new()).await;
    let took = started.elapsed().as_secs_f64();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(report.unwrap().added, members);
    took
}

/// Dispatch runs at `at` until nobody is due: members asked, emails sent, seconds.
async fn drain(outbox: &Outbox<Counting>, at: Timestamp) -> (usize, usize, f64) {
    let started = Instant::now();
    let (mut waves, mut sent) = (0, 0);
    loop {
        let report = outbox.dispatch(at).await.unwrap();
        assert_eq!(report.errors, 0, "{report:?}");
        waves += report.waves;
        sent += report.sent;
        if report.waves == 0 && report.sent == 0 {
            return (waves, sent, started.elapsed().as_secs_f64());
        }
    }
}

async fn bench() {
    let big: usize = std::env::var("NPS_BENCH_MEMBERS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    println!("lists on a {PERIOD_DAYS}-day cadence, against DynamoDB Local (units: its ReturnConsumedCapacity)");
    println!(
        "| list | enrol: time | per member: read, write units | idle run: read, write units | first day's wave: members | per member asked: read, write units, ms |"
    );
    println!("|---|---|---|---|---|---|");
    for members in [0, 1_000, big] {
        let meter = Arc::new(CapacityMeter::default());
        let table = list_table(meter.clone()).await;
        let mut units = Units::new(meter);
        units.take();
        let before = Timestamp::now();
        let took = if members > 0 { enrol(&table, members).await } else { 0.0 };
        let (enrol_read, enrol_write) = units.take();
        let mailer = Counting::default();
        let outbox = outbox(&table, mailer.clone());
        // Before anyone is due: what an idle run costs.
        let (idle, _, _) = drain(&outbox, Timestamp::from_unix(before.unix() - 3600)).await;
        assert_eq!(idle, 0);
        let (idle_read, idle_write) = units.take();
        // The first day: about a thirtieth of the list is due.
        let (asked, sent, seconds) = drain(&outbox, before.plus(Duration::from_secs(86_400))).await;
        let (read, write) = units.take();
        assert_eq!((sent, mailer.0.load(Ordering::Relaxed)), (asked, asked), "each member asked is sent one survey");
        let per = |u: f64, n: usize| if n == 0 { "–".to_owned() } else { format!("{:.2}", u / n as f64) };
        println!(
            "| {members} | {} | {}, {} | {idle_read:.1}, {idle_write:.1} | {asked} | {}, {}, {} |",
            if members > 0 { format!("{took:.1} s ({:.0}/s)", members as f64 / took) } else { "–".into() },
            per(enrol_read, members),
            per(enrol_write, members),
            per(read, asked),
            per(write, asked),
            if asked == 0 { "–".to_owned() } else { format!("{:.1}", seconds * 1000.0 / asked as f64) },
        );
    }
}

fn main() {
    // A thread with Lambda's stack (8 MB): unoptimised, the calls need more than 2 MB.
    let run = || tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(bench());
    std::thread::Builder::new().stack_size(8 << 20).spawn(run).unwrap().join().unwrap();
}
