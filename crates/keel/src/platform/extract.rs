//! Request extractors that turn axum's plain-text rejections into problem+json naming the field.

use crate::platform::error::AppError;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};

/// JSON body; a malformed body gets 400, a body of the wrong shape gets 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(field_error(&e.body_text())),
            Err(e) => Err(AppError::BadRequest(e.body_text())),
        }
    }
}

/// Query string; a bad parameter gets 400 naming it.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let text = e.body_text();
                let mut err = field_error(&text);
                if let AppError::Invalid { .. } = err {
                } else {
                    err = AppError::BadRequest(text);
                }
                Err(err)
            }
            Err(e) => Err(AppError::BadRequest(e.body_text())),
        }
    }
}

/// axum (through serde_path_to_error) reports `…: path.to.field: message`; pull the path out.
fn field_error(text: &str) -> AppError {
    let rest = text.split_once(": ").map(|(_, r)| r).unwrap_or(text);
    match rest.split_once(": ") {
        Some((path, msg)) if !path.contains(' ') && !path.is_empty() => {
            AppError::invalid(path, msg)
        }
        _ => {
            // serde's "missing field `x`" has no path prefix.
            if let Some(start) = rest.find("field `") {
                let tail = &rest[start + 7..];
                if let Some(end) = tail.find('`') {
                    return AppError::invalid(&tail[..end], rest);
                }
            }
            AppError::invalid("body", rest)
        }
    }
}

/// For PATCH bodies: distinguishes an absent field (`None`) from an explicit null (`Some(None)`).
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// For query parameters: an empty value (`?group=` from a form's "Any" option) means absent.
pub fn empty_as_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let raw: Option<String> = Option::deserialize(d)?;
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// A calendar day `YYYY-MM-DD` from a form or body field; "" is none.
pub fn day(field: &str, v: &str) -> crate::platform::error::AppResult<Option<String>> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse::<jiff::civil::Date>()
        .map(|d| Some(d.to_string()))
        .map_err(|_| crate::platform::error::AppError::invalid(field, "must be a date YYYY-MM-DD"))
}

/// A required calendar day `YYYY-MM-DD`.
pub fn required_day(field: &str, v: &str) -> crate::platform::error::AppResult<String> {
    day(field, v)?.ok_or_else(|| {
        crate::platform::error::AppError::invalid(field, "must be a date YYYY-MM-DD")
    })
}

/// A period as people write it (`2026`, `2026-Q3`, `2026-07`, `2026-01-01..2026-06-30`) as
/// epoch ms `[from, to)` with its text; `default` when the parameter is absent.
pub fn period_ms(
    field: &str,
    raw: Option<&str>,
    default: &str,
) -> crate::platform::error::AppResult<(i64, i64, String)> {
    let text = raw
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(default)
        .trim();
    let (a, b) = keel_core::period::parse(text)
        .map_err(|e| crate::platform::error::AppError::invalid(field, e))?;
    let end = b
        .checked_add(jiff::Span::new().days(1))
        .map_err(|e| crate::platform::error::AppError::invalid(field, e))?;
    Ok((
        crate::platform::db::day_start_ms(a),
        crate::platform::db::day_start_ms(end),
        text.to_string(),
    ))
}

/// Today's date in UTC.
pub fn today() -> jiff::civil::Date {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
}

/// This month as `YYYY-MM`.
pub fn this_month() -> String {
    today().strftime("%Y-%m").to_string()
}

/// `?format=csv` on a list: the whole list as CSV instead of JSON.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Format {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

impl Format {
    /// Whether CSV was asked for; any other value than json or csv is refused, naming it.
    pub fn csv(&self) -> crate::platform::error::AppResult<bool> {
        match self.format.as_deref() {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(other) => Err(crate::platform::error::AppError::invalid(
                "format",
                format!("`{other}` is not json or csv"),
            )),
        }
    }
}

/// A list answered as JSON, or as CSV when `?format=csv` asked for it.
pub fn list_response<T: serde::Serialize>(
    name: &str,
    f: &Format,
    items: Vec<T>,
) -> crate::platform::error::AppResult<axum::response::Response> {
    use axum::response::IntoResponse;
    Ok(if f.csv()? {
        crate::platform::csv::list_csv(name, &items)
    } else {
        axum::Json(items).into_response()
    })
}

/// An RFC 3339 instant or a `YYYY-MM-DD` date (UTC midnight), as epoch milliseconds.
pub fn instant(field: &str, v: &str) -> crate::platform::error::AppResult<i64> {
    if let Ok(t) = v.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    v.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| {
            jiff::tz::TimeZone::UTC
                .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                .ok()
        })
        .map(|t| t.as_millisecond())
        .ok_or_else(|| {
            crate::platform::error::AppError::invalid(
                field,
                format!("`{v}` is not an RFC 3339 instant or a YYYY-MM-DD date"),
            )
        })
}
