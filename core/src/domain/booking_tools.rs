//! The assistant's booking tools, as the voice platform calls them during a call:
//! `check_availability`, `book_appointment` and `cancel_appointment`. Their arguments come from
//! a language model and are outside input: each is parsed here into a typed request, and every
//! mistake becomes a sentence naming the argument and showing a good value, for the model to
//! correct itself. What the tools answer is phrased here too, in the assistant's language.
//!
//! Local dates and times (`2026-12-07T10:00`) are read in the business's time zone: a time the
//! clocks skip is refused, and one they repeat is its first occurrence. An instant with an
//! offset (`2026-12-07T10:00:00+01:00`) is taken as it is.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::availability::{MAX_DURATION_MINUTES, MIN_DURATION_MINUTES, Slot, day_start};
use super::phone::{CountryCode, PhoneNumber};
use super::sector::Language;

/// Lists free slots over a day or a range.
pub const CHECK_AVAILABILITY: &str = "check_availability";
/// Books a slot for the caller.
pub const BOOK_APPOINTMENT: &str = "book_appointment";
/// Cancels one of the caller's appointments.
pub const CANCEL_APPOINTMENT: &str = "cancel_appointment";
/// Every tool, in the order they are given to the assistant.
pub const TOOLS: [&str; 3] = [CHECK_AVAILABILITY, BOOK_APPOINTMENT, CANCEL_APPOINTMENT];

/// Longest caller name kept, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest service name kept, in characters.
pub const MAX_SERVICE_CHARS: usize = 100;
/// Slots listed by `check_availability`.
pub const LISTED_SLOTS: usize = 6;
/// Slots offered instead of one that cannot be booked.
pub const OFFERED_SLOTS: usize = 3;

/// What the tools need to know of the business and the call to read arguments.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// The business's time zone.
    pub time_zone: Tz,
    /// The assistant's language, for the answers.
    pub language: Language,
    /// The length of an appointment when the caller names none.
    pub default_duration: TimeDelta,
    /// How far ahead free slots are looked for.
    pub search_days: i64,
    /// The country national numbers are read in.
    pub country: Option<CountryCode>,
    /// The caller's number as the call shows it, if it does.
    pub caller_number: Option<PhoneNumber>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// A window to list free slots in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityQuery {
    /// Start of the window.
    pub from: DateTime<Utc>,
    /// End of the window (exclusive).
    pub to: DateTime<Utc>,
    /// The length of the slots.
    pub duration: TimeDelta,
    /// The local day asked for, when one was.
    pub day: Option<NaiveDate>,
}

/// A booking asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingRequest {
    /// Start.
    pub start: DateTime<Utc>,
    /// Its length.
    pub duration: TimeDelta,
    /// The caller's name.
    pub caller_name: String,
    /// The caller's number: given, or the call's.
    pub caller_number: PhoneNumber,
    /// The service, when named.
    pub service: Option<String>,
}

/// Which appointment to cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelRequest {
    /// The appointment with this reference (`appt_...`).
    Reference(String),
    /// The caller's upcoming appointment (the one starting at `start`, if given).
    Callers {
        /// The caller's number: given, or the call's.
        caller_number: PhoneNumber,
        /// The start of the appointment, to choose among several.
        start: Option<DateTime<Utc>>,
    },
}

/// A tool call, its arguments read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolRequest {
    /// `check_availability`.
    CheckAvailability(AvailabilityQuery),
    /// `book_appointment`.
    Book(BookingRequest),
    /// `cancel_appointment`.
    Cancel(CancelRequest),
}

