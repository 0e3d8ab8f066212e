//! Only the robot speaks for the robot: which DDS writers a state topic accepts samples from.
//!
//! Anyone on the network can publish on `/joint_states`. Each state topic therefore accepts one
//! publisher: by default the first writer whose sample passes every check (the robot's driver,
//! started before Reflex or with it), or writers listed by GUID (a participant's 12-byte prefix
//! or a writer's full 16 bytes, as `ros2 topic info -v` prints them). Samples from any other
//! writer are rejected and counted as foreign. A transport that cannot identify writers (r2r
//! 0.9 discards rmw's message info) admits every writer; SROS2 access control is the remedy
//! there (see the README).

use std::fmt;

/// A DDS writer's GUID: a 12-byte participant prefix and a 4-byte entity id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriterGuid(pub [u8; 16]);

impl WriterGuid {
    /// The participant part.
    pub fn participant(&self) -> [u8; 12] {
        let mut p = [0; 12];
        p.copy_from_slice(&self.0[..12]);
        p
    }
}

impl fmt::Display for WriterGuid {
    /// Dotted hex, as `ros2 topic info -v` prints a GID.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// One accepted identity: a whole participant, or one writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuidPattern {
    /// Every writer of the participant with this 12-byte prefix.
    Participant([u8; 12]),
    /// Exactly this writer.
    Writer([u8; 16]),
}

impl GuidPattern {
    /// Parses 24 (participant) or 32 (writer) hex digits, optionally separated by `.`, `:` or
    /// `-` (`01.0f.ab...`). `None` for anything else.
    pub fn parse(text: &str) -> Option<GuidPattern> {
        let hex: String = text
            .chars()
            .filter(|c| !matches!(c, '.' | ':' | '-' | ' '))
            .collect();
        if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<_>>()?;
        match (hex.len(), bytes.len()) {
            (24, 12) => Some(GuidPattern::Participant(bytes.try_into().ok()?)),
            (32, 16) => Some(GuidPattern::Writer(bytes.try_into().ok()?)),
            _ => None,
        }
    }

    fn matches(&self, w: &WriterGuid) -> bool {
        match self {
            GuidPattern::Participant(p) => w.participant() == *p,
            GuidPattern::Writer(g) => w.0 == *g,
        }
    }
}

/// Whose samples the state topics accept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AcceptFrom {
    /// The first writer whose sample passes every check, for the rest of the run.
    #[default]
    FirstWriter,
    /// Every writer (several drivers publish parts of the state on one topic).
    Any,
    /// Only these participants or writers.
    Listed(Vec<GuidPattern>),
}

/// The admission state of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherFilter {
    accept: AcceptFrom,
    locked: Option<WriterGuid>,
}

impl PublisherFilter {
    /// A filter for one topic.
    pub fn new(accept: AcceptFrom) -> Self {
        Self {
            accept,
            locked: None,
        }
    }

    /// Whether a sample from `writer` may be used (`None`: the transport does not say).
    pub fn admits(&self, writer: Option<WriterGuid>) -> bool {
        let Some(w) = writer else {
            return true;
        };
        match &self.accept {
            AcceptFrom::Any => true,
            AcceptFrom::FirstWriter => self.locked.is_none_or(|l| l == w),
            AcceptFrom::Listed(list) => list.iter().any(|p| p.matches(&w)),
        }
    }

    /// A sample from `writer` passed every check and was used: the first one locks the topic.
    pub fn accepted(&mut self, writer: Option<WriterGuid>) {
        if self.accept == AcceptFrom::FirstWriter && self.locked.is_none() {
            self.locked = writer;
        }
    }

    /// The writer this topic is locked to, if any.
    pub fn locked(&self) -> Option<WriterGuid> {
        self.locked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guid(p: u8, e: u8) -> WriterGuid {
        let mut g = [p; 16];
        g[12..].copy_from_slice(&[0, 0, e, 3]);
        WriterGuid(g)
    }

    #[test]
    fn the_first_accepted_writer_locks_the_topic() {
        let mut f = PublisherFilter::new(AcceptFrom::FirstWriter);
        assert!(f.admits(Some(guid(1, 1))) && f.admits(Some(guid(2, 1))));
        f.accepted(Some(guid(1, 1)));
        assert!(f.admits(Some(guid(1, 1))));
        assert!(!f.admits(Some(guid(2, 1))), "another participant");
        assert!(
            !f.admits(Some(guid(1, 2))),
            "another writer of the same participant"
        );
        assert!(f.admits(None), "a transport that cannot tell");
        assert_eq!(f.locked(), Some(guid(1, 1)));
    }

    #[test]
    fn listed_participants_and_writers_parse_and_match() {
        let p = GuidPattern::parse(&format!("{}", guid(7, 1))[..35]).unwrap();
        assert_eq!(p, GuidPattern::Participant([7; 12]));
        let w = GuidPattern::parse(&guid(7, 1).to_string()).unwrap();
        let f = PublisherFilter::new(AcceptFrom::Listed(vec![w]));
        assert!(f.admits(Some(guid(7, 1))) && !f.admits(Some(guid(7, 2))));
        let f = PublisherFilter::new(AcceptFrom::Listed(vec![p]));
        assert!(f.admits(Some(guid(7, 2))) && !f.admits(Some(guid(8, 1))));
        assert_eq!(GuidPattern::parse("01.0f.zz"), None);
        assert_eq!(GuidPattern::parse("0102"), None);
    }
}
