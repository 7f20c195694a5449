//! A transcript as the voice platform writes it: one turn per line, each opening with its
//! speaker (`AI:` or `User:` for Vapi; `Assistant:`, `Bot:`, `Agent:`, `Customer:`, `Caller:`
//! and `Client:` are read too). A line without a speaker continues the turn above it; a
//! transcript with no speaker at all is taken as the caller's words.

/// Who speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    /// The business's assistant.
    Assistant,
    /// The person on the line.
    Caller,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn<'a> {
    /// Who said it.
    pub speaker: Speaker,
    /// What was said, trimmed (a turn spread over several lines keeps its line breaks).
    pub text: &'a str,
}

const ASSISTANT_LABELS: [&str; 5] = ["ai", "assistant", "bot", "agent", "assistante"];
const CALLER_LABELS: [&str; 5] = ["user", "customer", "caller", "client", "cliente"];

/// The speaker a line opens with, and the rest of the line.
fn speaker_of(line: &str) -> Option<(Speaker, &str)> {
    let (label, rest) = line.split_once(':')?;
    let label = label.trim();
    if label.len() > 12 {
        return None;
    }
    let lower = label.to_ascii_lowercase();
    if ASSISTANT_LABELS.contains(&lower.as_str()) {
        Some((Speaker::Assistant, rest.trim()))
    } else if CALLER_LABELS.contains(&lower.as_str()) {
        Some((Speaker::Caller, rest.trim()))
    } else {
        None
    }
}

/// The turns of `transcript`, empty ones left out.
pub fn turns(transcript: &str) -> Vec<Turn<'_>> {
    let mut turns: Vec<Turn<'_>> = Vec::new();
    // A continuation line extends the open turn's slice up to the end of that line.
    let mut open: Option<(Speaker, usize, usize)> = None;
    let base = transcript.as_ptr() as usize;
    for line in transcript.lines() {
        let line_start = line.as_ptr() as usize - base;
        let line_end = line_start + line.len();
        match speaker_of(line) {
            Some((speaker, rest)) => {
                close(transcript, open.take(), &mut turns);
                let start = rest.as_ptr() as usize - base;
                open = Some((speaker, start, start + rest.len()));
            }
            None => match &mut open {
                Some((_, _, end)) => *end = line_end,
                None if !line.trim().is_empty() => {
                    open = Some((Speaker::Caller, line_start, line_end));
                }
                None => {}
            },
        }
    }
    close(transcript, open, &mut turns);
    turns
}

fn close<'a>(
    transcript: &'a str,
    open: Option<(Speaker, usize, usize)>,
    turns: &mut Vec<Turn<'a>>,
) {
    if let Some((speaker, start, end)) = open {
        let text = transcript[start..end].trim();
        if !text.is_empty() {
            turns.push(Turn { speaker, text });
        }
    }
}

/// `text` cut to at most `max_chars` characters (on a character boundary), and whether it was cut.
pub fn truncate(text: &str, max_chars: usize) -> (&str, bool) {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => (&text[..at], true),
        None => (text, false),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn vapi_lines_become_turns_and_continuations_join_them() {
        let t = turns("AI: Bonjour.\nUser: Je voudrais\nun rendez-vous.\n\nAI: Bien sûr.");
        assert_eq!(t.len(), 3);
        assert_eq!(t[1].speaker, Speaker::Caller);
        assert_eq!(t[1].text, "Je voudrais\nun rendez-vous.");
        assert_eq!(
            t[2],
            Turn {
                speaker: Speaker::Assistant,
                text: "Bien sûr."
            }
        );
    }

    #[test]
    fn a_transcript_without_speakers_is_the_callers() {
        let t = turns("hello, I'd like a table: four people");
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].speaker, Speaker::Caller);
        assert_eq!(t[0].text, "hello, I'd like a table: four people");
    }

    #[test]
    fn empty_turns_are_left_out() {
        assert!(turns("").is_empty());
        assert!(turns("User:\nAI:   \n").is_empty());
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("éàü", 2), ("éà", true));
        assert_eq!(truncate("abc", 3), ("abc", false));
    }
}
