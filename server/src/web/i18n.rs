//! The console's words in Kyrgyz, Russian and English. One struct, one constant per language:
//! a missing translation is a compile error, not a blank button.

use sync_protocol::form::Labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ky,
    Ru,
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Ky, Lang::Ru, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ky => "ky",
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        Self::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The first of ours an `Accept-Language` header names, by its order (weights are rarely
    /// anything but descending).
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        header
            .split(',')
            .filter_map(|part| part.split(';').next())
            .map(|tag| tag.trim().to_ascii_lowercase())
            .find_map(|tag| Lang::parse(tag.split('-').next().unwrap_or("")))
    }

    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Ky => "Кыргызча",
            Lang::Ru => "Русский",
            Lang::En => "English",
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Ky => &KY,
            Lang::Ru => &RU,
            Lang::En => &EN,
        }
    }

    pub fn pick(self, labels: &Labels) -> String {
        match self {
            Lang::Ky => labels.ky.clone(),
            Lang::Ru => labels.ru.clone(),
            Lang::En => labels.en.clone(),
        }
    }

    /// A stored name in this language (facilities and territories keep three).
    pub fn name<'a>(self, ky: &'a str, ru: &'a str, en: &'a str) -> &'a str {
        let chosen = match self {
            Lang::Ky => ky,
            Lang::Ru => ru,
            Lang::En => en,
        };
        if chosen.is_empty() { en } else { chosen }
    }
}

pub struct Texts {
    pub app_title: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub login: &'static str,
    pub password: &'static str,
    pub bad_credentials: &'static str,
    pub too_many_attempts: &'static str,
    pub form_expired: &'static str,
    pub signed_in_as: &'static str,
    pub queue_title: &'static str,
    pub municipality: &'static str,
    pub form: &'static str,
    pub facility: &'static str,
    pub village: &'static str,
    pub member: &'static str,
    pub status: &'static str,
    pub flags: &'static str,
    pub captured_from: &'static str,
    pub captured_to: &'static str,
    pub sort: &'static str,
    pub apply: &'static str,
    pub any: &'static str,
    pub to_review: &'static str,
    pub all_statuses: &'static str,
    pub received: &'static str,
    pub has_issues: &'static str,
    pub approved: &'static str,
    pub rejected: &'static str,
    pub edited_after_review: &'static str,
    pub flagged_any: &'static str,
    pub flagged_none: &'static str,
    pub flag_no_position: &'static str,
    pub flag_low_accuracy: &'static str,
    pub flag_outside_boundary: &'static str,
    pub flag_far_from_facility: &'static str,
    pub flag_photo_position_mismatch: &'static str,
    pub flag_photo_time_mismatch: &'static str,
    pub flag_implausible_capture_time: &'static str,
    pub sort_oldest: &'static str,
    pub sort_newest: &'static str,
    pub sort_flags: &'static str,
    pub captured_at: &'static str,
    pub received_at: &'static str,
    pub waiting: &'static str,
    pub nothing_here: &'static str,
    pub page: &'static str,
    pub of: &'static str,
    pub previous: &'static str,
    pub next: &'static str,
    pub bulk_approve: &'static str,
    pub bulk_hint: &'static str,
    pub bulk_done: &'static str,
    pub keys_queue: &'static str,
    pub keys_submission: &'static str,
    pub answers: &'static str,
    pub question: &'static str,
    pub answer: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub photos: &'static str,
    pub photo_pending: &'static str,
    pub original: &'static str,
    pub no_photos: &'static str,
    pub map: &'static str,
    pub no_position: &'static str,
    pub reported_position: &'static str,
    pub accuracy: &'static str,
    pub no_flags: &'static str,
    pub measured: &'static str,
    pub threshold: &'static str,
    pub history: &'static str,
    pub when: &'static str,
    pub who: &'static str,
    pub what: &'static str,
    pub deleted: &'static str,
    pub restored: &'static str,
    pub decisions: &'static str,
    pub comments: &'static str,
    pub no_comments: &'static str,
    pub add_comment: &'static str,
    pub comment: &'static str,
    pub approve: &'static str,
    pub send_back: &'static str,
    pub reject: &'static str,
    pub comment_needed: &'static str,
    pub decision_saved: &'static str,
    pub comment_saved: &'static str,
    pub changed_meanwhile: &'static str,
    pub deleted_notice: &'static str,
    pub back_to_queue: &'static str,
    pub version: &'static str,
    pub judged_other_version: &'static str,
    pub read_only_notice: &'static str,
    pub forbidden: &'static str,
    pub not_found: &'static str,
    pub server_error: &'static str,
    pub language: &'static str,
}