/// Why a tool call cannot be run as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// No tool has this name.
    UnknownTool(String),
    /// The arguments are not a JSON object (nor a string holding one).
    NotAnObject,
    /// A required argument is missing.
    Missing(&'static str),
    /// A date that is not `YYYY-MM-DD`.
    BadDate(&'static str, String),
    /// A start that is not a date and time.
    BadStart(&'static str, String),
    /// A local time the clocks skip.
    NoSuchLocalTime(&'static str, String),
    /// A duration out of range or not a number.
    BadDuration(String),
    /// A window that ends before it starts.
    EmptyRange,
    /// A name or service that is empty, too long, or holds control characters.
    BadText(&'static str, usize),
    /// A phone number that is not one.
    BadNumber(String),
    /// Cancelling "the caller's appointment" on a call that shows no number, with none given.
    NoCallerNumber,
    /// A reference that is not one of ours.
    BadReference(String),
}

impl ToolError {
    /// The sentence the model reads, in `language`.
    pub fn message(&self, language: Language) -> String {
        let fr = language == Language::Fr;
        match self {
            ToolError::UnknownTool(name) => {
                let known = TOOLS.join(", ");
                if fr {
                    format!("l'outil « {name} » n'existe pas ; outils disponibles : {known}")
                } else {
                    format!("there is no tool named \"{name}\"; the tools are {known}")
                }
            }
            ToolError::NotAnObject => {
                if fr {
                    "les arguments doivent être un objet JSON".into()
                } else {
                    "the arguments must be a JSON object".into()
                }
            }
            ToolError::Missing(arg) => {
                if fr {
                    format!("l'argument {arg} est obligatoire")
                } else {
                    format!("the argument {arg} is required")
                }
            }
            ToolError::BadDate(arg, value) => {
                if fr {
                    format!("{arg} doit être une date comme 2026-12-07, pas « {value} »")
                } else {
                    format!("the {arg} must be a date like 2026-12-07, not \"{value}\"")
                }
            }
            ToolError::BadStart(arg, value) => {
                if fr {
                    format!(
                        "{arg} doit être une date et une heure comme 2026-12-07T10:00, pas « {value} »"
                    )
                } else {
                    format!(
                        "the {arg} must be a date and time like 2026-12-07T10:00, not \"{value}\""
                    )
                }
            }
            ToolError::NoSuchLocalTime(arg, value) => {
                if fr {
                    format!(
                        "{arg} : l'heure {value} n'existe pas ce jour-là (changement d'heure) ; choisissez-en une autre"
                    )
                } else {
                    format!(
                        "the {arg} {value} does not exist that day (the clocks change); choose another time"
                    )
                }
            }
            ToolError::BadDuration(value) => {
                if fr {
                    format!(
                        "duration_minutes doit être un nombre de minutes de {MIN_DURATION_MINUTES} à {MAX_DURATION_MINUTES}, pas « {value} »"
                    )
                } else {
                    format!(
                        "duration_minutes must be a number of minutes from {MIN_DURATION_MINUTES} to {MAX_DURATION_MINUTES}, not \"{value}\""
                    )
                }
            }
            ToolError::EmptyRange => {
                if fr {
                    "to doit être après from".into()
                } else {
                    "to must be after from".into()
                }
            }
            ToolError::BadText(arg, max) => {
                if fr {
                    format!("{arg} doit être un texte de 1 à {max} caractères")
                } else {
                    format!("the {arg} must be a text of 1 to {max} characters")
                }
            }
            ToolError::BadNumber(value) => {
                if fr {
                    format!(
                        "caller_number doit être un numéro de téléphone comme +33612345678, pas « {value} »"
                    )
                } else {
                    format!(
                        "caller_number must be a phone number like +33612345678, not \"{value}\""
                    )
                }
            }
            ToolError::NoCallerNumber => {
                if fr {
                    "le numéro de l'appelant est masqué : demandez la référence du rendez-vous (reference) ou son numéro (caller_number)".into()
                } else {
                    "the caller's number is withheld: ask for the appointment's reference (reference) or their number (caller_number)".into()
                }
            }
            ToolError::BadReference(value) => {
                if fr {
                    format!(
                        "reference doit être une référence de rendez-vous comme appt_01JXYZ, pas « {value} »"
                    )
                } else {
                    format!(
                        "the reference must be an appointment reference like appt_01JXYZ, not \"{value}\""
                    )
                }
            }
        }
    }
}

/// The arguments of a tool call as an object: Vapi sends an object, OpenAI-style calls a
/// string holding one; nothing (or `null`) is no arguments.
pub fn arguments_object(arguments: Option<&Value>) -> Result<Map<String, Value>, ToolError> {
    match arguments {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(Map::new()),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(ToolError::NotAnObject),
        },
        Some(_) => Err(ToolError::NotAnObject),
    }
}

/// Reads the arguments of tool `name`.
pub fn parse(
    name: &str,
    args: &Map<String, Value>,
    ctx: &ToolContext,
) -> Result<ToolRequest, ToolError> {
    match name {
        CHECK_AVAILABILITY => availability_query(args, ctx).map(ToolRequest::CheckAvailability),
        BOOK_APPOINTMENT => booking_request(args, ctx).map(ToolRequest::Book),
        CANCEL_APPOINTMENT => cancel_request(args, ctx).map(ToolRequest::Cancel),
        other => Err(ToolError::UnknownTool(shorten(other))),
    }
}

/// A value as the model gave it, shortened for an error message.
fn shorten(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(40).collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// An argument given as text (absent, `null` or blank: `None`); a number is read as its text.
fn text_arg(args: &Map<String, Value>, name: &str) -> Option<String> {
    match args.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(_) | Value::Object(_) => Some(args.get(name)?.to_string()),
        _ => None,
    }
}

fn duration_arg(args: &Map<String, Value>, ctx: &ToolContext) -> Result<TimeDelta, ToolError> {
    let Some(text) = text_arg(args, "duration_minutes") else {
        return Ok(ctx.default_duration);
    };
    let minutes = text
        .parse::<f64>()
        .ok()
        .filter(|m| {
            m.fract() == 0.0
                && (MIN_DURATION_MINUTES as f64..=MAX_DURATION_MINUTES as f64).contains(m)
        })
        .ok_or_else(|| ToolError::BadDuration(shorten(&text)))?;
    Ok(TimeDelta::minutes(minutes as i64))
}

fn date_arg(arg: &'static str, text: &str) -> Result<NaiveDate, ToolError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| ToolError::BadDate(arg, shorten(text)))
}

/// A date and time: an instant with an offset, or a local one read in `tz`.
fn instant_arg(arg: &'static str, text: &str, tz: Tz) -> Result<DateTime<Utc>, ToolError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .ok_or_else(|| ToolError::BadStart(arg, shorten(text)))?;
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ToolError::NoSuchLocalTime(arg, shorten(text)))
}

/// A window bound: a date stands for its local midnight (`end`: the next one).
fn bound_arg(
    args: &Map<String, Value>,
    arg: &'static str,
    tz: Tz,
    end: bool,
) -> Result<Option<DateTime<Utc>>, ToolError> {
    let Some(text) = text_arg(args, arg) else {
        return Ok(None);
    };
    if text.len() == 10 {
        let date = date_arg(arg, &text)?;
        let date = if end {
            date.succ_opt().unwrap_or(date)
        } else {
            date
        };
        return Ok(Some(day_start(tz, date)));
    }
    instant_arg(arg, &text, tz).map(Some)
}

fn availability_query(
    args: &Map<String, Value>,
    ctx: &ToolContext,
) -> Result<AvailabilityQuery, ToolError> {
    let tz = ctx.time_zone;
    let duration = duration_arg(args, ctx)?;
    let horizon = TimeDelta::days(ctx.search_days);
    if let Some(text) = text_arg(args, "date") {
        let day = date_arg("date", &text)?;
        let next = day.succ_opt().unwrap_or(day);
        return Ok(AvailabilityQuery {
            from: day_start(tz, day),
            to: day_start(tz, next),
            duration,
            day: Some(day),
        });
    }
    let from = bound_arg(args, "from", tz, false)?.unwrap_or(ctx.now);
    let to = bound_arg(args, "to", tz, true)?.unwrap_or(from + horizon);
    if to <= from {
        return Err(ToolError::EmptyRange);
    }
    // A longer window is cut to the search horizon: the first free slots are what is offered.
    Ok(AvailabilityQuery {
        from,
        to: to.min(from + horizon),
        duration,
        day: None,
    })
}

/// A free text of 1 to `max` characters without control characters.
fn name_arg(
    args: &Map<String, Value>,
    arg: &'static str,
    max: usize,
) -> Result<Option<String>, ToolError> {
    let Some(value) = args.get(arg) else {
        return Ok(None);
    };
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => {
            let s = s.trim();
            if s.chars().count() > max || s.chars().any(char::is_control) {
                Err(ToolError::BadText(arg, max))
            } else {
                Ok(Some(s.to_string()))
            }
        }
        _ => Err(ToolError::BadText(arg, max)),
    }
}

/// The caller's number: the one given, or the call's.
fn caller_number_arg(
    args: &Map<String, Value>,
    ctx: &ToolContext,
) -> Result<Option<PhoneNumber>, ToolError> {
    match text_arg(args, "caller_number") {
        Some(text) => PhoneNumber::parse(&text, ctx.country.clone())
            .map(Some)
            .map_err(|_| ToolError::BadNumber(shorten(&text))),
        None => Ok(ctx.caller_number.clone()),
    }
}

fn booking_request(
    args: &Map<String, Value>,
    ctx: &ToolContext,
) -> Result<BookingRequest, ToolError> {
    let start = text_arg(args, "start").ok_or(ToolError::Missing("start"))?;
    let start = instant_arg("start", &start, ctx.time_zone)?;
    let duration = duration_arg(args, ctx)?;
    let caller_name =
        name_arg(args, "caller_name", MAX_NAME_CHARS)?.ok_or(ToolError::Missing("caller_name"))?;
    let caller_number = caller_number_arg(args, ctx)?.ok_or(ToolError::Missing("caller_number"))?;
    let service = name_arg(args, "service", MAX_SERVICE_CHARS)?;
    Ok(BookingRequest {
        start,
        duration,
        caller_name,
        caller_number,
        service,
    })
}

fn cancel_request(
    args: &Map<String, Value>,
    ctx: &ToolContext,
) -> Result<CancelRequest, ToolError> {
    if let Some(reference) = text_arg(args, "reference") {
        let valid = reference.len() <= 64
            && reference.starts_with("appt_")
            && reference
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        return if valid {
            Ok(CancelRequest::Reference(reference))
        } else {
            Err(ToolError::BadReference(shorten(&reference)))
        };
    }
    let start = match text_arg(args, "start") {
        Some(text) => Some(instant_arg("start", &text, ctx.time_zone)?),
        None => None,
    };
    let caller_number = caller_number_arg(args, ctx)?.ok_or(ToolError::NoCallerNumber)?;
    Ok(CancelRequest::Callers {
        caller_number,
        start,
    })
}

/// The local `YYYY-MM-DDTHH:MM` of an instant: the form the tools take back.
pub fn local_start(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string()
}

const FR_DAYS: [&str; 7] = [
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
];
const FR_MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];
const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A local day as said: `mardi 8 décembre`, `Tuesday 8 December`.
pub fn say_day(date: NaiveDate, language: Language) -> String {
    let (days, months) = match language {
        Language::Fr => (FR_DAYS, FR_MONTHS),
        Language::En => (EN_DAYS, EN_MONTHS),
    };
    let weekday = days[date.weekday().num_days_from_monday() as usize];
    let month = months[date.month0() as usize];
    let day = date.day();
    match language {
        Language::Fr if day == 1 => format!("{weekday} 1er {month}"),
        _ => format!("{weekday} {day} {month}"),
    }
}

