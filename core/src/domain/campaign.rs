//! Campaign rules: purposes, states and their transitions, calling rules (a legal preset or a
//! custom weekly schedule with a holiday calendar), the legal caps that go with a preset, call
//! outcomes, the retry policy per outcome, and [`decide`]: whether one person may be called now.
//!
//! [`decide`] is pure: the planner and the dialer gather the facts about a person from storage
//! and both ask it, the planner before queueing a call and the dialer again just before
//! placing it, so a rule holds even when the facts changed in between.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::calling_window::{CallingRules, WeeklySchedule};
use crate::domain::holidays::HolidayCalendar;

/// Why a campaign calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Selling: under `fr-consumer`, only people who consented may be called.
    Prospecting,
    /// Serving existing customers (reminders, follow-ups).
    Service,
}

impl Purpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Prospecting => "prospecting",
            Purpose::Service => "service",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "prospecting" => Some(Purpose::Prospecting),
            "service" => Some(Purpose::Service),
            _ => None,
        }
    }
}

/// A campaign's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Being prepared: contacts may be added, nothing is called.
    Draft,
    /// Started, waiting for its start date.
    Scheduled,
    /// Calling.
    Running,
    /// Stopped by the business; resumable.
    Paused,
    /// Every contact is done, or the end date passed.
    Completed,
    /// Stopped for good by the business.
    Cancelled,
}

/// What a business may do to a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignAction {
    /// Draft to scheduled or running.
    Start,
    /// Scheduled or running to paused.
    Pause,
    /// Paused to scheduled or running.
    Resume,
    /// Anything not finished to cancelled.
    Cancel,
}

impl CampaignAction {
    /// The action's name in the API path.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignAction::Start => "start",
            CampaignAction::Pause => "pause",
            CampaignAction::Resume => "resume",
            CampaignAction::Cancel => "cancel",
        }
    }
}

impl CampaignState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Draft => "draft",
            CampaignState::Scheduled => "scheduled",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Completed => "completed",
            CampaignState::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            CampaignState::Draft,
            CampaignState::Scheduled,
            CampaignState::Running,
            CampaignState::Paused,
            CampaignState::Completed,
            CampaignState::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Completed or cancelled: nothing changes any more.
    pub fn is_finished(self) -> bool {
        matches!(self, CampaignState::Completed | CampaignState::Cancelled)
    }

    /// The state after `action` at `now`, or why it is not allowed. Starting or resuming
    /// before `starts_at` gives `scheduled`.
    pub fn apply(
        self,
        action: CampaignAction,
        now: DateTime<Utc>,
        starts_at: DateTime<Utc>,
    ) -> Result<CampaignState, String> {
        let live = if now >= starts_at {
            CampaignState::Running
        } else {
            CampaignState::Scheduled
        };
        use CampaignAction as A;
        use CampaignState as S;
        match (action, self) {
            (A::Start, S::Draft) => Ok(live),
            (A::Pause, S::Scheduled | S::Running) => Ok(S::Paused),
            (A::Resume, S::Paused) => Ok(live),
            (A::Cancel, S::Draft | S::Scheduled | S::Running | S::Paused) => Ok(S::Cancelled),
            (action, state) => Err(format!(
                "a {} campaign cannot {}",
                state.as_str(),
                action.as_str()
            )),
        }
    }
}

