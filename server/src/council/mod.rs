//! Steps 5 and 6 of the monitoring cycle: the JMET's recommendations, voted on by the team's
//! members, and the council's decisions about them and about the SEDP's indicators.
//!
//! A recommendation is adopted when more than half of the team's current members voted for it.
//! The voter is the member whose phone sent the vote; a member who has left no longer counts (and
//! their phones are revoked, so they cannot vote again). Once adopted, its status follows the
//! council: under consideration when a decision entry names it, decision taken when one says so.

pub mod api;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;
use sync_protocol::{Change, Hlc, Scope};

use crate::storage::{CouncilDecision, Storage, StorageError};

pub const INSTRUMENTS: [&str; 4] = [
    "deputy_request",
    "deputy_question",
    "report_requirement",
    "agenda_item",
];
pub const DECISION_STATUSES: [&str; 2] = ["under_consideration", "decision_taken"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Adopted,
    UnderConsideration,
    DecisionTaken,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    #[serde(rename = "for")]
    pub for_: usize,
    pub against: usize,
    pub abstain: usize,
    /// Members of the team today: the majority is counted against them.
    pub current_members: usize,
    /// Votes for that adoption needs: more than half of the current members.
    pub needed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub id: String,
    pub municipality: String,
    pub team: Option<String>,
    pub meeting_on: Option<String>,
    pub title: String,
    pub items: Value,
    pub addressees: Value,
    pub votes: Tally,
    pub status: Status,
    /// Decision log entries that name it.
    pub decisions: Vec<String>,
}

/// More than half.
pub fn majority_of(members: usize) -> usize {
    members / 2 + 1
}

/// The vote a record holds now: the latest `recommendation` and `vote` written to it, and the
/// device that wrote that vote.
struct VoteState {
    recommendation: Option<(Hlc, String)>,
    vote: Option<(Hlc, String, String)>,
    deleted: Option<(Hlc, bool)>,
}

fn later<T>(slot: &mut Option<(Hlc, T)>, hlc: Hlc, value: T) {
    if slot.as_ref().is_none_or(|(at, _)| hlc > *at) {
        *slot = Some((hlc, value));
    }
}

/// Every recommendation of a municipality with its tally and status. `today` is `YYYY-MM-DD`.
pub async fn list(
    storage: &Storage,
    municipality: &Scope,
    today: &str,
) -> Result<Vec<Recommendation>, StorageError> {
    let m = municipality.as_str();
    let devices: HashMap<String, (String, String)> = storage
        .device_members(m)
        .await?
        .into_iter()
        .map(|d| (d.device_id, (d.member_id, d.team_id)))
        .collect();
    let mut votes: BTreeMap<String, VoteState> = BTreeMap::new();
    for v in storage.vote_ops(m).await? {
        let state = votes.entry(v.record_id).or_insert(VoteState {
            recommendation: None,
            vote: None,
            deleted: None,
        });
        match &v.op.change {
            Change::Set(fields) => {
                for (k, value) in fields {
                    match (k.as_str(), value.as_str()) {
                        ("recommendation", Some(r)) => {
                            later(&mut state.recommendation, v.op.hlc, r.to_owned())
                        }
                        ("vote", Some(choice))
                            if state.vote.as_ref().is_none_or(|(at, _, _)| v.op.hlc > *at) =>
                        {
                            state.vote = Some((v.op.hlc, choice.to_owned(), v.device_id.clone()));
                        }
                        _ => {}
                    }
                }
            }
            Change::Delete(d) => later(&mut state.deleted, v.op.hlc, *d),
        }
    }
    // recommendation → member → (when, vote): a member's latest vote counts, once.
    let mut cast: BTreeMap<String, BTreeMap<String, (Hlc, String)>> = BTreeMap::new();
    for state in votes.into_values() {
        if state.deleted.is_some_and(|(_, d)| d) {
            continue;
        }
        let (Some((_, rec)), Some((at, choice, device))) = (state.recommendation, state.vote)
        else {
            continue;
        };
        let Some((member, _)) = devices.get(&device) else {
            continue;
        };
        let by_member = cast.entry(rec).or_default();
        if by_member.get(member).is_none_or(|(t, _)| at > *t) {
            by_member.insert(member.clone(), (at, choice));
        }
    }
    let decisions = storage.council_decisions(m).await?;
    let mut current: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut out = Vec::new();
    for r in storage.recommendation_records(m).await? {
        if r.fields.get("$deleted") == Some(&Value::Bool(true)) {
            continue;
        }
        let team = r
            .creator_device
            .as_ref()
            .and_then(|d| devices.get(d))
            .map(|(_, team)| team.clone());
        let members = match &team {
            Some(t) => {
                if !current.contains_key(t) {
                    current.insert(t.clone(), current_members(storage, t, today).await?);
                }
                current[t].clone()
            }
            None => BTreeSet::new(),
        };
        let mut tally = Tally {
            current_members: members.len(),
            needed: majority_of(members.len()),
            ..Tally::default()
        };
        for (member, (_, choice)) in cast.get(&r.record_id).into_iter().flatten() {
            if !members.contains(member) {
                continue;
            }
            match choice.as_str() {
                "for" => tally.for_ += 1,
                "against" => tally.against += 1,
                _ => tally.abstain += 1,
            }
        }
        let naming: Vec<&CouncilDecision> = decisions
            .iter()
            .filter(|d| d.recommendations.contains(&r.record_id))
            .collect();
        let adopted = !members.is_empty() && tally.for_ >= tally.needed;
        let status = if !adopted {
            Status::Draft
        } else if naming.iter().any(|d| d.status == "decision_taken") {
            Status::DecisionTaken
        } else if !naming.is_empty() {
            Status::UnderConsideration
        } else {
            Status::Adopted
        };
        let text = |k: &str| r.fields.get(k).and_then(Value::as_str).map(str::to_owned);
        out.push(Recommendation {
            id: r.record_id.clone(),
            municipality: m.to_owned(),
            team,
            meeting_on: text("meeting_on"),
            title: text("title").unwrap_or_default(),
            items: r
                .fields
                .get("items")
                .cloned()
                .unwrap_or(Value::Array(vec![])),
            addressees: r
                .fields
                .get("addressees")
                .cloned()
                .unwrap_or(Value::Array(vec![])),
            votes: tally,
            status,
            decisions: naming.iter().map(|d| d.decision_id.clone()).collect(),
        });
    }
    out.sort_by(|a, b| b.meeting_on.cmp(&a.meeting_on).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// Members of a team who have not left by `today`.
async fn current_members(
    storage: &Storage,
    team: &str,
    today: &str,
) -> Result<BTreeSet<String>, StorageError> {
    let Ok(team_id) = team.parse() else {
        return Ok(BTreeSet::new());
    };
    Ok(storage
        .team_members(team_id)
        .await?
        .into_iter()
        .filter(|m| m.joined_on.as_str() <= today)
        .filter(|m| m.left_on.as_deref().is_none_or(|left| left > today))
        .map(|m| m.member_id.to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_majority_is_more_than_half() {
        assert_eq!(majority_of(1), 1);
        assert_eq!(majority_of(2), 2);
        assert_eq!(majority_of(3), 2);
        assert_eq!(majority_of(4), 3);
        assert_eq!(majority_of(7), 4);
    }
}