/// A local time as said: `10 h 30`, `10:30`.
fn say_time(t: DateTime<Tz>, language: Language) -> String {
    match language {
        Language::Fr if t.minute() == 0 => format!("{} h", t.hour()),
        Language::Fr => format!("{} h {:02}", t.hour(), t.minute()),
        Language::En => format!("{}:{:02}", t.hour(), t.minute()),
    }
}

/// An instant as said, with its day: `mardi 8 décembre à 10 h 30`.
pub fn say_when(t: DateTime<Utc>, tz: Tz, language: Language) -> String {
    let local = t.with_timezone(&tz);
    let at = match language {
        Language::Fr => "à",
        Language::En => "at",
    };
    format!(
        "{} {at} {}",
        say_day(local.date_naive(), language),
        say_time(local, language)
    )
}

/// Slots as a list: each said, with its `start` for booking.
fn say_slots(slots: &[Slot], tz: Tz, language: Language) -> String {
    slots
        .iter()
        .map(|s| {
            format!(
                "{} (start {})",
                say_when(s.start, tz, language),
                local_start(s.start, tz)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `check_availability` answers: the first free slots of the window (or, for a day
/// without any, the first ones after it, in `later`).
pub fn availability_answer(
    query: &AvailabilityQuery,
    slots: &[Slot],
    later: &[Slot],
    ctx: &ToolContext,
) -> String {
    let (tz, lang) = (ctx.time_zone, ctx.language);
    let minutes = query.duration.num_minutes();
    let fr = lang == Language::Fr;
    if !slots.is_empty() {
        let shown = &slots[..slots.len().min(LISTED_SLOTS)];
        let more = slots.len() - shown.len();
        let mut text = if fr {
            format!(
                "Créneaux libres de {minutes} minutes : {}.",
                say_slots(shown, tz, lang)
            )
        } else {
            format!(
                "Free {minutes}-minute slots: {}.",
                say_slots(shown, tz, lang)
            )
        };
        if more > 0 {
            text.push_str(&if fr {
                format!(" Et {more} autres plus tard.")
            } else {
                format!(" And {more} more later on.")
            });
        }
        return text;
    }
    let none = match (query.day, fr) {
        (Some(day), true) => format!("Aucun créneau libre le {}.", say_day(day, lang)),
        (Some(day), false) => format!("No free slot on {}.", say_day(day, lang)),
        (None, true) => "Aucun créneau libre sur cette période.".to_string(),
        (None, false) => "No free slot in that period.".to_string(),
    };
    with_offer(none, later, ctx)
}

/// `sentence`, then the slots offered instead (or that there are none).
fn with_offer(sentence: String, offered: &[Slot], ctx: &ToolContext) -> String {
    let (tz, lang) = (ctx.time_zone, ctx.language);
    let days = ctx.search_days;
    let shown = &offered[..offered.len().min(OFFERED_SLOTS)];
    match (shown.is_empty(), lang) {
        (true, Language::Fr) => {
            format!("{sentence} Aucun créneau libre dans les {days} prochains jours.")
        }
        (true, Language::En) => format!("{sentence} No free slot in the next {days} days."),
        (false, Language::Fr) => format!(
            "{sentence} Prochains créneaux libres : {}.",
            say_slots(shown, tz, lang)
        ),
        (false, Language::En) => format!(
            "{sentence} Next free slots: {}.",
            say_slots(shown, tz, lang)
        ),
    }
}

/// Why a booking was refused, for [`refused_answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Someone else holds the slot, or the calendar is busy.
    Taken,
    /// Outside the opening hours, or on a holiday or closed date.
    Closed,
    /// Too soon (or in the past).
    TooSoon {
        /// The business's minimum notice, in minutes.
        notice_minutes: i64,
    },
}

/// What `book_appointment` answers when it booked.
pub fn booked_answer(
    id: &str,
    start: DateTime<Utc>,
    minutes: i64,
    caller_name: &str,
    ctx: &ToolContext,
) -> String {
    let when = say_when(start, ctx.time_zone, ctx.language);
    match ctx.language {
        Language::Fr => format!(
            "Rendez-vous réservé le {when} ({minutes} minutes) au nom de {caller_name}. Référence : {id}."
        ),
        Language::En => {
            format!("Booked on {when} ({minutes} minutes) for {caller_name}. Reference: {id}.")
        }
    }
}

/// What `book_appointment` answers when it could not book, with other slots to offer.
pub fn refused_answer(refusal: Refusal, offered: &[Slot], ctx: &ToolContext) -> String {
    let fr = ctx.language == Language::Fr;
    let sentence = match refusal {
        Refusal::Taken if fr => "Ce créneau n'est plus libre.".to_string(),
        Refusal::Taken => "That slot is no longer free.".to_string(),
        Refusal::Closed if fr => "Ce créneau est en dehors des horaires d'ouverture.".to_string(),
        Refusal::Closed => "That slot is outside the opening hours.".to_string(),
        Refusal::TooSoon { notice_minutes } if fr => format!(
            "Ce créneau est trop proche : il faut réserver au moins {notice_minutes} minutes à l'avance."
        ),
        Refusal::TooSoon { notice_minutes } => format!(
            "That slot is too soon: appointments must be booked at least {notice_minutes} minutes ahead."
        ),
    };
    with_offer(sentence, offered, ctx)
}

/// What the tools answer when the assistant has no structured opening hours.
pub fn no_hours_message(language: Language) -> String {
    match language {
        Language::Fr => "les rendez-vous ne peuvent pas être pris par téléphone : les horaires d'ouverture ne sont pas renseignés ; proposez de prendre un message".into(),
        Language::En => "appointments cannot be booked by phone: the opening hours are not set; offer to take a message".into(),
    }
}

/// What `cancel_appointment` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelAnswer {
    /// Cancelled now (or before: the caller hears the same).
    Cancelled {
        /// Its start.
        start: DateTime<Utc>,
    },
    /// No upcoming appointment matches.
    NotFound,
    /// It has already taken place.
    Past {
        /// Its start.
        start: DateTime<Utc>,
    },
    /// Several upcoming appointments match: which one?
    Several(Vec<(String, DateTime<Utc>)>),
}

/// The sentence of a [`CancelAnswer`].
pub fn cancel_answer(answer: &CancelAnswer, ctx: &ToolContext) -> String {
    let (tz, lang) = (ctx.time_zone, ctx.language);
    let fr = lang == Language::Fr;
    match answer {
        CancelAnswer::Cancelled { start } if fr => {
            format!(
                "Le rendez-vous du {} est annulé.",
                say_when(*start, tz, lang)
            )
        }
        CancelAnswer::Cancelled { start } => {
            format!(
                "The appointment on {} is cancelled.",
                say_when(*start, tz, lang)
            )
        }
        CancelAnswer::NotFound if fr => "Aucun rendez-vous à venir ne correspond.".into(),
        CancelAnswer::NotFound => "No upcoming appointment matches.".into(),
        CancelAnswer::Past { start } if fr => format!(
            "Le rendez-vous du {} est déjà passé.",
            say_when(*start, tz, lang)
        ),
        CancelAnswer::Past { start } => format!(
            "The appointment on {} has already taken place.",
            say_when(*start, tz, lang)
        ),
        CancelAnswer::Several(list) => {
            let listed = list
                .iter()
                .map(|(id, start)| {
                    format!(
                        "{} (start {}, reference {id})",
                        say_when(*start, tz, lang),
                        local_start(*start, tz)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            if fr {
                format!(
                    "Plusieurs rendez-vous à venir : {listed}. Lequel annuler ? Rappelez l'outil avec son start ou sa reference."
                )
            } else {
                format!(
                    "Several upcoming appointments: {listed}. Which one? Call the tool again with its start or reference."
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono_tz::Europe::Paris;
    use serde_json::json;

    use super::*;

    fn ctx(language: Language) -> ToolContext {
        ToolContext {
            time_zone: Paris,
            language,
            default_duration: TimeDelta::minutes(30),
            search_days: 14,
            country: Some(CountryCode::parse("FR").unwrap()),
            caller_number: Some(PhoneNumber::parse("+33612345678", None).unwrap()),
            now: "2026-12-01T08:00:00Z".parse().unwrap(),
        }
    }

    fn args(value: Value) -> Map<String, Value> {
        arguments_object(Some(&value)).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn arguments_may_be_an_object_a_json_string_or_nothing() {
        assert_eq!(
            arguments_object(Some(&json!({"date": "2026-12-08"})))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            arguments_object(Some(&json!("{\"date\": \"2026-12-08\"}")))
                .unwrap()
                .len(),
            1
        );
        assert!(arguments_object(None).unwrap().is_empty());
        assert!(arguments_object(Some(&json!(""))).unwrap().is_empty());
        for bad in [json!([1]), json!(3), json!("not json"), json!("[1]")] {
            assert_eq!(
                arguments_object(Some(&bad)),
                Err(ToolError::NotAnObject),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_day_is_its_local_midnights_and_a_range_is_cut_to_the_horizon() {
        let c = ctx(Language::Fr);
        let ToolRequest::CheckAvailability(q) =
            parse(CHECK_AVAILABILITY, &args(json!({"date": "2026-12-08"})), &c).unwrap()
        else {
            panic!()
        };
        assert_eq!(q.from, utc("2026-12-07T23:00:00Z"));
        assert_eq!(q.to, utc("2026-12-08T23:00:00Z"));
        assert_eq!(q.duration, TimeDelta::minutes(30));
        assert_eq!(q.day, NaiveDate::from_ymd_opt(2026, 12, 8));

        let ToolRequest::CheckAvailability(q) = parse(
            CHECK_AVAILABILITY,
            &args(json!({"from": "2026-12-08", "to": "2027-03-01", "duration_minutes": "45"})),
            &c,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(q.from, utc("2026-12-07T23:00:00Z"));
        assert_eq!(q.to, q.from + TimeDelta::days(14));
        assert_eq!(q.duration, TimeDelta::minutes(45));

        let ToolRequest::CheckAvailability(q) =
            parse(CHECK_AVAILABILITY, &args(json!({})), &c).unwrap()
        else {
            panic!()
        };
        assert_eq!((q.from, q.to), (c.now, c.now + TimeDelta::days(14)));
    }

    #[test]
    fn nonsense_availability_arguments_name_the_argument() {
        let c = ctx(Language::En);
        for (a, expected) in [
            (
                json!({"date": "next tuesday"}),
                "the date must be a date like 2026-12-07",
            ),
            (
                json!({"duration_minutes": 2}),
                "duration_minutes must be a number of minutes from 5 to 480",
            ),
            (
                json!({"duration_minutes": "half an hour"}),
                "duration_minutes must be",
            ),
            (
                json!({"duration_minutes": 30.5}),
                "duration_minutes must be",
            ),
            (
                json!({"from": "2026-12-09", "to": "2026-12-08"}),
                "to must be after from",
            ),
            (
                json!({"from": "soon"}),
                "the from must be a date and time like 2026-12-07T10:00",
            ),
        ] {
            let error = parse(CHECK_AVAILABILITY, &args(a.clone()), &c).unwrap_err();
            assert!(
                error.message(Language::En).starts_with(expected),
                "{a}: {error:?}"
            );
        }
    }

    #[test]
    fn a_local_start_is_read_in_the_business_zone_and_the_callers_number_is_the_default() {
        let c = ctx(Language::Fr);
        let ToolRequest::Book(b) = parse(
            BOOK_APPOINTMENT,
            &args(
                json!({"start": "2026-12-08T10:00", "caller_name": " Camille Martin ",
                         "service": "coupe"}),
            ),
            &c,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(b.start, utc("2026-12-08T09:00:00Z"));
        assert_eq!(b.duration, TimeDelta::minutes(30));
        assert_eq!(b.caller_name, "Camille Martin");
        assert_eq!(b.caller_number.as_str(), "+33612345678");
        assert_eq!(b.service.as_deref(), Some("coupe"));

        // An offset is taken as given; a national number is read in the business's country.
        let ToolRequest::Book(b) = parse(
            BOOK_APPOINTMENT,
            &args(
                json!({"start": "2026-12-08T10:00:00+00:00", "caller_name": "Jo",
                         "caller_number": "06 11 22 33 44", "duration_minutes": 60}),
            ),
            &c,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(b.start, utc("2026-12-08T10:00:00Z"));
        assert_eq!(b.caller_number.as_str(), "+33611223344");
        assert_eq!(b.duration, TimeDelta::minutes(60));
    }

    #[test]
    fn nonsense_booking_arguments_get_a_sentence_naming_the_argument() {
        let c = ctx(Language::En);
        let base = json!({"start": "2026-12-08T10:00", "caller_name": "Jo"});
        let with = |k: &str, v: Value| {
            let mut a = base.clone();
            a[k] = v;
            a
        };
        let cases = [
            (
                json!({"caller_name": "Jo"}),
                "the argument start is required",
            ),
            (
                with("start", json!("tomorrow at ten")),
                "the start must be a date and time like 2026-12-07T10:00, not \"tomorrow at ten\"",
            ),
            (
                with("start", json!(42)),
                "the start must be a date and time like 2026-12-07T10:00",
            ),
            (
                with("start", json!("2027-03-28T02:30")),
                "the start 2027-03-28T02:30 does not exist that day",
            ),
            (
                json!({"start": "2026-12-08T10:00"}),
                "the argument caller_name is required",
            ),
            (
                with("caller_name", json!("x".repeat(101))),
                "the caller_name must be a text of 1 to 100 characters",
            ),
            (
                with("caller_name", json!(["Jo"])),
                "the caller_name must be a text",
            ),
            (
                with("caller_number", json!("call me")),
                "caller_number must be a phone number like +33612345678, not \"call me\"",
            ),
            (
                with("service", json!("a\u{0}b")),
                "the service must be a text of 1 to 100 characters",
            ),
        ];
        for (a, expected) in cases {
            let error = parse(BOOK_APPOINTMENT, &args(a.clone()), &c).unwrap_err();
            assert!(
                error.message(Language::En).starts_with(expected),
                "{a}: {}",
                error.message(Language::En)
            );
        }
        // Without the call's number, one must be given.
        let withheld = ToolContext {
            caller_number: None,
            ..c
        };
        assert_eq!(
            parse(BOOK_APPOINTMENT, &args(base), &withheld).unwrap_err(),
            ToolError::Missing("caller_number")
        );
        assert_eq!(
            parse("book_table", &Map::new(), &ctx(Language::Fr))
                .unwrap_err()
                .message(Language::Fr),
            "l'outil « book_table » n'existe pas ; outils disponibles : check_availability, book_appointment, cancel_appointment"
        );
    }

    #[test]
    fn a_cancellation_names_a_reference_or_falls_back_to_the_callers_bookings() {
        let c = ctx(Language::Fr);
        assert_eq!(
            parse(
                CANCEL_APPOINTMENT,
                &args(json!({"reference": "appt_01JXYZ"})),
                &c
            )
            .unwrap(),
            ToolRequest::Cancel(CancelRequest::Reference("appt_01JXYZ".into()))
        );
        assert_eq!(
            parse(
                CANCEL_APPOINTMENT,
                &args(json!({"start": "2026-12-08T10:00"})),
                &c
            )
            .unwrap(),
            ToolRequest::Cancel(CancelRequest::Callers {
                caller_number: c.caller_number.clone().unwrap(),
                start: Some(utc("2026-12-08T09:00:00Z")),
            })
        );
        assert!(matches!(
            parse(
                CANCEL_APPOINTMENT,
                &args(json!({"reference": "'; DROP"})),
                &c
            ),
            Err(ToolError::BadReference(_))
        ));
        let withheld = ToolContext {
            caller_number: None,
            ..c
        };
        assert_eq!(
            parse(CANCEL_APPOINTMENT, &Map::new(), &withheld),
            Err(ToolError::NoCallerNumber)
        );
    }

    fn slot(start: &str, minutes: i64) -> Slot {
        let start = utc(start);
        Slot {
            start,
            end: start + TimeDelta::minutes(minutes),
        }
    }

    #[test]
    fn answers_are_in_the_assistants_language_with_the_starts_to_book() {
        let slots = [
            slot("2026-12-08T08:00:00Z", 30),
            slot("2026-12-08T08:30:00Z", 30),
        ];
        let q = AvailabilityQuery {
            from: utc("2026-12-07T23:00:00Z"),
            to: utc("2026-12-08T23:00:00Z"),
            duration: TimeDelta::minutes(30),
            day: NaiveDate::from_ymd_opt(2026, 12, 8),
        };
        assert_eq!(
            availability_answer(&q, &slots, &[], &ctx(Language::Fr)),
            "Créneaux libres de 30 minutes : mardi 8 décembre à 9 h (start 2026-12-08T09:00), \
             mardi 8 décembre à 9 h 30 (start 2026-12-08T09:30)."
        );
        assert_eq!(
            availability_answer(&q, &[], &slots[1..], &ctx(Language::En)),
            "No free slot on Tuesday 8 December. Next free slots: Tuesday 8 December at 9:30 \
             (start 2026-12-08T09:30)."
        );
        assert_eq!(
            refused_answer(Refusal::Taken, &[], &ctx(Language::Fr)),
            "Ce créneau n'est plus libre. Aucun créneau libre dans les 14 prochains jours."
        );
        assert_eq!(
            refused_answer(
                Refusal::TooSoon { notice_minutes: 60 },
                &slots[..1],
                &ctx(Language::En)
            ),
            "That slot is too soon: appointments must be booked at least 60 minutes ahead. \
             Next free slots: Tuesday 8 December at 9:00 (start 2026-12-08T09:00)."
        );
        assert_eq!(
            booked_answer(
                "appt_1",
                utc("2027-01-01T09:15:00Z"),
                30,
                "Camille",
                &ctx(Language::Fr)
            ),
            "Rendez-vous réservé le vendredi 1er janvier à 10 h 15 (30 minutes) au nom de Camille. \
             Référence : appt_1."
        );
        let several = CancelAnswer::Several(vec![
            ("appt_1".into(), utc("2026-12-08T09:00:00Z")),
            ("appt_2".into(), utc("2026-12-09T09:00:00Z")),
        ]);
        let text = cancel_answer(&several, &ctx(Language::En));
        assert!(
            text.starts_with("Several upcoming appointments: Tuesday 8 December at 10:00 (start 2026-12-08T10:00, reference appt_1), Wednesday 9 December"),
            "{text}"
        );
        assert_eq!(
            cancel_answer(
                &CancelAnswer::Cancelled {
                    start: utc("2026-12-08T09:00:00Z")
                },
                &ctx(Language::Fr)
            ),
            "Le rendez-vous du mardi 8 décembre à 10 h est annulé."
        );
    }

    #[test]
    fn a_long_list_says_how_many_more_there_are() {
        let slots: Vec<Slot> = (0..10)
            .map(|i| {
                let start = utc("2026-12-08T08:00:00Z") + TimeDelta::minutes(15 * i);
                Slot {
                    start,
                    end: start + TimeDelta::minutes(30),
                }
            })
            .collect();
        let q = AvailabilityQuery {
            from: utc("2026-12-07T23:00:00Z"),
            to: utc("2026-12-08T23:00:00Z"),
            duration: TimeDelta::minutes(30),
            day: None,
        };
        let text = availability_answer(&q, &slots, &[], &ctx(Language::En));
        assert_eq!(text.matches("(start ").count(), LISTED_SLOTS, "{text}");
        assert!(text.ends_with("And 4 more later on."), "{text}");
    }
}