/// How a call attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The person answered and the conversation took place.
    Completed,
    /// Nobody answered.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// An answering machine took the call.
    Voicemail,
    /// The call could not be connected, or its report never came.
    Failed,
    /// The person answered and asked not to be called again.
    Refused,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 6] = [
        Outcome::Completed,
        Outcome::NoAnswer,
        Outcome::Busy,
        Outcome::Voicemail,
        Outcome::Failed,
        Outcome::Refused,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy => "busy",
            Outcome::Voicemail => "voicemail",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }

    /// The person was reached (a conversation took place).
    pub fn is_answered(self) -> bool {
        matches!(self, Outcome::Completed | Outcome::Refused)
    }

    /// Reads a voice platform's end of call: Vapi's `endedReason`, and whether the call's
    /// analysis says the person asked not to be called again.
    pub fn from_ended_reason(ended_reason: &str, do_not_call: bool) -> Outcome {
        let reason = ended_reason.to_ascii_lowercase();
        let outcome = if reason.contains("voicemail") {
            Outcome::Voicemail
        } else if reason.contains("busy") {
            Outcome::Busy
        } else if reason.contains("did-not-answer")
            || reason.contains("no-answer")
            || reason.contains("not-answer")
        {
            Outcome::NoAnswer
        } else if matches!(
            reason.as_str(),
            "customer-ended-call"
                | "assistant-ended-call"
                | "assistant-said-end-call-phrase"
                | "assistant-forwarded-call"
                | "exceeded-max-duration"
                | "silence-timed-out"
                | "completed"
        ) {
            Outcome::Completed
        } else {
            Outcome::Failed
        };
        if do_not_call && outcome == Outcome::Completed {
            Outcome::Refused
        } else {
            outcome
        }
    }
}

/// When to call again after one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RetryRule {
    /// Minutes before the first retry; `null` never retries after this outcome.
    pub after_minutes: Option<u32>,
    /// Each further retry waits this many times longer (1 to 10).
    #[serde(default = "one")]
    pub backoff: f64,
}

fn one() -> f64 {
    1.0
}

/// The longest wait between two attempts of a contact.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);

impl RetryRule {
    /// The delay before the next attempt, after `attempts` attempts (at least 1); `None` when
    /// this outcome is not retried.
    pub fn delay(&self, attempts: u32) -> Option<Duration> {
        let base = Duration::from_secs(u64::from(self.after_minutes?) * 60);
        let exponent = i32::try_from(attempts.saturating_sub(1).min(60)).unwrap_or(60);
        let factor = self.backoff.max(1.0).powi(exponent);
        let secs = (base.as_secs_f64() * factor).min(MAX_RETRY_DELAY.as_secs_f64());
        Some(Duration::from_secs_f64(secs.max(0.0)))
    }
}

/// When to call again, per outcome that leaves a contact unreached.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// After nobody answered.
    #[serde(default = "RetryPolicy::default_no_answer")]
    pub no_answer: RetryRule,
    /// After a busy line.
    #[serde(default = "RetryPolicy::default_busy")]
    pub busy: RetryRule,
    /// After an answering machine.
    #[serde(default = "RetryPolicy::default_voicemail")]
    pub voicemail: RetryRule,
    /// After a call that failed to connect.
    #[serde(default = "RetryPolicy::default_failed")]
    pub failed: RetryRule,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            no_answer: Self::default_no_answer(),
            busy: Self::default_busy(),
            voicemail: Self::default_voicemail(),
            failed: Self::default_failed(),
        }
    }
}

impl RetryPolicy {
    fn default_no_answer() -> RetryRule {
        RetryRule {
            after_minutes: Some(240),
            backoff: 1.5,
        }
    }
    fn default_busy() -> RetryRule {
        RetryRule {
            after_minutes: Some(30),
            backoff: 2.0,
        }
    }
    fn default_voicemail() -> RetryRule {
        RetryRule {
            after_minutes: Some(1440),
            backoff: 1.0,
        }
    }
    fn default_failed() -> RetryRule {
        RetryRule {
            after_minutes: Some(60),
            backoff: 2.0,
        }
    }

    /// The rule for an outcome; `None` for outcomes that end a contact.
    pub fn rule(&self, outcome: Outcome) -> Option<&RetryRule> {
        match outcome {
            Outcome::NoAnswer => Some(&self.no_answer),
            Outcome::Busy => Some(&self.busy),
            Outcome::Voicemail => Some(&self.voicemail),
            Outcome::Failed => Some(&self.failed),
            Outcome::Completed | Outcome::Refused => None,
        }
    }

