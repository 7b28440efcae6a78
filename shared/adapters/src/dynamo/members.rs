//! Survey lists: `MEMBERS#<survey id>` / `<person id>`, one item per member, waiting in the
//! `outbox` index (partition `MEMBERS`, by next due time) so dispatch finds the members due now
//! without reading the list; `PERSON#<person id>` / `MEMBER#<survey id>`, so an erasure finds the
//! person's memberships; and `MEMBERS#<survey id>#COUNT` / `COUNT`, how many ever joined (each new
//! member's place, which spreads their first survey over the period) and when the first did
//! (where the list's waves are counted from).

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use nps_domain::member::{Member, first_due};
use nps_domain::person::PersonId;
use nps_domain::survey::{Locale, SurveyId};
use nps_domain::{EmailAddress, StoreError, Timestamp};

use super::Table;
use super::item::{Attrs, Item, key_item, n, s, string_map};
use super::keys::{ItemKey, OUTBOX_MEMBERS, attr};

const EMAIL: &str = "email";
const NAME: &str = "name";
const LOCALE: &str = "locale";
const PROPERTIES: &str = "properties";
const ADDED_AT: &str = "added_at";
const NEXT_DUE_AT: &str = "next_due_at";
const WAVES: &str = "waves";
/// On the list's count: when its first member joined, where its waves are counted from.
const STARTED_AT: &str = "started_at";

/// The member's entry in the `outbox` index: due time first, then who.
fn due_key(m: &Member) -> String {
    format!("{}#{}#{}", super::keys::sort_from(m.next_due_at.unix()), m.survey, m.person)
}

#[derive(Debug, Clone)]
pub struct DynamoMembers {
    table: Table,
}

impl DynamoMembers {
    pub fn new(table: Table) -> Self {
        DynamoMembers { table }
    }

