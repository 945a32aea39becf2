//! The filter language of lists, saved views and the API:
//! `state in (new, in_progress) and priority <= 2 and assignment_group = "Network"`.
//!
//! Parsed into a typed [`Expr`] — never spliced into SQL — with errors that name the character
//! position. Grammar (keywords case-insensitive):
//!
//! ```text
//! expr  := and ("or" and)*
//! and   := unary ("and" unary)*
//! unary := "not" unary | "(" expr ")" | cond
//! cond  := field op value | field ["not"] "in" "(" value ("," value)* ")" | field "is" ["not"] "empty"
//! op    := "=" | "!=" | "<" | "<=" | ">" | ">=" | "~"      (~ : contains, for text)
//! value := "quoted \"text\"" | 'quoted' | number | word      (a word: letters, digits, _ - . : @)
//! ```

use std::fmt;

/// The fields a filter may name, each with a type that decides its operators and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    State,
    Priority,
    Impact,
    Urgency,
    Category,
    HoldReason,
    /// By group name (or numeric id).
    AssignmentGroup,
    /// By user name or e-mail (or numeric id, or `me`).
    Assignee,
    Requester,
    /// By service name (or id).
    Service,
    /// By customer name (or id).
    Customer,
    Title,
    Number,
    /// An instant: RFC 3339, `YYYY-MM-DD`, or relative `-7d`, `-12h`, `-30m`.
    Created,
    Updated,
    Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// One of the kind's states.
    State,
    /// 1–5 (priority) or 1–3 (impact, urgency).
    Level(i64),
    /// Free text compared as text.
    Text,
    /// A reference: name, e-mail, id (or `me` for people).
    Ref,
    Instant,
}

impl Field {
    pub const ALL: [(&'static str, Field); 16] = [
        ("state", Field::State),
        ("priority", Field::Priority),
        ("impact", Field::Impact),
        ("urgency", Field::Urgency),
        ("category", Field::Category),
        ("hold_reason", Field::HoldReason),
        ("assignment_group", Field::AssignmentGroup),
        ("assignee", Field::Assignee),
        ("requester", Field::Requester),
        ("service", Field::Service),
        ("customer", Field::Customer),
        ("title", Field::Title),
        ("number", Field::Number),
        ("created", Field::Created),
        ("updated", Field::Updated),
        ("resolved", Field::Resolved),
    ];

    pub fn parse(s: &str) -> Option<Field> {
        Field::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, f)| *f)
    }

    pub fn name(self) -> &'static str {
        Field::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }

    pub fn ty(self) -> FieldType {
        match self {
            Field::State => FieldType::State,
            Field::Priority => FieldType::Level(5),
            Field::Impact | Field::Urgency => FieldType::Level(3),
            Field::Category | Field::HoldReason | Field::Title | Field::Number => FieldType::Text,
            Field::AssignmentGroup
            | Field::Assignee
            | Field::Requester
            | Field::Service
            | Field::Customer => FieldType::Ref,
            Field::Created | Field::Updated | Field::Resolved => FieldType::Instant,
        }
    }

    /// Fields that may be empty (`is empty`).
    pub fn optional(self) -> bool {
        !matches!(
            self,
            Field::State
                | Field::Priority
                | Field::Impact
                | Field::Urgency
                | Field::Title
                | Field::Number
                | Field::Created
                | Field::Updated
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
}

impl Op {
    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "LIKE",
        }
    }
}

/// A checked value, typed by its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Text(String),
    /// A reference by id.
    Id(i64),
    /// A reference by name (or e-mail for people).
    Name(String),
    /// The current user.
    Me,
    /// An instant, absolute (epoch ms) …
    At(i64),
    /// … or relative to now (ms, negative in the past).
    Ago(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: Field,
        op: Op,
        value: Value,
    },
    In {
        field: Field,
        values: Vec<Value>,
        negated: bool,
    },
    Empty {
        field: Field,
        negated: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct QueryError {
    /// 1-based character position.
    pub position: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) => write!(f, "`{w}`"),
            Tok::Str(s) => write!(f, "\"{s}\""),
            Tok::Op(o) => write!(f, "`{o}`"),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::Comma => f.write_str("`,`"),
        }
    }
}

/// Longest filter accepted, in characters.
pub const MAX_LEN: usize = 2_000;
/// Deepest nesting of parentheses and `not`.
const MAX_DEPTH: usize = 32;