    /// Checks every rule; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (name, rule) in [
            ("no_answer", &self.no_answer),
            ("busy", &self.busy),
            ("voicemail", &self.voicemail),
            ("failed", &self.failed),
        ] {
            if !(rule.backoff.is_finite() && (1.0..=10.0).contains(&rule.backoff)) {
                return Err((
                    format!("retry_policy.{name}.backoff"),
                    "must be between 1 and 10".into(),
                ));
            }
            if rule.after_minutes.is_some_and(|m| m == 0 || m > 10_080) {
                return Err((
                    format!("retry_policy.{name}.after_minutes"),
                    "must be between 1 and 10080 (a week), or null to never retry".into(),
                ));
            }
        }
        Ok(())
    }
}

/// One allowed range of a day, local time, `HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    /// Start, `HH:MM`, included.
    pub start: String,
    /// End, `HH:MM`, excluded (`24:00` for midnight).
    pub end: String,
}

/// How a campaign says when it may call: a preset, or a custom weekly schedule with a holiday
/// calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CallingRulesSpec {
    /// `fr-consumer` or `us-tcpa`; excludes `schedule` and `holidays`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Per weekday (`monday` ... `sunday`), the allowed ranges; a missing day is closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<BTreeMap<String, Vec<TimeRange>>>,
    /// The holiday calendar of a custom schedule: `fr`, `fr-alsace-moselle`, `us-federal` or
    /// `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holidays: Option<String>,
}

/// The legal limits that come with a preset, beyond its calling hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LegalCaps {
    /// At most this many calls or attempts per person over [`CAP_WINDOW_DAYS`], across every
    /// campaign of the organisation.
    pub attempts_per_window: Option<u32>,
    /// No call for this many days after the person refused one.
    pub refusal_cooldown_days: Option<u32>,
    /// Prospecting needs the person's recorded, valid consent.
    pub prospecting_needs_consent: bool,
    /// A refusal puts the number on the organisation's do-not-call list.
    pub refusal_is_do_not_call: bool,
}

/// The period over which [`LegalCaps::attempts_per_window`] counts, in days.
pub const CAP_WINDOW_DAYS: i64 = 30;

/// A campaign's calling rules, checked: the window and the caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRules {
    /// When calls may be placed.
    pub window: CallingRules,
    /// The limits beyond the window.
    pub caps: LegalCaps,
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn parse_time(text: &str) -> Option<NaiveTime> {
    if text == "24:00" {
        return NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999);
    }
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

impl CallingRulesSpec {
    /// Checks the spec; the error is `(field, reason)`.
    pub fn compile(&self) -> Result<CampaignRules, (String, String)> {
        let field = |f: &str| format!("calling_rules.{f}");
        match (&self.preset, &self.schedule) {
            (Some(preset), None) => {
                if self.holidays.is_some() {
                    return Err((
                        field("holidays"),
                        "a preset has its own holiday calendar; give a custom schedule to choose one"
                            .into(),
                    ));
                }
                let window = CallingRules::preset(preset).ok_or_else(|| {
                    (
                        field("preset"),
                        format!("unknown preset {preset:?}: use fr-consumer or us-tcpa"),
                    )
                })?;
                let caps = match preset.as_str() {
                    "fr-consumer" => LegalCaps {
                        attempts_per_window: Some(4),
                        refusal_cooldown_days: Some(60),
                        prospecting_needs_consent: true,
                        refusal_is_do_not_call: false,
                    },
                    _ => LegalCaps {
                        refusal_is_do_not_call: true,
                        ..LegalCaps::default()
                    },
                };
                Ok(CampaignRules { window, caps })
            }
            (None, Some(days)) => {
                let mut ranges: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
                for (day, list) in days {
                    let index = WEEKDAYS
                        .iter()
                        .position(|d| d == &day.to_ascii_lowercase())
                        .ok_or_else(|| {
                            (
                                field("schedule"),
                                format!("unknown day {day:?}: use monday ... sunday"),
                            )
                        })?;
                    for range in list {
                        let (Some(start), Some(end)) =
                            (parse_time(&range.start), parse_time(&range.end))
                        else {
                            return Err((
                                field(&format!("schedule.{day}")),
                                format!(
                                    "{}-{} is not a range of HH:MM times",
                                    range.start, range.end
                                ),
                            ));
                        };
                        ranges[index].push((start, end));
                    }
                    ranges[index].sort();
                }
                let schedule =
                    WeeklySchedule::new(ranges).map_err(|reason| (field("schedule"), reason))?;
                let holidays = match &self.holidays {
                    None => HolidayCalendar::None,
                    Some(name) => HolidayCalendar::parse(name).ok_or_else(|| {
                        (
                            field("holidays"),
                            format!(
                                "unknown calendar {name:?}: use fr, fr-alsace-moselle, us-federal or none"
                            ),
                        )
                    })?,
                };
                Ok(CampaignRules {
                    window: CallingRules { schedule, holidays },
                    caps: LegalCaps::default(),
                })
            }
            (Some(_), Some(_)) => Err((
                field("preset"),
                "give either a preset or a custom schedule, not both".into(),
            )),
            (None, None) => Err((
                field("preset"),
                "give a preset (fr-consumer, us-tcpa) or a custom schedule".into(),
            )),
        }
    }
}