    /// Adds `m` to its survey's list, first asked within `period` of joining, at the point its
    /// place in the list gives ([`first_due`]; `m.next_due_at` and `m.waves` are set here). A
    /// member already on the list keeps their schedule; their address, name, locale and
    /// properties become `m`'s. The member as stored, and whether they joined now.
    pub async fn enrol(&self, m: &Member, period: Duration) -> Result<(Member, bool), StoreError> {
        if let Some(existing) = self.get(&m.survey, &m.person).await? {
            self.update_contact(m).await?;
            let kept = Member {
                next_due_at: existing.next_due_at,
                waves: existing.waves,
                added_at: existing.added_at,
                ..m.clone()
            };
            return Ok((kept, false));
        }
        let counted = self
            .table
            .update(ItemKey::members_count(&m.survey))
            .update_expression("ADD #count :one SET #started = if_not_exists(#started, :now)")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#started", STARTED_AT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(m.added_at.unix()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(super::store_error)?;
        let count = counted
            .attributes()
            .and_then(|a| a.get("count"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let place = count.ok_or_else(|| StoreError::Malformed("a list's count".into()))?.saturating_sub(1);
        let m = Member { next_due_at: first_due(place, m.added_at, period), waves: 0, ..m.clone() };
        // The pointer first: an erasure that runs in between finds the membership.
        let mut pointer = key_item(ItemKey::member_pointer(&m.person, &m.survey));
        pointer.insert(NEXT_DUE_AT.to_owned(), n(m.next_due_at.unix()));
        self.table.put(pointer).await?;
        let mut item = key_item(ItemKey::member(&m.survey, &m.person));
        item.extend([
            (ADDED_AT.to_owned(), n(m.added_at.unix())),
            (NEXT_DUE_AT.to_owned(), n(m.next_due_at.unix())),
            (WAVES.to_owned(), n(i64::from(m.waves))),
            (attr::OUTBOX_PK.to_owned(), s(OUTBOX_MEMBERS)),
            (attr::OUTBOX_SK.to_owned(), s(due_key(&m))),
        ]);
        item.extend(contact(&m));
        if !self.table.put_new(item).await? {
            // Added by another call meanwhile: theirs stands, with these details.
            self.update_contact(&m).await?;
            return Ok((self.get(&m.survey, &m.person).await?.unwrap_or(m), false));
        }
        Ok((m, true))
    }

    /// A member's address, name, locale and properties, as `m` gives them.
    async fn update_contact(&self, m: &Member) -> Result<(), StoreError> {
        let mut update = self
            .table
            .update(ItemKey::member(&m.survey, &m.person))
            .expression_attribute_names("#email", EMAIL)
            .expression_attribute_names("#name", NAME)
            .expression_attribute_names("#locale", LOCALE)
            .expression_attribute_names("#properties", PROPERTIES)
            .expression_attribute_values(":email", s(m.email.as_str()));
        let mut set = vec!["#email = :email"];
        let mut remove = Vec::new();
        for (placeholder, value) in [
            ("#name", m.name.clone().map(s)),
            ("#locale", m.locale.map(|l| s(l.as_str()))),
            ("#properties", string_map(&m.properties)),
        ] {
            match value {
                Some(value) => {
                    let token = placeholder.replace('#', ":");
                    set.push(match placeholder {
                        "#name" => "#name = :name",
                        "#locale" => "#locale = :locale",
                        _ => "#properties = :properties",
                    });
                    update = update.expression_attribute_values(token, value);
                }
                None => remove.push(placeholder),
            }
        }
        let expression = if remove.is_empty() {
            format!("SET {}", set.join(", "))
        } else {
            format!("SET {} REMOVE {}", set.join(", "), remove.join(", "))
        };
        update.update_expression(expression).send().await.map_err(super::store_error)?;
        Ok(())
    }

    /// When the survey's list got its first member (its first wave began that day), if it has.
    pub async fn started(&self, survey: &SurveyId) -> Result<Option<Timestamp>, StoreError> {
        let item = self.table.get(ItemKey::members_count(survey), false).await?;
        item.as_ref().map(|item| Attrs(item).opt_time(STARTED_AT)).transpose().map(Option::flatten)
    }

    pub async fn get(&self, survey: &SurveyId, person: &PersonId) -> Result<Option<Member>, StoreError> {
        let item = self.table.get(ItemKey::member(survey, person), true).await?;
        item.as_ref().map(from_item).transpose()
    }

    /// Takes the person off the survey's list: `true` if they were on it.
    pub async fn remove(&self, survey: &SurveyId, person: &PersonId) -> Result<bool, StoreError> {
        let found = self.table.get(ItemKey::member(survey, person), true).await?.is_some();
        self.table.delete(ItemKey::member(survey, person)).await?;
        self.table.delete(ItemKey::member_pointer(person, survey)).await?;
        Ok(found)
    }

    /// A page of the survey's list, by person id, after `after`; and the last id if more follow.
    pub async fn list(
        &self,
        survey: &SurveyId,
        after: Option<&PersonId>,
        limit: i32,
    ) -> Result<(Vec<Member>, Option<PersonId>), StoreError> {
        let start = after.map(|after| key_item(ItemKey::member(survey, after)));
        let query =
            self.table.partition(ItemKey::members_partition(survey)).set_exclusive_start_key(start).limit(limit);
        let out = self.table.query(query).await?;
        let members = out.items().iter().map(from_item).collect::<Result<Vec<_>, _>>()?;
        let more = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
        let last = if more { members.last().map(|m| m.person.clone()) } else { None };
        Ok((members, last))
    }

    /// Members due by `now`, soonest first (keys only; read each before acting).
    pub async fn due(&self, now: Timestamp, limit: i32) -> Result<Vec<(SurveyId, PersonId)>, StoreError> {
        let out = self.table.outbox_due(OUTBOX_MEMBERS, now, limit).await?;
        out.items()
            .iter()
            .map(|item| {
                let a = Attrs(item);
                let (pk, sk) = (a.s(attr::PK)?, a.s(attr::SK)?);
                let survey = pk.strip_prefix("MEMBERS#").and_then(|s| SurveyId::parse(s).ok());
                match (survey, PersonId::from_stored(sk)) {
                    (Some(survey), Some(person)) => Ok((survey, person)),
                    _ => Err(StoreError::Malformed(format!("outbox entry with key {pk} / {sk}"))),
                }
            })
            .collect()
    }

    /// Moves the member's next wave from `m.next_due_at` to `next`, one wave on, only if nobody
    /// moved it since `m` was read: `false` if another run did (it then made the wave its own).
    pub async fn advance(&self, m: &Member, next: Timestamp) -> Result<bool, StoreError> {
        let moved = Member { next_due_at: next, ..m.clone() };
        let result = self
            .table
            .update(ItemKey::member(&m.survey, &m.person))
            .update_expression("SET #due = :next, #osk = :osk, #waves = #waves + :one")
            .condition_expression("#due = :seen")
            .expression_attribute_names("#due", NEXT_DUE_AT)
            .expression_attribute_names("#osk", attr::OUTBOX_SK)
            .expression_attribute_names("#waves", WAVES)
            .expression_attribute_values(":next", n(next.unix()))
            .expression_attribute_values(":osk", s(due_key(&moved)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":seen", n(m.next_due_at.unix()))
            .send()
            .await;
        Ok(self.table.conditional(result, |o| o.consumed_capacity())?.is_some())
    }
}

fn contact(m: &Member) -> Vec<(String, AttributeValue)> {
    let mut attrs = vec![(EMAIL.to_owned(), s(m.email.as_str()))];
    attrs.extend(m.name.clone().map(|name| (NAME.to_owned(), s(name))));
    attrs.extend(m.locale.map(|l| (LOCALE.to_owned(), s(l.as_str()))));
    attrs.extend(string_map(&m.properties).map(|p| (PROPERTIES.to_owned(), p)));
    attrs
}

fn from_item(item: &Item) -> Result<Member, StoreError> {
    let a = Attrs(item);
    let (pk, sk) = (a.s(attr::PK)?, a.s(attr::SK)?);
    let bad = |what: &str| StoreError::Malformed(format!("member {pk} / {sk}: {what}"));
    Ok(Member {
        survey: pk.strip_prefix("MEMBERS#").and_then(|s| SurveyId::parse(s).ok()).ok_or_else(|| bad("survey"))?,
        person: PersonId::from_stored(sk).ok_or_else(|| bad("person"))?,
        email: EmailAddress::parse(a.s(EMAIL)?).map_err(|_| bad("email"))?,
        name: a.opt_s(NAME).map(str::to_owned),
        locale: a.opt_s(LOCALE).map(|l| Locale::from_tag(l).ok_or_else(|| bad("locale"))).transpose()?,
        properties: a.string_map(PROPERTIES)?,
        added_at: a.time(ADDED_AT)?,
        next_due_at: a.time(NEXT_DUE_AT)?,
        waves: u32::try_from(a.n(WAVES)?).map_err(|_| bad("waves"))?,
    })
}