fn err(position: usize, message: impl Into<String>) -> QueryError {
    QueryError {
        position,
        message: message.into(),
    }
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, QueryError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((pos, Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push((pos, Tok::RParen));
                i += 1;
            }
            ',' => {
                out.push((pos, Tok::Comma));
                i += 1;
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(err(
                                pos,
                                "unterminated text: close it with the same quote",
                            ));
                        }
                        Some('\\') if chars.get(i + 1).is_some() => {
                            s.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&q) if q == quote => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push((pos, Tok::Str(s)));
            }
            '=' => {
                out.push((pos, Tok::Op("=")));
                i += 1;
            }
            '~' => {
                out.push((pos, Tok::Op("~")));
                i += 1;
            }
            '!' | '<' | '>' => {
                let two = chars.get(i + 1) == Some(&'=');
                let op = match (c, two) {
                    ('!', true) => "!=",
                    ('<', true) => "<=",
                    ('>', true) => ">=",
                    ('<', false) if chars.get(i + 1) == Some(&'>') => {
                        i += 1;
                        "!="
                    }
                    ('<', false) => "<",
                    ('>', false) => ">",
                    _ => return Err(err(pos, "`!` must be followed by `=`")),
                };
                out.push((pos, Tok::Op(op)));
                i += if two { 2 } else { 1 };
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@' | '+') => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric()
                        || matches!(chars[i], '_' | '-' | '.' | ':' | '@' | '+'))
                {
                    i += 1;
                }
                out.push((pos, Tok::Word(chars[start..i].iter().collect())));
            }
            other => return Err(err(pos, format!("unexpected character `{other}`"))),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(_, t)| t)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |(p, _)| *p)
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn next(&mut self) -> Option<(usize, Tok)> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<(), QueryError> {
        let pos = self.pos();
        match self.next() {
            Some((_, t)) if t == want => Ok(()),
            Some((_, t)) => Err(err(pos, format!("expected {what}, found {t}"))),
            None => Err(err(pos, format!("expected {what} at the end"))),
        }
    }

    fn expr(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut parts = vec![self.and(depth)?];
        while self.keyword("or") {
            self.i += 1;
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut parts = vec![self.unary(depth)?];
        while self.keyword("and") {
            self.i += 1;
            parts.push(self.unary(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, QueryError> {
        if depth > MAX_DEPTH {
            return Err(err(self.pos(), "nested too deeply"));
        }
        if self.keyword("not") {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.i += 1;
            let e = self.expr(depth + 1)?;
            self.expect(Tok::RParen, "`)`")?;
            return Ok(e);
        }
        self.cond()
    }

    fn cond(&mut self) -> Result<Expr, QueryError> {
        let pos = self.pos();
        let field = match self.next() {
            Some((_, Tok::Word(w))) => Field::parse(&w).ok_or_else(|| {
                let names: Vec<&str> = Field::ALL.iter().map(|(n, _)| *n).collect();
                err(
                    pos,
                    format!("unknown field `{w}` (fields: {})", names.join(", ")),
                )
            })?,
            Some((_, t)) => return Err(err(pos, format!("expected a field name, found {t}"))),
            None => return Err(err(pos, "expected a condition at the end")),
        };
        let pos = self.pos();
        if self.keyword("is") {
            self.i += 1;
            let negated = self.keyword("not");
            if negated {
                self.i += 1;
            }
            let p = self.pos();
            if !self.keyword("empty") {
                return Err(err(p, "expected `empty` after `is`"));
            }
            self.i += 1;
            if !field.optional() {
                return Err(err(pos, format!("`{}` is never empty", field.name())));
            }
            return Ok(Expr::Empty { field, negated });
        }
        let negated_in = self.keyword("not");
        if negated_in {
            self.i += 1;
        }
        if self.keyword("in") {
            self.i += 1;
            self.expect(Tok::LParen, "`(` after `in`")?;
            let mut values = vec![self.value(field, Op::Eq)?];
            while self.peek() == Some(&Tok::Comma) {
                self.i += 1;
                values.push(self.value(field, Op::Eq)?);
            }
            self.expect(Tok::RParen, "`,` or `)`")?;
            return Ok(Expr::In {
                field,
                values,
                negated: negated_in,
            });
        }
        if negated_in {
            return Err(err(self.pos(), "expected `in` after `not`"));
        }
        let op = match self.next() {
            Some((_, Tok::Op(o))) => match o {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                _ => Op::Contains,
            },
            Some((_, t)) => {
                return Err(err(
                    pos,
                    format!(
                        "expected an operator (=, !=, <, <=, >, >=, ~, in, is) after `{}`, found {t}",
                        field.name()
                    ),
                ));
            }
            None => {
                return Err(err(
                    pos,
                    format!("expected an operator after `{}`", field.name()),
                ));
            }
        };
        let ordered = matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge);
        match field.ty() {
            FieldType::Level(_) | FieldType::Instant => {
                if op == Op::Contains {
                    return Err(err(
                        pos,
                        format!("`~` needs a text field, not `{}`", field.name()),
                    ));
                }
            }
            FieldType::Text => {
                if ordered {
                    return Err(err(
                        pos,
                        format!("`{}` is text: use =, != or ~", field.name()),
                    ));
                }
            }
            FieldType::State | FieldType::Ref => {
                if ordered || op == Op::Contains {
                    return Err(err(
                        pos,
                        format!("`{}` takes = or != (or in)", field.name()),
                    ));
                }
            }
        }
        let value = self.value(field, op)?;
        Ok(Expr::Cmp { field, op, value })
    }

    fn value(&mut self, field: Field, op: Op) -> Result<Value, QueryError> {
        let pos = self.pos();
        let (raw, quoted) = match self.next() {
            Some((_, Tok::Word(w))) => (w, false),
            Some((_, Tok::Str(s))) => (s, true),
            Some((_, t)) => {
                return Err(err(
                    pos,
                    format!("expected a value for `{}`, found {t}", field.name()),
                ));
            }
            None => {
                return Err(err(
                    pos,
                    format!("expected a value for `{}` at the end", field.name()),
                ));
            }
        };
        match field.ty() {
            FieldType::Level(max) => raw
                .parse::<i64>()
                .ok()
                .filter(|v| (1..=max).contains(v))
                .map(Value::Int)
                .ok_or_else(|| {
                    err(
                        pos,
                        format!("`{}` is a number from 1 to {max}", field.name()),
                    )
                }),
            FieldType::State | FieldType::Text => {
                if op == Op::Contains && raw.trim().is_empty() {
                    return Err(err(pos, "`~` needs some text"));
                }
                Ok(Value::Text(raw))
            }
            FieldType::Ref => {
                if !quoted && raw.eq_ignore_ascii_case("me") {
                    return Ok(Value::Me);
                }
                match raw.parse::<i64>() {
                    Ok(id) if !quoted => Ok(Value::Id(id)),
                    _ => Ok(Value::Name(raw)),
                }
            }
            FieldType::Instant => instant(&raw).ok_or_else(|| {
                err(
                    pos,
                    format!(
                        "`{}` takes an instant: RFC 3339, YYYY-MM-DD, or -7d / -12h / -30m",
                        field.name()
                    ),
                )
            }),
        }
    }
}

/// An absolute or relative instant.
fn instant(raw: &str) -> Option<Value> {
    if let Some(rel) = raw.strip_prefix('-') {
        let (n, unit) = rel.split_at(rel.len().checked_sub(1)?);
        let n: i64 = n.parse().ok()?;
        let ms = match unit {
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return None,
        };
        return Some(Value::Ago(-n.checked_mul(ms)?));
    }
    if let Ok(t) = raw.parse::<jiff::Timestamp>() {
        return Some(Value::At(t.as_millisecond()));
    }
    let d: jiff::civil::Date = raw.parse().ok()?;
    let t = jiff::tz::TimeZone::UTC
        .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
        .ok()?;
    Some(Value::At(t.as_millisecond()))
}

/// Parse a filter. `states` are the kind's states, to check `state` values against.
pub fn parse(src: &str, states: &[&str]) -> Result<Expr, QueryError> {
    let n = src.chars().count();
    if n > MAX_LEN {
        return Err(err(
            MAX_LEN,
            format!("a filter is at most {MAX_LEN} characters"),
        ));
    }
    let toks = lex(src)?;
    if toks.is_empty() {
        return Err(err(1, "the filter is empty"));
    }
    let mut p = Parser {
        toks,
        i: 0,
        end: n + 1,
    };
    let e = p.expr(0)?;
    if let Some((pos, t)) = p.toks.get(p.i) {
        return Err(err(
            *pos,
            format!("expected `and`, `or` or the end, found {t}"),
        ));
    }
    check_states(&e, states, &p.toks)?;
    Ok(e)
}

fn check_states(e: &Expr, states: &[&str], toks: &[(usize, Tok)]) -> Result<(), QueryError> {
    let bad = |v: &Value| match v {
        Value::Text(s) if !states.contains(&s.as_str()) => Some(s.clone()),
        _ => None,
    };
    let position_of = |s: &str| {
        toks.iter()
            .find(|(_, t)| matches!(t, Tok::Word(w) | Tok::Str(w) if w == s))
            .map_or(1, |(p, _)| *p)
    };
    let complain = |s: String| {
        err(
            position_of(&s),
            format!("unknown state `{s}` (states: {})", states.join(", ")),
        )
    };
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().try_for_each(|e| check_states(e, states, toks)),
        Expr::Not(e) => check_states(e, states, toks),
        Expr::Cmp {
            field: Field::State,
            value,
            ..
        } => bad(value).map_or(Ok(()), |s| Err(complain(s))),
        Expr::In {
            field: Field::State,
            values,
            ..
        } => values
            .iter()
            .find_map(bad)
            .map_or(Ok(()), |s| Err(complain(s))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STATES: &[&str] = &[
        "new",
        "in_progress",
        "on_hold",
        "resolved",
        "closed",
        "cancelled",
    ];

    fn p(s: &str) -> Result<Expr, QueryError> {
        parse(s, STATES)
    }

    #[test]
    fn the_issue_example() {
        let e =
            p(r#"state in (new, in_progress) and priority <= 2 and assignment_group = "Network""#)
                .expect("parses");
        assert_eq!(
            e,
            Expr::And(vec![
                Expr::In {
                    field: Field::State,
                    values: vec![Value::Text("new".into()), Value::Text("in_progress".into())],
                    negated: false
                },
                Expr::Cmp {
                    field: Field::Priority,
                    op: Op::Le,
                    value: Value::Int(2)
                },
                Expr::Cmp {
                    field: Field::AssignmentGroup,
                    op: Op::Eq,
                    value: Value::Name("Network".into())
                },
            ])
        );
    }

    #[test]
    fn precedence_not_parentheses_and_empties() {
        let e = p("not state = closed or priority = 1 and assignee is empty").expect("parses");
        assert_eq!(
            e,
            Expr::Or(vec![
                Expr::Not(Box::new(Expr::Cmp {
                    field: Field::State,
                    op: Op::Eq,
                    value: Value::Text("closed".into())
                })),
                Expr::And(vec![
                    Expr::Cmp {
                        field: Field::Priority,
                        op: Op::Eq,
                        value: Value::Int(1)
                    },
                    Expr::Empty {
                        field: Field::Assignee,
                        negated: false
                    },
                ]),
            ])
        );
        assert!(matches!(
            p("(priority = 1 or priority = 2) and assignee = me"),
            Ok(Expr::And(_))
        ));
        assert!(matches!(
            p("created > -7d and title ~ 'vpn'"),
            Ok(Expr::And(_))
        ));
        assert!(matches!(
            p("category not in (network, hardware)"),
            Ok(Expr::In { negated: true, .. })
        ));
        assert!(matches!(
            p("created >= 2026-11-01"),
            Ok(Expr::Cmp {
                value: Value::At(_),
                ..
            })
        ));
        assert!(matches!(
            p("assignee = 7"),
            Ok(Expr::Cmp {
                value: Value::Id(7),
                ..
            })
        ));
        assert!(matches!(
            p("assignee = \"7\""),
            Ok(Expr::Cmp {
                value: Value::Name(_),
                ..
            })
        ));
        assert!(p("AND_x = 1").is_err());
    }

    #[test]
    fn errors_name_the_position() {
        let e = p("state = new and priority <= 9").expect_err("range");
        assert_eq!(e.position, 29);
        let e = p("state = flying").expect_err("state");
        assert_eq!(e.position, 9);
        assert!(e.message.contains("in_progress"));
        let e = p("colour = red").expect_err("field");
        assert_eq!(e.position, 1);
        let e = p("state in (new, on_hold").expect_err("paren");
        assert_eq!(e.position, 23);
        let e = p("title = 'open").expect_err("quote");
        assert_eq!(e.position, 9);
        let e = p("priority ~ 1").expect_err("op");
        assert_eq!(e.position, 10);
        let e = p("state = new new").expect_err("trailing");
        assert_eq!(e.position, 13);
        let e = p("title < x").expect_err("ordered text");
        assert_eq!(e.position, 7);
        assert_eq!(p("").expect_err("empty").position, 1);
        assert_eq!(p("state = new and").expect_err("end").position, 16);
        let deep = format!("{}state = new{}", "(".repeat(40), ")".repeat(40));
        assert!(p(&deep).expect_err("deep").message.contains("deeply"));
        assert!(p(&"x".repeat(MAX_LEN + 1)).is_err());
    }

    proptest! {
        /// Any input is either parsed or refused with a position inside it (or just past it);
        /// the parser never panics.
        #[test]
        fn never_panics(s in "[a-z_ ()=<>!~,'\"0-9-]{0,60}") {
            match p(&s) {
                Ok(_) => {}
                Err(e) => prop_assert!(e.position >= 1 && e.position <= s.chars().count() + 1, "{e:?} for {s:?}"),
            }
        }
    }
}