/// What storage knows about one person (a number of the organisation) when a call is
/// considered. Attempts are the organisation's, across campaigns, excluding the one being
/// placed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonFacts {
    /// The number is on the organisation's do-not-call list.
    pub do_not_call: bool,
    /// A valid consent is recorded now.
    pub consented: bool,
    /// When each attempt of the last [`CAP_WINDOW_DAYS`] days was planned, oldest first.
    pub recent_attempts: Vec<DateTime<Utc>>,
    /// When the person last refused a call.
    pub last_refusal: Option<DateTime<Utc>>,
    /// Another attempt to this person is planned or in progress.
    pub busy_elsewhere: bool,
}

/// Why a contact is not called at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The number is on the do-not-call list.
    DoNotCall,
    /// Prospecting under `fr-consumer` without the person's consent.
    NoConsent,
    /// The person refused a call within the cooldown.
    RefusedRecently,
    /// The calling window never opens before the campaign ends.
    NoWindowBeforeEnd,
}

impl SkipReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::DoNotCall => "do_not_call",
            SkipReason::NoConsent => "no_consent",
            SkipReason::RefusedRecently => "refused_recently",
            SkipReason::NoWindowBeforeEnd => "no_window_before_end",
        }
    }
}

/// What to do with a contact now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Call now.
    Dial,
    /// Not now; consider it again at this instant.
    WaitUntil(DateTime<Utc>),
    /// Never call this contact in this campaign.
    Skip(SkipReason),
    /// The campaign's attempts for this contact are used up.
    Exhausted,
}

/// How long to wait before looking again at a person another campaign is calling.
pub const BUSY_ELSEWHERE_RETRY: TimeDelta = TimeDelta::minutes(5);

/// The campaign's side of a decision.
#[derive(Debug, Clone, Copy)]
pub struct DialContext<'a> {
    /// The campaign's rules.
    pub rules: &'a CampaignRules,
    /// Why the campaign calls.
    pub purpose: Purpose,
    /// The campaign's attempts per contact.
    pub max_attempts: u32,
    /// No call at or after this instant.
    pub ends_at: Option<DateTime<Utc>>,
}

