//! Every attribute, index and key prefix of the table, defined once (docs/data-model.md).
//! A test checks these names against template.yaml.

use nps_domain::Timestamp;
use nps_domain::idempotency::IdempotencyKey;
use nps_domain::person::PersonId;
use nps_domain::request::RequestId;
use nps_domain::survey::SurveyId;

/// Attribute names.
pub mod attr {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const OUTBOX_PK: &str = "outbox_pk";
    pub const OUTBOX_SK: &str = "outbox_sk";
    pub const LISTING_PK: &str = "listing_pk";
    pub const LISTING_SK: &str = "listing_sk";
    /// TTL attribute: epoch seconds after which DynamoDB may delete the item.
    pub const EXPIRES_AT: &str = "expires_at";
    /// Set on a survey request just before a GDPR erasure deletes it, and on the response whose
    /// identity it removes: the stream then tells that deletion from one that uncounts.
    pub const ERASED_AT: &str = "erased_at";
}

/// Global secondary index names.
pub mod index {
    pub const OUTBOX: &str = "outbox";
    pub const LISTING: &str = "listing";
}

/// The primary key of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemKey {
    pub pk: String,
    pub sk: String,
}

/// The one partition of the `outbox` index holding survey requests.
pub const OUTBOX_REQUESTS: &str = "OUTBOX";

/// Before a request id: its request's and response's partition, and a person's pointer to it.
pub const REQUEST_PREFIX: &str = "REQUEST#";

/// The sort keys of a request and of its response, in the request's partition.
pub const REQUEST_SK: &str = "REQUEST";
pub const RESPONSE_SK: &str = "RESPONSE";
pub const FOLLOW_UP_SK: &str = "FOLLOWUP";

/// The request a key names (`REQUEST#<id>`), read back from a partition or sort key.
pub fn request_of(key: &str) -> Option<RequestId> {
    key.strip_prefix(REQUEST_PREFIX).and_then(RequestId::parse)
}
/// The partition of the `outbox` index holding survey list members, by next wave.
pub const OUTBOX_MEMBERS: &str = "MEMBERS";

/// Sort key in the `outbox` index: due time first (zero-padded, so text order is time order).
pub fn outbox_sort_key(due_at: Timestamp, id: RequestId) -> String {
    format!("{}#{id}", sort_from(due_at.unix()))
}

/// Keys of a response in the `listing` index: a partition per survey and month of creation,
/// sorted by creation time (zero-padded) then request id.
pub fn listing_keys(survey: &SurveyId, created_at: Timestamp, id: RequestId) -> (String, String) {
    (format!("RESPONSES#{survey}#{}", created_at.year_month()), format!("{}#{id}", sort_from(created_at.unix())))
}

/// The lowest sort key, in the indexes sorted by time (`listing`, `outbox`), of anything at or
/// after Unix time `t`: 11 zero-padded digits, so text order is time order.
pub fn sort_from(t: i64) -> String {
    format!("{:011}", t.max(0))
}

/// A sort key after every entry at or before Unix time `t` in those indexes.
pub fn sort_through(t: i64) -> String {
    format!("{}~", sort_from(t))
}

impl ItemKey {
    pub fn survey(id: &SurveyId) -> Self {
        ItemKey { pk: Self::survey_partition().to_owned(), sk: id.to_string() }
    }