impl Texts {
    pub fn status(&self, status: &str) -> &'static str {
        match status {
            "received" => self.received,
            "has_issues" => self.has_issues,
            "approved" => self.approved,
            "rejected" => self.rejected,
            "edited_after_review" => self.edited_after_review,
            _ => self.any,
        }
    }

    pub fn flag(&self, kind: &str) -> &'static str {
        match kind {
            "no_position" => self.flag_no_position,
            "low_accuracy" => self.flag_low_accuracy,
            "outside_boundary" => self.flag_outside_boundary,
            "far_from_facility" => self.flag_far_from_facility,
            "photo_position_mismatch" => self.flag_photo_position_mismatch,
            "photo_time_mismatch" => self.flag_photo_time_mismatch,
            "implausible_capture_time" => self.flag_implausible_capture_time,
            _ => self.flags,
        }
    }
}

pub static EN: Texts = Texts {
    app_title: "JMET review",
    sign_in: "Sign in",
    sign_out: "Sign out",
    login: "Login",
    password: "Password",
    bad_credentials: "Unknown login or wrong password.",
    too_many_attempts: "Too many failed sign-ins. Wait a few minutes and try again.",
    form_expired: "This form has expired. Please try again.",
    signed_in_as: "Signed in as",
    queue_title: "Review queue",
    municipality: "Municipality",
    form: "Form",
    facility: "Facility",
    village: "Village",
    member: "Member",
    status: "Status",
    flags: "Flags",
    captured_from: "Captured from",
    captured_to: "Captured to",
    sort: "Sort",
    apply: "Apply",
    any: "Any",
    to_review: "To review",
    all_statuses: "All",
    received: "Received",
    has_issues: "Sent back",
    approved: "Approved",
    rejected: "Rejected",
    edited_after_review: "Edited after review",
    flagged_any: "With flags",
    flagged_none: "Without flags",
    flag_no_position: "No position",
    flag_low_accuracy: "Low GPS accuracy",
    flag_outside_boundary: "Outside the municipality",
    flag_far_from_facility: "Far from the facility",
    flag_photo_position_mismatch: "Photo taken elsewhere",
    flag_photo_time_mismatch: "Photo taken at another time",
    flag_implausible_capture_time: "Implausible capture time",
    sort_oldest: "Waiting longest",
    sort_newest: "Newest",
    sort_flags: "Most flags",
    captured_at: "Captured",
    received_at: "Received",
    waiting: "Waiting",
    nothing_here: "Nothing matches these filters.",
    page: "Page",
    of: "of",
    previous: "Previous",
    next: "Next",
    bulk_approve: "Approve selected",
    bulk_hint: "Only submissions without flags can be approved together.",
    bulk_done: "approved",
    keys_queue: "Keys: j / k move, Enter opens, x selects, a approves the selected.",
    keys_submission: "Keys: a approve, s send back, r reject, n next, p previous, q queue.",
    answers: "Answers",
    question: "Question",
    answer: "Answer",
    yes: "Yes",
    no: "No",
    photos: "Photos",
    photo_pending: "Photo not uploaded yet",
    original: "original",
    no_photos: "No photos.",
    map: "Map",
    no_position: "No position was reported.",
    reported_position: "Reported position",
    accuracy: "accuracy",
    no_flags: "No flags.",
    measured: "Measured",
    threshold: "Threshold",
    history: "History",
    when: "When",
    who: "Who",
    what: "What changed",
    deleted: "deleted",
    restored: "restored",
    decisions: "Decisions",
    comments: "Comments",
    no_comments: "No comments yet.",
    add_comment: "Add comment",
    comment: "Comment",
    approve: "Approve",
    send_back: "Send back",
    reject: "Reject",
    comment_needed: "Say what to fix: sending back needs a comment.",
    decision_saved: "Decision saved.",
    comment_saved: "Comment sent to the team.",
    changed_meanwhile: "The submission changed while you were reading it. Look again before deciding.",
    deleted_notice: "This submission was deleted by its team.",
    back_to_queue: "Back to the queue",
    version: "Version",
    judged_other_version: "judged an earlier version",
    read_only_notice: "You can read this submission but not review it.",
    forbidden: "You may not see this.",
    not_found: "Not found.",
    server_error: "Something went wrong on the server. Try again.",
    language: "Language",
};

pub use super::i18n_ky::KY;
pub use super::i18n_ru::RU;