/// Whether the contact (in `tz`, with `attempts` attempts made in this campaign) may be
/// called at `now`. Every rule of the campaign and of the law is checked here.
pub fn decide(
    ctx: &DialContext<'_>,
    tz: Tz,
    attempts: u32,
    facts: &PersonFacts,
    now: DateTime<Utc>,
) -> Decision {
    let caps = &ctx.rules.caps;
    if facts.do_not_call {
        return Decision::Skip(SkipReason::DoNotCall);
    }
    if ctx.purpose == Purpose::Prospecting && caps.prospecting_needs_consent && !facts.consented {
        return Decision::Skip(SkipReason::NoConsent);
    }
    if let (Some(days), Some(refused)) = (caps.refusal_cooldown_days, facts.last_refusal)
        && now < refused + TimeDelta::days(i64::from(days))
    {
        return Decision::Skip(SkipReason::RefusedRecently);
    }
    if attempts >= ctx.max_attempts {
        return Decision::Exhausted;
    }
    let mut earliest = now;
    if let Some(cap) = caps.attempts_per_window {
        let window_start = now - TimeDelta::days(CAP_WINDOW_DAYS);
        let mut recent: Vec<DateTime<Utc>> = facts
            .recent_attempts
            .iter()
            .copied()
            .filter(|t| *t > window_start)
            .collect();
        recent.sort();
        if recent.len() >= cap as usize {
            // Free again once enough of them leave the window.
            let freeing = recent[recent.len() - cap as usize];
            earliest = earliest.max(freeing + TimeDelta::days(CAP_WINDOW_DAYS));
        }
    }
    if facts.busy_elsewhere {
        earliest = earliest.max(now + BUSY_ELSEWHERE_RETRY);
    }
    let Some(opening) = ctx.rules.window.next_opening(earliest, tz) else {
        return Decision::Skip(SkipReason::NoWindowBeforeEnd);
    };
    if ctx.ends_at.is_some_and(|end| opening >= end) {
        return Decision::Skip(SkipReason::NoWindowBeforeEnd);
    }
    if opening == now {
        Decision::Dial
    } else {
        Decision::WaitUntil(opening)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn fr() -> CampaignRules {
        CallingRulesSpec {
            preset: Some("fr-consumer".into()),
            schedule: None,
            holidays: None,
        }
        .compile()
        .unwrap()
    }

    fn ctx(rules: &CampaignRules, purpose: Purpose) -> DialContext<'_> {
        DialContext {
            rules,
            purpose,
            max_attempts: 3,
            ends_at: None,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    const PARIS: Tz = chrono_tz::Europe::Paris;

    #[test]
    fn a_contact_inside_its_window_is_dialled() {
        let rules = fr();
        // Tuesday 24 November 2026, 11:00 in Paris.
        let now = at("2026-11-24T10:00:00Z");
        let d = decide(
            &ctx(&rules, Purpose::Service),
            PARIS,
            0,
            &PersonFacts::default(),
            now,
        );
        assert_eq!(d, Decision::Dial);
    }

    #[test]
    fn a_contact_at_lunch_time_waits_for_two_o_clock() {
        let rules = fr();
        let now = at("2026-11-24T12:30:00Z"); // 13:30 in Paris
        let d = decide(
            &ctx(&rules, Purpose::Service),
            PARIS,
            0,
            &PersonFacts::default(),
            now,
        );
        assert_eq!(d, Decision::WaitUntil(at("2026-11-24T13:00:00Z")));
    }

    #[test]
    fn listed_numbers_and_prospects_without_consent_are_skipped() {
        let rules = fr();
        let now = at("2026-11-24T10:00:00Z");
        let listed = PersonFacts {
            do_not_call: true,
            consented: true,
            ..Default::default()
        };
        assert_eq!(
            decide(&ctx(&rules, Purpose::Service), PARIS, 0, &listed, now),
            Decision::Skip(SkipReason::DoNotCall)
        );
        let unconsented = PersonFacts::default();
        assert_eq!(
            decide(
                &ctx(&rules, Purpose::Prospecting),
                PARIS,
                0,
                &unconsented,
                now
            ),
            Decision::Skip(SkipReason::NoConsent)
        );
        assert_eq!(
            decide(&ctx(&rules, Purpose::Service), PARIS, 0, &unconsented, now),
            Decision::Dial
        );
    }

    #[test]
    fn a_fifth_attempt_within_thirty_days_waits_until_the_oldest_leaves_the_window() {
        let rules = fr();
        let now = at("2026-11-24T10:00:00Z");
        let facts = PersonFacts {
            recent_attempts: vec![
                at("2026-11-01T10:00:00Z"),
                at("2026-11-10T10:00:00Z"),
                at("2026-11-20T10:00:00Z"),
                at("2026-11-23T10:00:00Z"),
            ],
            ..Default::default()
        };
        let mut c = ctx(&rules, Purpose::Service);
        c.max_attempts = 10;
        // 1 December 10:00 UTC is 11:00 in Paris, a Tuesday: open.
        assert_eq!(
            decide(&c, PARIS, 0, &facts, now),
            Decision::WaitUntil(at("2026-12-01T10:00:00Z"))
        );
    }

    #[test]
    fn a_refusal_blocks_calls_for_sixty_days_under_fr_consumer_only() {
        let now = at("2026-11-24T10:00:00Z");
        let facts = PersonFacts {
            last_refusal: Some(at("2026-10-01T10:00:00Z")),
            ..Default::default()
        };
        let rules = fr();
        assert_eq!(
            decide(&ctx(&rules, Purpose::Service), PARIS, 0, &facts, now),
            Decision::Skip(SkipReason::RefusedRecently)
        );
        let later = at("2026-12-01T10:00:00Z");
        assert_eq!(
            decide(&ctx(&rules, Purpose::Service), PARIS, 0, &facts, later),
            Decision::Dial
        );
    }

    #[test]
    fn used_up_attempts_exhaust_the_contact() {
        let rules = fr();
        let now = at("2026-11-24T10:00:00Z");
        assert_eq!(
            decide(
                &ctx(&rules, Purpose::Service),
                PARIS,
                3,
                &PersonFacts::default(),
                now
            ),
            Decision::Exhausted
        );
    }

    #[test]
    fn no_opening_before_the_end_date_skips_the_contact() {
        let rules = fr();
        // Saturday: the next opening is Monday, after the end.
        let now = at("2026-11-28T10:00:00Z");
        let mut c = ctx(&rules, Purpose::Service);
        c.ends_at = Some(at("2026-11-29T10:00:00Z"));
        assert_eq!(
            decide(&c, PARIS, 0, &PersonFacts::default(), now),
            Decision::Skip(SkipReason::NoWindowBeforeEnd)
        );
    }

    #[test]
    fn custom_schedules_are_checked_and_compiled() {
        let spec: CallingRulesSpec = serde_json::from_value(serde_json::json!({
            "schedule": {"saturday": [{"start": "09:00", "end": "12:00"}]},
            "holidays": "us-federal"
        }))
        .unwrap();
        let rules = spec.compile().unwrap();
        assert_eq!(rules.caps, LegalCaps::default());
        let bad: CallingRulesSpec = serde_json::from_value(serde_json::json!({
            "schedule": {"saturday": [{"start": "12:00", "end": "09:00"}]}
        }))
        .unwrap();
        assert_eq!(bad.compile().unwrap_err().0, "calling_rules.schedule");
        let both = CallingRulesSpec {
            preset: Some("us-tcpa".into()),
            schedule: Some(BTreeMap::new()),
            holidays: None,
        };
        assert_eq!(both.compile().unwrap_err().0, "calling_rules.preset");
    }

    #[test]
    fn state_transitions_follow_the_life_cycle() {
        let now = at("2026-11-24T10:00:00Z");
        let later = at("2026-11-25T10:00:00Z");
        use CampaignAction as A;
        use CampaignState as S;
        assert_eq!(S::Draft.apply(A::Start, now, now), Ok(S::Running));
        assert_eq!(S::Draft.apply(A::Start, now, later), Ok(S::Scheduled));
        assert_eq!(S::Running.apply(A::Pause, now, now), Ok(S::Paused));
        assert_eq!(S::Paused.apply(A::Resume, now, now), Ok(S::Running));
        assert_eq!(S::Paused.apply(A::Cancel, now, now), Ok(S::Cancelled));
        assert!(S::Cancelled.apply(A::Resume, now, now).is_err());
        assert!(S::Running.apply(A::Start, now, now).is_err());
        assert!(S::Completed.apply(A::Cancel, now, now).is_err());
    }

    #[test]
    fn outcomes_are_read_from_vapi_ended_reasons() {
        assert_eq!(
            Outcome::from_ended_reason("customer-ended-call", false),
            Outcome::Completed
        );
        assert_eq!(
            Outcome::from_ended_reason("customer-ended-call", true),
            Outcome::Refused
        );
        assert_eq!(
            Outcome::from_ended_reason("customer-busy", false),
            Outcome::Busy
        );
        assert_eq!(
            Outcome::from_ended_reason("customer-did-not-answer", false),
            Outcome::NoAnswer
        );
        assert_eq!(
            Outcome::from_ended_reason("voicemail", true),
            Outcome::Voicemail
        );
        assert_eq!(
            Outcome::from_ended_reason("twilio-failed-to-connect-call", false),
            Outcome::Failed
        );
    }

    #[test]
    fn retry_delays_grow_by_the_backoff_and_stop_at_a_week() {
        let rule = RetryRule {
            after_minutes: Some(60),
            backoff: 2.0,
        };
        assert_eq!(rule.delay(1), Some(Duration::from_secs(3600)));
        assert_eq!(rule.delay(3), Some(Duration::from_secs(4 * 3600)));
        assert_eq!(rule.delay(40), Some(MAX_RETRY_DELAY));
        let never = RetryRule {
            after_minutes: None,
            backoff: 1.0,
        };
        assert_eq!(never.delay(1), None);
    }

    mod properties {
        use chrono::{Datelike, Timelike};
        use proptest::prelude::*;

        use super::*;

        const ZONES: [Tz; 4] = [
            chrono_tz::Europe::Paris,
            chrono_tz::America::New_York,
            chrono_tz::Pacific::Auckland,
            chrono_tz::Australia::Lord_Howe,
        ];

        /// Starts around daylight-saving changes and holidays of 2026 and 2027.
        const STARTS: [&str; 6] = [
            "2026-03-26T00:00:00Z", // Paris springs forward on the 29th
            "2026-10-22T00:00:00Z", // Paris falls back on the 25th, NY on 1 November
            "2026-04-02T00:00:00Z", // Easter Monday 6 April, Auckland falls back on the 5th
            "2026-09-24T00:00:00Z", // Auckland springs forward on the 27th
            "2026-12-22T00:00:00Z", // Christmas, New Year
            "2027-05-01T00:00:00Z", // 1 and 8 May, Ascension on the 6th
        ];

        fn range() -> impl Strategy<Value = TimeRange> {
            (0u32..23, 1u32..5).prop_map(|(h, len)| TimeRange {
                start: format!("{h:02}:00"),
                end: if h + len >= 24 {
                    "24:00".to_string()
                } else {
                    format!("{:02}:30", h + len)
                },
            })
        }

        fn spec() -> impl Strategy<Value = CallingRulesSpec> {
            let custom = (
                proptest::collection::vec(proptest::option::of(range()), 7),
                prop::sample::select(vec!["fr", "fr-alsace-moselle", "us-federal", "none"]),
            )
                .prop_map(|(days, holidays)| CallingRulesSpec {
                    preset: None,
                    schedule: Some(
                        WEEKDAYS
                            .iter()
                            .zip(days)
                            .filter_map(|(d, r)| r.map(|r| (d.to_string(), vec![r])))
                            .collect(),
                    ),
                    holidays: Some(holidays.to_string()),
                });
            prop_oneof![
                Just(CallingRulesSpec {
                    preset: Some("fr-consumer".into()),
                    schedule: None,
                    holidays: None
                }),
                Just(CallingRulesSpec {
                    preset: Some("us-tcpa".into()),
                    schedule: None,
                    holidays: None
                }),
                custom,
            ]
        }

        /// An independent reading of the rules: the local time and date of `at` in `tz`.
        fn allowed(
            spec: &CallingRulesSpec,
            rules: &CampaignRules,
            at: DateTime<Utc>,
            tz: Tz,
        ) -> bool {
            let local = at.with_timezone(&tz);
            let minutes = local.hour() * 60 + local.minute();
            let day = local.weekday().num_days_from_monday() as usize;
            let in_hours = match spec.preset.as_deref() {
                Some("fr-consumer") => {
                    day < 5 && ((600..780).contains(&minutes) || (840..1200).contains(&minutes))
                }
                Some("us-tcpa") => (480..1260).contains(&minutes),
                _ => spec.schedule.as_ref().is_some_and(|days| {
                    days.get(WEEKDAYS[day]).is_some_and(|ranges| {
                        ranges.iter().any(|r| {
                            let p = |t: &str| {
                                let (h, m) = t.split_once(':').unwrap();
                                h.parse::<u32>().unwrap() * 60 + m.parse::<u32>().unwrap()
                            };
                            p(&r.start) <= minutes && minutes < p(&r.end)
                        })
                    })
                }),
            };
            in_hours && !rules.window.holidays.is_holiday(local.date_naive())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(96))]

            /// A campaign simulated minute by minute (in 7-minute steps) for two weeks: no dial
            /// outside the window, none to a listed number, none without consent when it is
            /// needed, none past the campaign's or the law's caps, never two at once for one
            /// person.
            #[test]
            fn no_dial_ever_breaks_a_rule(
                spec in spec(),
                start in prop::sample::select(STARTS.to_vec()),
                people in proptest::collection::vec(
                    (0usize..4, any::<bool>(), any::<bool>(), 1u32..6, 0u64..u64::MAX), 1..6),
                purpose in prop_oneof![Just(Purpose::Service), Just(Purpose::Prospecting)],
                max_attempts in 1u32..8,
            ) {
                let rules = spec.compile().unwrap();
                let ctx = DialContext { rules: &rules, purpose, max_attempts, ends_at: None };
                let start: DateTime<Utc> = start.parse().unwrap();
                struct Person { tz: Tz, facts: PersonFacts, attempts: u32, busy_until: Option<DateTime<Utc>>, due: DateTime<Utc>, call_secs: i64, rng: u64, done: bool }
                let mut people: Vec<Person> = people.into_iter().map(|(z, dnc, consent, call_min, rng)| Person {
                    tz: ZONES[z],
                    facts: PersonFacts { do_not_call: dnc, consented: consent, ..Default::default() },
                    attempts: 0, busy_until: None, due: start, call_secs: i64::from(call_min) * 60, rng, done: false,
                }).collect();
                let mut now = start;
                while now < start + TimeDelta::days(14) {
                    for p in people.iter_mut() {
                        if let Some(until) = p.busy_until && now >= until {
                            p.busy_until = None;
                            p.facts.busy_elsewhere = false;
                            // Outcome: refusal one time in eight, else unanswered.
                            p.rng = p.rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                            if p.rng >> 61 == 0 {
                                p.facts.last_refusal = Some(now);
                                p.done = true;
                            } else {
                                p.due = now + TimeDelta::minutes(30);
                            }
                        }
                        if p.done || p.busy_until.is_some() || now < p.due {
                            continue;
                        }
                        match decide(&ctx, p.tz, p.attempts, &p.facts, now) {
                            Decision::Dial => {
                                prop_assert!(allowed(&spec, &rules, now, p.tz), "dialled at {now} in {}", p.tz);
                                prop_assert!(!p.facts.do_not_call);
                                prop_assert!(!(purpose == Purpose::Prospecting && rules.caps.prospecting_needs_consent && !p.facts.consented));
                                prop_assert!(p.attempts < max_attempts);
                                prop_assert!(!p.facts.busy_elsewhere);
                                if let Some(cap) = rules.caps.attempts_per_window {
                                    let recent = p.facts.recent_attempts.iter().filter(|t| **t > now - TimeDelta::days(CAP_WINDOW_DAYS)).count();
                                    prop_assert!(recent < cap as usize);
                                }
                                if let (Some(days), Some(r)) = (rules.caps.refusal_cooldown_days, p.facts.last_refusal) {
                                    prop_assert!(now >= r + TimeDelta::days(i64::from(days)));
                                }
                                p.attempts += 1;
                                p.facts.recent_attempts.push(now);
                                p.facts.busy_elsewhere = true;
                                p.busy_until = Some(now + TimeDelta::seconds(p.call_secs));
                            }
                            Decision::WaitUntil(at) => {
                                prop_assert!(at > now);
                                prop_assert!(rules.window.is_open(at, p.tz));
                                p.due = at;
                            }
                            Decision::Skip(_) | Decision::Exhausted => p.done = true,
                        }
                    }
                    now += TimeDelta::minutes(7);
                }
            }
        }
    }
}