    /// The partition holding every survey.
    pub fn survey_partition() -> &'static str {
        "SURVEY"
    }

    pub fn request(id: RequestId) -> Self {
        ItemKey { pk: format!("{REQUEST_PREFIX}{id}"), sk: REQUEST_SK.to_owned() }
    }

    pub fn response(id: RequestId) -> Self {
        ItemKey { pk: format!("{REQUEST_PREFIX}{id}"), sk: RESPONSE_SK.to_owned() }
    }

    /// A survey id never contains `#`, so any transaction id is safe after it.
    pub fn transaction(survey: &SurveyId, transaction_id: &str) -> Self {
        ItemKey { pk: format!("TRANSACTION#{survey}#{transaction_id}"), sk: "TRANSACTION".to_owned() }
    }

    pub fn throttle(person: &PersonId, survey: &SurveyId) -> Self {
        ItemKey { pk: format!("PERSON#{person}"), sk: format!("THROTTLE#{survey}") }
    }

    /// The first day of a survey's imported history: where listing its responses starts.
    pub fn history(survey: &SurveyId) -> Self {
        ItemKey { pk: format!("HISTORY#{survey}"), sk: "HISTORY".to_owned() }
    }

    /// The person as `GET /v1/people` lists them (address, name, first seen).
    pub fn profile(person: &PersonId) -> Self {
        ItemKey { pk: format!("PERSON#{person}"), sk: "PROFILE".to_owned() }
    }

    /// The person's window of the fatigue rule: no survey of any kind until it ends.
    pub fn fatigue(person: &PersonId) -> Self {
        ItemKey { pk: format!("PERSON#{person}"), sk: "FATIGUE".to_owned() }
    }

    pub fn suppression(person: &PersonId) -> Self {
        ItemKey { pk: format!("PERSON#{person}"), sk: "SUPPRESSION".to_owned() }
    }

    /// A member of a survey's list (a survey id holds no `#`).
    pub fn member(survey: &SurveyId, person: &PersonId) -> Self {
        ItemKey { pk: Self::members_partition(survey), sk: person.to_string() }
    }

    /// The partition of a survey's list.
    pub fn members_partition(survey: &SurveyId) -> String {
        format!("MEMBERS#{survey}")
    }

    /// How many ever joined a survey's list: each new member's place in it.
    pub fn members_count(survey: &SurveyId) -> Self {
        ItemKey { pk: format!("MEMBERS#{survey}#COUNT"), sk: "COUNT".to_owned() }
    }

    /// The person's membership of a survey's list, for erasure.
    pub fn member_pointer(person: &PersonId, survey: &SurveyId) -> Self {
        ItemKey { pk: format!("PERSON#{person}"), sk: format!("MEMBER#{survey}") }
    }

    pub fn request_pointer(person: &PersonId, request: RequestId) -> Self {
        ItemKey { pk: format!("PERSON#{person}"), sk: format!("{REQUEST_PREFIX}{request}") }
    }

    /// A survey's rollup for one dimension value, one day; `generation` tells a rebuild's rollups
    /// from the ones in use. A survey id never contains `#`, nor a dimension name `=`.
    pub fn rollup(generation: u64, survey: &SurveyId, dimension: &str, value: &str, day: &str) -> Self {
        ItemKey { pk: format!("ROLLUP#{generation}#{survey}#{dimension}={value}"), sk: day.to_owned() }
    }

    /// The partition of a survey's segment values, in one generation: an item per value.
    pub fn rollup_values_partition(generation: u64, survey: &SurveyId) -> String {
        format!("ROLLUP#{generation}#{survey}")
    }

    /// One segment value a survey has rollups for, in one generation (a dimension name holds no `#`).
    pub fn rollup_value(generation: u64, survey: &SurveyId, dimension: &str, value: &str) -> Self {
        ItemKey { pk: Self::rollup_values_partition(generation, survey), sk: format!("VALUE#{dimension}#{value}") }
    }

    /// A rebuild's claim of a generation (a rollup item, deleted with its generation).
    pub fn rollup_claim(generation: u64) -> Self {
        ItemKey { pk: format!("ROLLUP#{generation}"), sk: "CLAIM".to_owned() }
    }

    /// An answer's follow-up (status, owner, tags, notes and their history), beside it.
    pub fn follow_up(request: RequestId) -> Self {
        ItemKey { pk: format!("{REQUEST_PREFIX}{request}"), sk: FOLLOW_UP_SK.to_owned() }
    }

    /// The themes' cache of one survey's comments on one day, for one dimension value (`all=all`
    /// for the whole survey): in every generation alike (it is checked against the rollups').
    pub fn themes(survey: &SurveyId, dimension: &str, value: &str, day: &str) -> Self {
        ItemKey { pk: format!("THEMES#{survey}#{dimension}={value}"), sk: day.to_owned() }
    }

    /// At most one alert per kind, subject and day.
    pub fn alert(kind: &str, subject: &str, day: &str) -> Self {
        ItemKey { pk: format!("ALERT#{kind}#{subject}"), sk: day.to_owned() }
    }

    /// One version of a response, as an event for the response webhook.
    pub fn response_event(response: &str, version: u32) -> Self {
        ItemKey { pk: format!("WEBHOOK#{response}#v{version}"), sk: "DELIVERY".to_owned() }
    }

    pub fn checkpoint() -> Self {
        ItemKey { pk: "AGGREGATOR".to_owned(), sk: "CHECKPOINT".to_owned() }
    }

    /// How far the aggregator's folds of one stream shard have reached.
    pub fn aggregator_shard(shard: &str) -> Self {
        ItemKey { pk: "AGGREGATOR".to_owned(), sk: format!("SHARD#{shard}") }
    }

    /// The hour the aggregator last checked for NPS drops.
    pub fn drop_check() -> Self {
        ItemKey { pk: "AGGREGATOR".to_owned(), sk: "DROPS".to_owned() }
    }

    /// A dashboard sign-in link that was used (it works once), by the SHA-256 of its token.
    pub fn used_link(token_sha256: &str) -> Self {
        ItemKey { pk: format!("LINK#{token_sha256}"), sk: "USED".to_owned() }
    }

    pub fn api_key(key_id: &str) -> Self {
        ItemKey { pk: "APIKEY".to_owned(), sk: key_id.to_owned() }
    }

    /// `IDEMPOTENCY#<source>#<event id>` / `IDEMPOTENCY`. A source never contains `#`, so the
    /// split is unambiguous whatever the event id holds.
    pub fn idempotency(key: &IdempotencyKey) -> Self {
        ItemKey { pk: format!("IDEMPOTENCY#{}#{}", key.source(), key.event_id()), sk: "IDEMPOTENCY".to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_key_reads_back_as_its_id_and_nothing_else_does() {
        let id = RequestId::new(Timestamp::from_unix(1_800_000_000));
        assert_eq!(request_of(&ItemKey::request(id).pk), Some(id));
        assert_eq!(request_of(&ItemKey::response(id).pk), Some(id));
        let person = PersonId::from_stored(&"ab".repeat(16)).unwrap();
        assert_eq!(request_of(&ItemKey::request_pointer(&person, id).sk), Some(id));
        for other in ["REQUEST#", "REQUEST#not-an-id", "PERSON#x", "THROTTLE#default", ""] {
            assert_eq!(request_of(other), None, "{other}");
        }
    }

    #[test]
    fn time_bounds_enclose_the_keys_of_their_second() {
        let at = Timestamp::from_unix(1_800_000_000);
        let id = RequestId::new(at);
        let (_, key) = listing_keys(&SurveyId::parse("default").unwrap(), at, id);
        assert!(sort_from(at.unix()) < key && key < sort_through(at.unix()));
        assert!(sort_through(at.unix()) < sort_from(at.unix() + 1) && outbox_sort_key(at, id) == key);
        assert_eq!(sort_from(-5), sort_from(0), "before 1970 is 1970");
    }
}
