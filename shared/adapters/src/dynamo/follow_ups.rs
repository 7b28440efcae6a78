//! Follow-ups (docs/responses.md, "Following up"): `REQUEST#<id>` / `FOLLOWUP` beside the answer,
//! the follow-up as JSON, a revision for optimistic locking, and the answer's own expiry, so that
//! notes never outlive the answer they are about. The rollups never count it (its sort key is
//! neither a request's nor a response's).

use nps_domain::follow_up::FollowUp;
use nps_domain::request::RequestId;
use nps_domain::{StoreError, Timestamp};

use super::item::{Attrs, Item, key_item, n, s};
use super::keys::{ItemKey, attr};
use super::{Saved, Table};

const FOLLOW_UP: &str = "follow_up";
const REVISION: &str = "revision";

#[derive(Debug, Clone)]
pub struct DynamoFollowUps {
    table: Table,
}

impl DynamoFollowUps {
    pub fn new(table: Table) -> Self {
        DynamoFollowUps { table }
    }

    /// The answer's follow-up; a new one (open, revision 0) if none was saved.
    pub async fn get(&self, id: RequestId) -> Result<FollowUp, StoreError> {
        let Some(item) = self.table.get(ItemKey::follow_up(id), true).await? else { return Ok(FollowUp::default()) };
        parse(id, &item)
    }

    /// The follow-ups of `ids`, by id (a new one for each without).
    pub async fn get_many(&self, ids: &[RequestId]) -> Result<Vec<(RequestId, FollowUp)>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(100) {
            let wanted = chunk.iter().map(|id| key_item(ItemKey::follow_up(*id))).collect();
            let items = self.table.batch_get(wanted, false).await?;
            for id in chunk {
                let pk = ItemKey::follow_up(*id).pk;
                let follow_up = match items.iter().find(|i| Attrs(i).opt_s(attr::PK) == Some(pk.as_str())) {
                    Some(item) => parse(*id, item)?,
                    None => FollowUp::default(),
                };
                found.push((*id, follow_up));
            }
        }
        Ok(found)
    }

    /// Saves `follow_up` if nobody saved it since it was read (its revision), expiring with the
    /// answer at `expires_at`; bumps the revision.
    pub async fn save(
        &self,
        id: RequestId,
        follow_up: &mut FollowUp,
        expires_at: Timestamp,
    ) -> Result<Saved, StoreError> {
        let json = serde_json::to_string(follow_up).map_err(|e| StoreError::Malformed(e.to_string()))?;
        let mut item = key_item(ItemKey::follow_up(id));
        item.extend([
            (FOLLOW_UP.to_owned(), s(json)),
            (REVISION.to_owned(), n(i64::from(follow_up.revision) + 1)),
            (attr::EXPIRES_AT.to_owned(), n(expires_at.unix())),
        ]);
        let put = self.table.client().put_item().table_name(self.table.name()).set_item(Some(item));
        let put = if follow_up.revision == 0 {
            put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", attr::PK)
        } else {
            put.condition_expression("#revision = :seen")
                .expression_attribute_names("#revision", REVISION)
                .expression_attribute_values(":seen", n(i64::from(follow_up.revision)))
        };
        let result = put.set_return_consumed_capacity(self.table.capacity()).send().await;
        Ok(match self.table.conditional(result, |o| o.consumed_capacity())? {
            Some(_) => {
                follow_up.revision += 1;
                Saved::Done
            }
            None => Saved::Conflict,
        })
    }
}

fn parse(id: RequestId, item: &Item) -> Result<FollowUp, StoreError> {
    let a = Attrs(item);
    let mut follow_up: FollowUp =
        serde_json::from_str(a.s(FOLLOW_UP)?).map_err(|e| StoreError::Malformed(format!("follow-up of {id}: {e}")))?;
    follow_up.revision = u32::try_from(a.n(REVISION)?).map_err(|_| StoreError::Malformed("revision".into()))?;
    Ok(follow_up)
}
